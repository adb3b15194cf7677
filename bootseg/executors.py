"""Work split for a ``concurrent.futures.Executor``: how many workers it has, the batches to send them, and one
method of one object run over many items in those batches."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Executor
from itertools import repeat
from typing import Any, TypeVar

__all__ = ["batches", "map_method", "workers"]

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


def map_method(executor: Executor, target: Any, method: str, items: Sequence[Any]) -> list[Any]:
    """``getattr(target, method)(item)`` for every item, in order, on :func:`batches` of items in the executor's
    workers. ``target`` is pickled with each batch for a process pool (a worker's changes to it are lost), and
    shared by the threads of a thread pool (so the method must not change it).

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> with ThreadPoolExecutor(2) as pool:
    ...     map_method(pool, "-", "join", ["ab", "cd", "ef"])
    ['a-b', 'c-d', 'e-f']
    """
    done = executor.map(_call_each, repeat(target), repeat(method), batches(items, executor))
    return [value for batch in done for value in batch]


def _call_each(target: Any, method: str, items: list[Any]) -> list[Any]:
    return [getattr(target, method)(item) for item in items]
