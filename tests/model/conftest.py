"""Model tests solve small problems: one torch thread, so they stay quick on a shared machine.

With more OpenMP threads than free cores, small tensor ops spend most of their time
spin-waiting (measured: 5-10x slower tests under a load of 6 on 2 cores).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
