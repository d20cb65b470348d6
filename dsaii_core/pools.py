"""Pools of worker processes on this machine: started with 'spawn' and never re-running the parent's script."""

from __future__ import annotations

import multiprocessing
import sys
import types
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterator


@contextmanager
def process_pool(workers: int, initializer: Callable | None = None,
                 initargs: tuple = ()) -> Iterator[ProcessPoolExecutor]:
    """A ProcessPoolExecutor of `workers` spawned processes (fork would copy this process's threads and locks).

    A spawned process first re-imports the parent's main script; our workers need none of it, and under
    Streamlit (its AppTest leaves a page script as `__main__`) that would run a page again, or fail. So the
    parent's `__main__` is hidden while the pool lives, and the workers start from a blank one.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=initializer,
                                 initargs=initargs) as pool:
            yield pool
    finally:
        sys.modules["__main__"] = main
