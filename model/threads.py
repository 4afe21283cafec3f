"""Torch on one thread for work too small to split, without losing the process's own count.

A clip's fit gains little from torch's threads (636 frames/s on one thread, 686 on two,
`bench.fitting`), so the fitting stage fits clips side by side, one thread each; Silero steps
through 32 ms chunks, where a second thread only spins. Torch's thread count is process-wide:
every caller sets and restores it through here, so concurrent callers cannot leave it at one.
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
    inside runs one thread per worker; concurrent callers (several fitting batches, Silero in
    an audio batch) share the setting, and the last one out restores it.
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
