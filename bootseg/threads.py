"""How many CPU threads PyTorch should use: the cores this process may use, less those others keep busy now.

PyTorch starts one intra-op thread per core it sees. On a machine where other processes hold some of those cores
(a shared server, a laptop, a CI runner), the threads that find no free core wait for the slowest one, and a
network trains several times slower than with fewer threads. This module counts the cores this process may use
(its affinity mask and its cgroup's CPU quota), measures how much of them other processes use over a short window
(``/proc/stat``), and gives the rest, at least one. The rule itself, :func:`threads_for`, is a pure function of
those two numbers. Evidence for it is in ``docs/benchmarks.md`` (``benchmarks/threads.py``).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ThreadChoice",
    "allowed_cores",
    "busy_cores",
    "cgroup_cpu_limit",
    "choose_threads",
    "parse_cfs_quota",
    "parse_cpu_max",
    "parse_proc_stat",
    "threads_for",
]

log = logging.getLogger(__name__)

#: A core counts as free when others use less than this share of it: a thread that must share a core costs more
#: (it makes the others wait for it) than a thread left out.
FREE_BELOW = 0.75

#: Seconds over which other processes' use of the cores is measured.
WINDOW = 0.25


@dataclass(frozen=True)
class ThreadChoice:
    """The intra-op thread count chosen for this process, and why.

    Attributes
    ----------
    threads : int
        Threads PyTorch uses on the CPU.
    reason : str
        Why, in words (as recorded in ``run.json``).
    allowed : int or None
        Cores this process may use (affinity and cgroup quota); None when the count was given.
    busy : float or None
        Cores' worth of CPU time other processes used over the window; None when not measured.
    wait_policy : str or None
        ``OMP_WAIT_POLICY`` of this process (None: OpenMP's default, threads spin a while before they sleep).

    Examples
    --------
    >>> ThreadChoice(2, "2 thread(s) asked for").as_dict()["reason"]
    '2 thread(s) asked for'
    """

    threads: int
    reason: str
    allowed: int | None = None
    busy: float | None = None
    wait_policy: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields."""
        data = asdict(self)
        if self.busy is not None:
            data["busy"] = round(self.busy, 2)
        return data


def check_threads(threads: Any) -> int | None:
    """``threads`` if it is None or an integer >= 1; otherwise a TypeError or ValueError that says what is right."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads must be an integer >= 1 or None (choose from the free cores), got {threads!r}")
    if threads < 1:
        raise ValueError(f"threads must be an integer >= 1 or None (choose from the free cores), got {threads}")
    return threads


def threads_for(allowed: int, busy: float) -> int:
    """Threads for ``allowed`` cores of which other processes keep ``busy`` cores' worth in use: at least 1.

    A core is taken when others use at least :data:`FREE_BELOW` of one.

    >>> threads_for(2, 0.0), threads_for(2, 0.3), threads_for(2, 1.0), threads_for(2, 2.0), threads_for(8, 2.5)
    (2, 2, 1, 1, 6)
    """
    taken = math.floor(max(busy, 0.0) + 1.0 - FREE_BELOW + 1e-9)
    return max(1, min(allowed, allowed - taken))


# ------------------------------------------------------------------------------------------- allowed cores


def parse_cpu_max(text: str) -> float | None:
    """Cores allowed by a cgroup v2 ``cpu.max`` (``"QUOTA PERIOD"``); None for ``"max ..."`` (no limit).

    >>> parse_cpu_max("150000 100000"), parse_cpu_max("max 100000")
    (1.5, None)
    """
    parts = text.split()
    if not parts or parts[0] == "max":
        return None
    period = float(parts[1]) if len(parts) > 1 else 100000.0
    return float(parts[0]) / period if period > 0 else None


def parse_cfs_quota(quota: str, period: str) -> float | None:
    """Cores allowed by cgroup v1 ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us``; None for a quota of -1.

    >>> parse_cfs_quota("-1", "100000"), parse_cfs_quota("200000", "100000")
    (None, 2.0)
    """
    value, length = int(quota.strip()), int(period.strip())
    if value <= 0 or length <= 0:
        return None
    return value / length


def _cgroup_paths(proc_cgroup: str) -> dict[str, str]:
    """Controller → path of this process's cgroup, from ``/proc/self/cgroup`` (``""`` is the v2 hierarchy)."""
    paths = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(","):
                paths[controller] = parts[2]
    return paths


def cgroup_cpu_limit(root: str | os.PathLike = "/sys/fs/cgroup", proc_cgroup: str | None = None) -> float | None:
    """Cores' worth of CPU time this process's cgroup may use (v2 ``cpu.max`` or v1 CFS quota); None if unlimited.

    ``proc_cgroup`` is the text of ``/proc/self/cgroup`` (read when not given). Files that cannot be read count
    as no limit.

    >>> cgroup_cpu_limit("/no/such/folder", proc_cgroup="0::/") is None
    True
    """
    base = Path(root)
    if proc_cgroup is None:
        try:
            proc_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError:
            return None
    paths = _cgroup_paths(proc_cgroup)
    limits = []
    own = paths.get("", "/").lstrip("/")
    for folder in dict.fromkeys([base / own, base]):
        limit = _read(lambda folder=folder: parse_cpu_max((folder / "cpu.max").read_text()))
        if limit is not None:
            limits.append(limit)
    v1 = paths.get("cpu", "/").lstrip("/")
    for folder in dict.fromkeys([base / "cpu" / v1, base / "cpu"]):
        limit = _read(
            lambda folder=folder: parse_cfs_quota(
                (folder / "cpu.cfs_quota_us").read_text(), (folder / "cpu.cfs_period_us").read_text()
            )
        )
        if limit is not None:
            limits.append(limit)
    return min(limits) if limits else None


def _read(parse: Any) -> float | None:
    try:
        return parse()
    except (OSError, ValueError):
        return None


def _affinity() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return set(range(os.cpu_count() or 1))


def allowed_cores() -> int:
    """Cores this process may use: its affinity mask, rounded down to its cgroup's CPU quota (at least 1).

    >>> allowed_cores() >= 1
    True
    """
    count = len(_affinity())
    limit = cgroup_cpu_limit()
    if limit is not None:
        count = min(count, max(1, math.floor(limit + 1e-9)))
    return max(1, count)


# ------------------------------------------------------------------------------------------- busy cores


def parse_proc_stat(text: str) -> dict[int, tuple[int, int]]:
    """Per CPU of ``/proc/stat``: (busy, total) jiffies since boot; idle and iowait are the idle time.

    >>> parse_proc_stat("cpu  9 0 1 10 0 0 0 0 0 0\\ncpu0 4 0 1 5 0 0 0 0 0 0\\ncpu1 5 0 0 5 0 0 0 0 0 0\\n")
    {0: (5, 10), 1: (5, 10)}
    """
    cpus = {}
    for line in text.splitlines():
        fields = line.split()
        if not fields or not fields[0].startswith("cpu") or fields[0] == "cpu":
            continue
        values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
        idle = values[3] + values[4]
        cpus[int(fields[0][3:])] = (sum(values) - idle, sum(values))
    return cpus


def busy_share(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]], cpus: Iterable[int]) -> float:
    """Cores' worth of busy time on ``cpus`` between two :func:`parse_proc_stat` readings.

    >>> busy_share({0: (0, 0), 1: (0, 0)}, {0: (10, 10), 1: (5, 10)}, [0, 1])
    1.5
    """
    total = 0.0
    for cpu in cpus:
        if cpu in before and cpu in after:
            spent = after[cpu][1] - before[cpu][1]
            if spent > 0:
                total += (after[cpu][0] - before[cpu][0]) / spent
    return total


