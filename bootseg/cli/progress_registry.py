"""A registry view that shows a progress bar over the first stage and names the file an annotator failed on.

:class:`bootseg.BootstrapChain` looks stages up through ``registry.info``/``names``/``create``; this view passes
those through and wraps the annotator it creates, so the chain itself stays free of command-line concerns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import BootsegError
from .common import progress_bar

__all__ = ["ProgressRegistry", "unwrap"]


class _CountedAnnotator:
    """Delegates ``annotate`` to the real stage, counting images on a progress bar."""

    def __init__(self, stage: Any, name: str) -> None:
        self.stage = stage
        self.name = name
        self.paths: Sequence[Path] = ()
        self._done = 0
        self._bar: Any = None

    def annotate(self, image: Any) -> Any:
        if self._bar is None:
            self._bar = progress_bar(total=len(self.paths) or None, desc=f"stage 0 {self.name}")
        index = self._done
        try:
            mask = self.stage.annotate(image)
        except (ValueError, TypeError) as exc:
            self.close()
            where = f"'{self.paths[index]}'" if index < len(self.paths) else f"image {index}"
            raise BootsegError(f"first stage {self.name!r} failed on {where}: {exc}") from exc
        self._done += 1
        self._bar.update(1)
        if self._done == len(self.paths):
            self.close()
        return mask

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __getattr__(self, item: str) -> Any:  # options(), config, ... of the real stage
        return getattr(self.stage, item)


class ProgressRegistry:
    """Wraps a :class:`bootseg.plugins.Registry` for one run; ``paths`` names the images in chain order."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self.annotators: list[_CountedAnnotator] = []

    def info(self, kind: str, name: str) -> Any:
        return self.registry.info(kind, name)

    def names(self, kind: str) -> list[str]:
        return self.registry.names(kind)

    def create(self, kind: str, name: str, /, **options: Any) -> Any:
        stage = self.registry.create(kind, name, **options)
        if kind != "annotator":
            return stage
        counted = _CountedAnnotator(stage, name)
        self.annotators.append(counted)
        return counted

    def set_paths(self, paths: Sequence[Path]) -> None:
        """The files of the images the chain will get, in order (for the bar's total and error messages)."""
        for annotator in self.annotators:
            annotator.paths = paths


def unwrap(stage: Any) -> Any:
    """The real stage object behind a wrapped one."""
    return stage.stage if isinstance(stage, _CountedAnnotator) else stage
