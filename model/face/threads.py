"""One torch thread per fit, and clips fitted side by side: what uses a CPU's cores.

A clip's fit is too small to gain from torch's own threads (636 frames/s on one thread, 686 on
two, `bench.fitting`), and fits side by side on torch's default count would oversubscribe the
cores (each fit's OpenMP team as large as the machine).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

_lock = threading.Lock()
_users = 0
_before = 1


@contextmanager
def single_threaded_torch() -> Iterator[None]:
    """Torch on one thread while any caller is inside; its own count restored after the last.

    Torch's count is process-wide and threads started inside take it, so a thread pool made
    inside runs one thread per worker; concurrent callers (several fitting batches of one flow)
    share the setting, and the last one out restores it.
    """
    global _users, _before
    with _lock:
        if _users == 0:
            _before = torch.get_num_threads()
            torch.set_num_threads(1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                torch.set_num_threads(_before)