def busy_cores(window: float = WINDOW) -> float | None:
    """Cores' worth of CPU time that other processes used on this process's cores over ``window`` seconds.

    This process's own CPU time over the window is subtracted. None where ``/proc/stat`` cannot be read.

    >>> busy = busy_cores(0.05)
    >>> busy is None or busy >= 0
    True
    """
    stat = Path("/proc/stat")
    try:
        before, own_before = parse_proc_stat(stat.read_text()), _own_seconds()
        start = time.monotonic()
        time.sleep(window)
        after, own_after = parse_proc_stat(stat.read_text()), _own_seconds()
        elapsed = time.monotonic() - start
    except (OSError, ValueError):
        return None
    own = (own_after - own_before) / elapsed if elapsed > 0 else 0.0
    return max(0.0, busy_share(before, after, _affinity()) - own)


def _own_seconds() -> float:
    times = os.times()
    return times.user + times.system


# ------------------------------------------------------------------------------------------- the choice


def choose_threads(threads: int | None = None, *, window: float = WINDOW) -> ThreadChoice:
    """The intra-op thread count for this process and why: ``threads`` when given, ``OMP_NUM_THREADS`` when set,
    else :func:`threads_for` the allowed cores and those other processes keep busy now.

    Raises
    ------
    ValueError, TypeError
        ``threads`` is not None or an integer >= 1.

    >>> choose_threads(3).threads
    3
    """
    given = check_threads(threads)
    policy = os.environ.get("OMP_WAIT_POLICY") or None
    if given is not None:
        return ThreadChoice(given, f"{given} thread(s) asked for", wait_policy=policy)
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) >= 1:
        return ThreadChoice(int(env), f"OMP_NUM_THREADS={env} set in the environment", wait_policy=policy)
    allowed = allowed_cores()
    busy = busy_cores(window) if allowed > 1 else None
    if busy is None:
        return ThreadChoice(allowed, f"{allowed} core(s) this process may use", allowed, wait_policy=policy)
    chosen = threads_for(allowed, busy)
    reason = (
        f"{allowed} core(s) this process may use, other processes using {busy:.1f} of them "
        f"(a core counts as free below {FREE_BELOW:g})"
    )
    return ThreadChoice(chosen, reason, allowed, busy, policy)


def prefer_passive_wait() -> None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` for this process when it is unset and PyTorch is not loaded yet.

    OpenMP threads then sleep as soon as they wait, instead of spinning on a core another process needs; the
    variable counts only if set before torch loads OpenMP, so the command line calls this first thing. A policy
    the user set is kept.
    """
    if "OMP_WAIT_POLICY" not in os.environ and "torch" not in sys.modules:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def apply_threads(threads: int | None = None) -> ThreadChoice:
    """Choose with :func:`choose_threads` and set PyTorch's intra-op thread count (for the whole process)."""
    import torch

    choice = choose_threads(threads)
    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
    log.debug("torch threads: %d (%s)", choice.threads, choice.reason)  # run.json records it; one line per process
    return choice
