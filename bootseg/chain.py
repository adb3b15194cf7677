"""``BootstrapChain``: a first stage, then any number of networks, each learning from the previous one's masks."""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import PluginError, UnknownStageError
from .images import check_image
from .plugins import BUILTIN_PLUGINS, Registry, StageInfo, default_registry
from .protocols import Annotator, Refiner, satisfies

__all__ = ["BootstrapChain", "ChainResult", "StageResult", "StageResults"]

log = logging.getLogger(__name__)

StageSpec = str | tuple[str, Mapping[str, Any]] | Annotator | Refiner
_INJECTED = ("device", "seed", "progress")


@dataclass
class StageResult:
    """One stage's output over all images.

    Attributes
    ----------
    index : int
        Position in the chain, from 0 (the first stage).
    name : str
        The stage's registry name (or its class name for a stage given as an object).
    kind : {"annotator", "refiner"}
    masks : list of (H, W) bool ndarray
    proba : list of (H, W) float32 ndarray or None
        Foreground probabilities, for network stages that provide them.
    seconds : float
        Wall time of the stage (training and prediction for a network).
    stage : object
        The stage object itself (a trained network can label new images).

    Examples
    --------
    >>> r = StageResult(1, "unet", "refiner", [np.zeros((2, 2), bool)], None, 0.5, stage=None)
    >>> r.key
    '1-unet'
    """

    index: int
    name: str
    kind: Literal["annotator", "refiner"]
    masks: list[np.ndarray]
    proba: list[np.ndarray] | None
    seconds: float
    stage: Any = field(repr=False)

    @property
    def key(self) -> str:
        """``"<index>-<name>"``, unique even when a chain uses a stage name twice (``"1-unet"``)."""
        return f"{self.index}-{self.name}"


class StageResults(Mapping[str, StageResult]):
    """Stage results in chain order, addressable by name (``"otsu"``), key (``"1-unet"``) or position (``0``).

    Examples
    --------
    >>> first = StageResult(0, "otsu", "annotator", [], None, 0.0, stage=None)
    >>> results = StageResults([first])
    >>> results["otsu"] is results["0-otsu"] is results[0]
    True
    >>> list(results)
    ['0-otsu']
    """

    def __init__(self, results: Sequence[StageResult]) -> None:
        self._results = list(results)

    def __getitem__(self, item: str | int) -> StageResult:
        if isinstance(item, int):
            return self._results[item]
        by_key = [r for r in self._results if r.key == item]
        if by_key:
            return by_key[0]
        by_name = [r for r in self._results if r.name == item]
        if len(by_name) == 1:
            return by_name[0]
        keys = ", ".join(r.key for r in self._results)
        if by_name:
            raise KeyError(f"stage name {item!r} is used {len(by_name)} times; use one of the keys {keys}")
        raise KeyError(f"no stage {item!r} in this result; stages: {keys}")

    def __iter__(self) -> Iterator[str]:
        return (r.key for r in self._results)

    def __len__(self) -> int:
        return len(self._results)

    def __repr__(self) -> str:
        return f"StageResults({[r.key for r in self._results]})"


@dataclass
class ChainResult:
    """What :meth:`BootstrapChain.run` returns.

    Attributes
    ----------
    names : list of str
        One name per image: the file stem for images read from a folder, ``"image-0000"`` style otherwise.
    stages : StageResults
        Every stage's result, in order.

    Examples
    --------
    >>> mask = np.ones((2, 2), bool)
    >>> result = ChainResult(["a"], StageResults([StageResult(0, "otsu", "annotator", [mask], None, 0.1, None)]))
    >>> result.masks[0].shape, result.timings
    ((2, 2), {'0-otsu': 0.1})
    """

    names: list[str]
    stages: StageResults

    @property
    def masks(self) -> list[np.ndarray]:
        """The last stage's bool ``(H, W)`` masks, one per image."""
        return self.stages[len(self.stages) - 1].masks

    @property
    def timings(self) -> dict[str, float]:
        """Seconds per stage, by stage key."""
        return {r.key: r.seconds for r in self.stages.values()}


