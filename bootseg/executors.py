"""Work split for a ``concurrent.futures.Executor``: how many workers it has, the batches to send them, and one
function or method run over many items in those batches.

Every ``executor.map`` call gets finite sequences (one copy of a shared argument per task, never an endless
``itertools.repeat``): Dask's executor takes the ``len()`` of each, others make a list of each."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from typing import Any, TypeVar

__all__ = [
    "batches",
    "map_batches",
    "map_method",
    "refuse_forked_pool",
    "workers",
]

T = TypeVar("T")


def workers(executor: Executor) -> int:
    """The executor's worker count where it says: the pool size of a process or thread pool, the worker threads
    of a Dask cluster for ``client.get_executor()`` (asked of its scheduler); else this machine's cores.

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> with ThreadPoolExecutor(3) as pool:
    ...     workers(pool)
    3
    """
    count = getattr(executor, "_max_workers", None)  # ProcessPoolExecutor, ThreadPoolExecutor
    if not isinstance(count, int):
        count = _dask_threads(executor)
    return count if isinstance(count, int) and count > 0 else os.cpu_count() or 1


def _dask_threads(executor: Executor) -> int | None:
    """The worker threads of the cluster behind a ``distributed`` ``ClientExecutor`` (which keeps its client
    as ``_client``), or None for any other executor or when the scheduler cannot say."""
    nthreads = getattr(getattr(executor, "_client", None), "nthreads", None)
    if not callable(nthreads):
        return None
    try:
        return sum(int(count) for count in nthreads().values())
    except Exception:  # a closed client or an unreachable scheduler: fall back to the cores
        return None


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
    done = map_batches(executor, _call_each, items, target, method)
    return [value for batch in done for value in batch]


def map_batches(executor: Executor, function: Callable[..., T], items: Sequence[Any], *shared: Any) -> Iterator[T]:
    """``function(*shared, batch)`` for each of :func:`batches` of ``items``, one result per batch, in order (as
    they arrive). ``function`` must be defined at module level for a process pool or a cluster to pickle it.

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> with ThreadPoolExecutor(2) as pool:
    ...     list(map_batches(pool, lambda label, batch: f"{label}{len(batch)}", list(range(20)), "n"))
    ['n3', 'n3', 'n3', 'n3', 'n3', 'n3', 'n2']
    """
    parts = batches(items, executor)
    return executor.map(function, *([value] * len(parts) for value in shared), parts)


def _call_each(target: Any, method: str, items: list[Any]) -> list[Any]:
    return [getattr(target, method)(item) for item in items]


def refuse_forked_pool(executor: Executor, what: str) -> None:
    """Refuse a process pool that starts its workers with ``fork`` for PyTorch work: a network in a worker forked
    from a process whose PyTorch threads have run can hang forever. ``what`` begins the message.

    >>> from concurrent.futures import ThreadPoolExecutor
    >>> refuse_forked_pool(ThreadPoolExecutor(1), "the stage is a network, and")  # threads are fine
    """
    from concurrent.futures import ProcessPoolExecutor

    context = getattr(executor, "_mp_context", None)
    if isinstance(executor, ProcessPoolExecutor) and context is not None and context.get_start_method() == "fork":
        raise ValueError(
            f"{what} PyTorch in a worker process started with 'fork' can hang; create the pool with "
            "ProcessPoolExecutor(mp_context=multiprocessing.get_context('forkserver')) (or 'spawn')"
        )
