"""Work split for a ``concurrent.futures.Executor``: how many workers it has and the batches to send them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TypeVar

__all__ = ["batches", "workers"]

T = TypeVar("T")


def workers(executor: Executor) -> int:
    """The executor's worker count where it says (process and thread pools), else this machine's cores.

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> with ThreadPoolExecutor(3) as pool:
    ...     workers(pool)
    3
    """
    count = getattr(executor, "_max_workers", None)  # ProcessPoolExecutor, ThreadPoolExecutor
    return count if isinstance(count, int) and count > 0 else os.cpu_count() or 1


def batches(items: Sequence[T], executor: Executor) -> list[list[T]]:
    """``items`` in order, in about four batches per worker: few enough that pickling is cheap, enough that the
    workers stay busy.

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> with ThreadPoolExecutor(2) as pool:
    ...     [len(batch) for batch in batches(list(range(20)), pool)]
    [3, 3, 3, 3, 3, 3, 2]
    """
    size = max(1, -(-len(items) // (4 * workers(executor))))
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