@dataclass
class _Stage:
    index: int
    name: str
    kind: Literal["annotator", "refiner"]
    obj: Any
    source: str
    builtin: bool
    spec: StageInfo | None = None
    options: dict[str, Any] = field(default_factory=dict)


def _accepts(factory: Any, keyword: str) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == keyword or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


class BootstrapChain:
    """Run a first stage, then networks that each learn from the previous stage's masks.

    Parameters
    ----------
    stages : sequence
        The first entry is an annotator, every later one a refiner. Each entry is a registered name
        (``"otsu"``), a ``(name, options)`` pair (``("unet", {"epochs": 30})``), or a stage object.
    device : str
        Passed to every network stage built by name that takes a ``device`` option and was not given one.
        ``"auto"`` picks CUDA, then Apple MPS, then the CPU.
    seed : int
        Passed the same way as ``device``; makes CPU runs repeatable.
    progress : bool
        Passed the same way; progress bars for network training.
    registry : Registry, optional
        Where names are looked up; the default registry (built-ins plus installed plugins) if not given.

    Examples
    --------
    >>> from bootseg.datasets import synthetic_spheroids
    >>> images, truth = synthetic_spheroids(16, size=64)
    >>> chain = BootstrapChain(["otsu", ("unet", {"size": 64, "epochs": 2})], progress=False)
    >>> result = chain.run(images)
    >>> len(result.masks), list(result.stages)
    (16, ['0-otsu', '1-unet'])
    """

    def __init__(
        self,
        stages: Sequence[StageSpec],
        *,
        device: str = "auto",
        seed: int = 0,
        progress: bool = True,
        registry: Registry | None = None,
    ) -> None:
        if isinstance(stages, (str, bytes)) or not isinstance(stages, Sequence):
            raise TypeError(
                f"stages must be a list such as ['otsu', 'unet'], got {stages!r}"
                + (f"; did you mean [{stages!r}]?" if isinstance(stages, str) else "")
            )
        if len(stages) == 0:
            raise ValueError("stages is empty; give at least a first stage, e.g. ['otsu'] or ['otsu', 'unet']")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.device = device
        self.seed = seed
        self.progress = progress
        self.registry = registry if registry is not None else default_registry()
        self._stages = [self._build(i, spec) for i, spec in enumerate(stages)]

    def __repr__(self) -> str:
        return f"BootstrapChain({[s.name for s in self._stages]!r}, device={self.device!r}, seed={self.seed})"

    @property
    def stage_names(self) -> list[str]:
        """The names of the stages, in order."""
        return [s.name for s in self._stages]

    @property
    def stages(self) -> list[Any]:
        """The stage objects, in order (the network stages are trained after :meth:`run`)."""
        return [s.obj for s in self._stages]

    # -- building ---------------------------------------------------------------------------------------------
    def _build(self, index: int, spec: Any) -> _Stage:
        kind: Literal["annotator", "refiner"] = "annotator" if index == 0 else "refiner"
        protocol = Annotator if index == 0 else Refiner
        if isinstance(spec, str):
            name, options = spec, {}
        elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
            name, options = spec[0], spec[1]
            if not isinstance(options, Mapping):
                raise TypeError(f"stage {index} {name!r}: options must be a dict, got {options!r}")
            options = dict(options)
        elif satisfies(spec, protocol) and not isinstance(spec, type):
            name = getattr(spec, "name", None) or type(spec).__name__.lower()
            return _Stage(index, str(name), kind, spec, type(spec).__qualname__, builtin=False)
        else:
            role = "the first stage must be an annotator" if index == 0 else "every later stage must be a refiner"
            raise TypeError(
                f"stage {index} is {spec!r}; {role}: a registered name, a (name, options) pair, or an object "
                f"with a {'annotate' if index == 0 else 'refine'}() method"
            )
        info = self._lookup(index, kind, name)
        for key in _INJECTED:
            if key not in options and kind == "refiner" and _accepts(info.factory, key):
                options[key] = getattr(self, key)
        stage = self.registry.create(kind, name, **options)
        return _Stage(index, name, kind, stage, info.source, info.plugin in BUILTIN_PLUGINS, info, options)

    def _lookup(self, index: int, kind: str, name: str) -> StageInfo:
        try:
            return self.registry.info(kind, name)  # type: ignore[arg-type]
        except UnknownStageError as exc:
            other = "refiner" if kind == "annotator" else "annotator"
            if name in self.registry.names(other):  # type: ignore[arg-type]
                where = (
                    "the first stage must be an annotator"
                    if index == 0
                    else ("only the first stage may be an annotator; later stages are refiners")
                )
                raise ValueError(
                    f"stage {index} {name!r} is {'an' if other == 'annotator' else 'a'} {other}, but {where}; "
                    f"known {kind}s: {', '.join(self.registry.names(kind)) or 'none'}"  # type: ignore[arg-type]
                ) from exc
            raise UnknownStageError(f"stage {index}: {exc}") from exc

    # -- running ----------------------------------------------------------------------------------------------
    def run(self, images: Iterable[Any] | str | os.PathLike, *, names: Sequence[str] | None = None) -> ChainResult:
        """Run every stage in order on ``images``.

        Parameters
        ----------
        images : list or iterable of (H, W) or (H, W, C) ndarray, or a folder path
            Any numeric dtype; sizes may differ. A folder is read with :func:`bootseg.io.read_images`.
        names : sequence of str, optional
            One name per image, used in ``result.names`` and in error messages (default: the file stems for a
            folder, ``"image-0000"`` style otherwise).

        Returns
        -------
        ChainResult
            ``result.masks`` (the last stage's) and ``result.stages`` (every stage's, in order).
        """
        arrays, names = self._inputs(images, names)
        results: list[StageResult] = []
        masks: list[np.ndarray] = []
        for stage in self._stages:
            start = time.perf_counter()
            if stage.kind == "annotator":
                masks = [
                    self._annotate(stage, image, name)
                    for image, name in self._progress(zip(arrays, names, strict=True), stage, len(arrays))
                ]
                proba = None
            else:
                masks, proba = self._refine(stage, arrays, masks, names)
            seconds = time.perf_counter() - start
            mean_fg = float(np.mean([m.mean() for m in masks]))
            log.info(
                "stage %d %s: %d masks in %.2f s (mean foreground share %.3f)",
                stage.index,
                stage.name,
                len(masks),
                seconds,
                mean_fg,
            )
            results.append(StageResult(stage.index, stage.name, stage.kind, masks, proba, seconds, stage.obj))
        return ChainResult(names, StageResults(results))

    def predict(self, images: Iterable[Any] | str | os.PathLike) -> list[np.ndarray]:
        """Label new images with the trained last stage (the first stage alone for a one-stage chain).

        Returns bool ``(H, W)`` masks, one per image. A network stage must have been trained by :meth:`run`
        (or be a trained object given to the chain).
        """
        arrays, names = self._inputs(images)
        last = self._stages[-1]
        if last.kind == "annotator":
            return [self._annotate(last, image, name) for image, name in zip(arrays, names, strict=True)]
        predict = getattr(last.obj, "predict", None)
        if predict is None:
            raise TypeError(
                f"the last stage {last.name!r} ({last.source}) has no predict(); it cannot label new images"
            )
        try:
            masks = predict(arrays)
        except RuntimeError as exc:
            if "not trained" in str(exc):
                raise RuntimeError(
                    f"the last stage {last.name!r} is not trained; call chain.run(images) first"
                ) from exc
            raise
        return self._checked_masks(last, masks, arrays, names)

    def _progress(self, items: Iterable[Any], stage: _Stage, total: int) -> Iterable[Any]:
        if not self.progress:
            return items
        from tqdm.auto import tqdm

        return tqdm(items, total=total, desc=f"stage {stage.index} {stage.name}", unit="image", leave=False)

    def _inputs(self, images: Any, names: Sequence[str] | None = None) -> tuple[list[np.ndarray], list[str]]:
        arrays, default_names = self._arrays(images)
        if names is None:
            return arrays, default_names
        names = [str(n) for n in names]
        if len(names) != len(arrays):
            raise ValueError(f"got {len(arrays)} images but {len(names)} names; give one name per image")
        return arrays, names

    def _arrays(self, images: Any) -> tuple[list[np.ndarray], list[str]]:
        if isinstance(images, (str, os.PathLike)):
            from .io import read_images

            arrays, paths = read_images(images)
            return [check_image(a, name=str(p)) for a, p in zip(arrays, paths, strict=True)], [
                Path(p).stem for p in paths
            ]
        if isinstance(images, np.ndarray) and images.ndim in (2, 3) and images.dtype != object:
            raise TypeError(
                f"images must be a list of arrays or a folder path, got one array of shape {images.shape}; "
                "wrap a single image in a list: [image]"
            )
        try:
            arrays = list(images)
        except TypeError as exc:
            raise TypeError(f"images must be a list/iterable of arrays or a folder path, got {images!r}") from exc
        if not arrays:
            raise ValueError("images is empty; give at least one image")
        names = [f"image-{i:04d}" for i in range(len(arrays))]
        return [check_image(a, name=f"images[{i}]") for i, a in enumerate(arrays)], names

    def _fail(self, stage: _Stage, what: str, exc: Exception) -> PluginError:
        return PluginError(
            f"{stage.kind} {stage.name!r} from {stage.source} failed {what}: {type(exc).__name__}: {exc}"
        )

    def _annotate(self, stage: _Stage, image: np.ndarray, name: str) -> np.ndarray:
        try:
            mask = stage.obj.annotate(image)
        except Exception as exc:
            if not stage.builtin:
                raise self._fail(stage, f"on {name}", exc) from exc
            if isinstance(exc, (ValueError, TypeError)):  # same type, with the image named
                raise type(exc)(f"{stage.kind} {stage.name!r} failed on {name}: {exc}") from exc
            raise
        return self._checked_masks(stage, [mask], [image], [name])[0]

    def _refine(
        self, stage: _Stage, images: list[np.ndarray], masks: list[np.ndarray], names: list[str]
    ) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        obj = stage.obj
        try:
            if callable(getattr(obj, "fit", None)) and callable(getattr(obj, "predict_proba", None)):
                obj.fit(images, masks)
                proba = obj.predict_proba(images)
                threshold = getattr(getattr(obj, "config", None), "threshold", 0.5)
                refined = [p > threshold for p in proba]
            else:
                proba = None
                refined = obj.refine(images, masks)
        except Exception as exc:
            if stage.builtin:
                raise
            raise self._fail(stage, "while refining", exc) from exc
        return self._checked_masks(stage, refined, images, names), proba

    def _checked_masks(self, stage: _Stage, masks: Any, images: list[np.ndarray], names: list[str]) -> list[np.ndarray]:
        masks = list(masks)
        if len(masks) != len(images):
            raise PluginError(
                f"{stage.kind} {stage.name!r} from {stage.source} returned {len(masks)} masks for {len(images)} images"
            )
        out = []
        for mask, image, name in zip(masks, images, names, strict=True):
            array = np.asarray(mask)
            if array.shape != image.shape[:2]:
                raise PluginError(
                    f"{stage.kind} {stage.name!r} from {stage.source} returned a mask of shape {array.shape} for "
                    f"{name} of shape {image.shape[:2]}; masks must be (H, W) like their image"
                )
            out.append(array if array.dtype == bool else array > 0)
        return out
