"""Small shared helpers for the benchmark scripts (not part of the package)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls of ``fn()``, the device synchronised around each."""
    best = float("inf")
    for _ in range(repeat):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def interleaved(functions: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median wall time of each of ``functions`` over ``repeat`` rounds.

    Every round calls each function once, starting one further along the list each time, so that a change in the
    machine's load (and being first after a cold start) falls on all of them alike.
    """
    names = list(functions)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeat):
        for offset in range(len(names)):
            name = names[(round_ + offset) % len(names)]
            start = time.perf_counter()
            functions[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def replace_block(path: Path, begin: str, end: str, text: str) -> None:
    """Put ``text`` between the ``begin`` and ``end`` marker lines of ``path`` (markers kept); append all three if
    the file has no such block."""
    content = path.read_text()
    block = f"{begin}\n{text.strip()}\n{end}"
    if begin in content and end in content:
        head, rest = content.split(begin, 1)
        content = head + block + rest.split(end, 1)[1]
    else:
        content = content.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(content)


def interleaved_calls(functions: dict[str, Callable[[Any], object]], items: list[Any], repeat: int) -> dict[str, float]:
    """Mean time per item of each of ``functions``, called on every item in turn.

    For each item, every function runs ``repeat`` times, the order rotating between rounds, and the median of its
    times counts: a burst of load from another process lands on one call of each function, not on one function.
    """
    names = list(functions)
    totals = dict.fromkeys(names, 0.0)
    for item in items:
        times: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(repeat):
            for offset in range(len(names)):
                name = names[(round_ + offset) % len(names)]
                start = time.perf_counter()
                functions[name](item)
                times[name].append(time.perf_counter() - start)
        for name in names:
            totals[name] += statistics.median(times[name])
    return {name: total / len(items) for name, total in totals.items()}
