"""``BootstrapChain``: a first stage, then any number of networks, each learning from the previous one's masks."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .corrections import FirstStageChoice, check_corrections, choose_first_stage, fit_set, judge_network
from .errors import PluginError, UnknownStageError
from .executors import batches, map_batches, refuse_forked_pool
from .images import check_stage_mask, read_only
from .inputs import DEFAULT_MAX_PIXELS, gather_inputs
from .plugins import BUILTIN_PLUGINS, Registry, StageInfo, default_registry
from .protocols import Annotator, FitsSet, Named, Network, Refiner, accepts, satisfies
from .results import ChainResult, StageResult, StageResults
from .rounds import Rounds, mask_change
from .stagefile import StageHeader, save_stage, unpacked
from .stagework import annotate_batch as _annotate_batch
from .stagework import network_masks
from .stagework import predict_batch as _predict_batch
from .threads import check_threads

__all__ = ["BootstrapChain", "ChainResult", "StageResult", "StageResults"]

log = logging.getLogger(__name__)

StageSpec = str | tuple[str, Mapping[str, Any]] | Annotator | Refiner
_INJECTED = ("device", "threads", "seed", "progress")


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
    built: Any = None  # the object as built, where corrections chose another first stage for one run


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
    threads : int, optional
        Passed the same way as ``device`` when given: the CPU threads of every network stage (``None``: each
        chooses from the cores that are free when it starts, :mod:`bootseg.threads`).
    seed : int
        Passed the same way as ``device``; makes CPU runs repeatable.
    progress : bool
        Passed the same way; progress bars for network training.
    registry : Registry, optional
        Where names are looked up; the default registry (built-ins plus installed plugins) if not given.
    stable : float, optional
        Stop after the first network stage that changes its input's masks by less than this (mean 1 − Dice,
        :mod:`bootseg.rounds`); the later stages are not run and ``result.rounds`` says so. ``None``: every stage.

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
        threads: int | None = None,
        seed: int = 0,
        progress: bool = True,
        registry: Registry | None = None,
        stable: float | None = None,
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
        self.threads = check_threads(threads)
        self.seed = seed
        self.progress = progress
        self.registry = registry if registry is not None else default_registry()
        if stable is not None and (isinstance(stable, bool) or not isinstance(stable, (int, float)) or stable < 0):
            raise ValueError(f"stable must be a number >= 0 (a mean 1 − Dice, e.g. 0.01) or None, got {stable!r}")
        self.stable = stable
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
            name = spec.name if isinstance(spec, Named) and spec.name else type(spec).__name__.lower()
            return _Stage(index, str(name), kind, spec, type(spec).__qualname__, builtin=False)
        else:
            role = "the first stage must be an annotator" if index == 0 else "every later stage must be a refiner"
            raise TypeError(
                f"stage {index} is {spec!r}; {role}: a registered name, a (name, options) pair, or an object "
                f"with a {'annotate' if index == 0 else 'refine'}() method"
            )
        info = self._lookup(index, kind, name)
        for key in _INJECTED:
            value = getattr(self, key)
            if key not in options and value is not None and kind == "refiner" and accepts(info.factory, key):
                options[key] = value
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
    def run(
        self,
        images: Iterable[Any] | str | os.PathLike,
        *,
        names: Sequence[str] | None = None,
        executor: Executor | None = None,
        skip_bad: bool = False,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        checkpoint_dir: str | os.PathLike | None = None,
        channel: int | None = None,
        corrections: Mapping[str, Any] | None = None,
    ) -> ChainResult:
        """Run every stage in order on ``images``.

        Every input is read and checked before any stage starts (see :mod:`bootseg.inputs`): bad ones stop the
        run with one :class:`~bootseg.inputs.BadInputError` listing each of them and why, or are left out with
        ``skip_bad=True`` (listed in ``result.skipped``).

        Parameters
        ----------
        images : list or iterable of (H, W) or (H, W, C) ndarray, or a folder path
            Any numeric dtype; sizes may differ. A folder (or a list of files) is read with
            :func:`bootseg.inputs.load_inputs`; each plane of a stack is an image (``result.stacks``).
        names : sequence of str, optional
            One name per image, used in ``result.names``, in error messages and as file names in
            ``checkpoint_dir`` (default: the file stems for a folder, ``"image-0000"`` style otherwise).
        executor : concurrent.futures.Executor, optional
            Runs the first stage on batches of images in parallel: a ``ProcessPoolExecutor`` uses every core, a
            Dask client's executor a cluster. The annotator is pickled to the workers; the masks are the same as
            without an executor. An annotator whose ``fit`` takes an ``executor`` keyword gets it too (the
            built-in ``auto`` fits its candidate channels and class counts as separate tasks). Network stages
            train and predict in this process (see :meth:`predict` for labelling new images through an executor).
        skip_bad : bool
            Leave out inputs that cannot be used instead of raising.
        max_pixels : int or None
            The largest accepted image (``H × W`` pixels); ``None`` for no limit.
        checkpoint_dir : str or os.PathLike, optional
            Keep each stage's masks and trained networks there as soon as they are done, and reuse what an
            earlier, interrupted run with the same chain, seed and images left there (see :mod:`bootseg.resume`).
        channel : int, optional
            Only this channel (0-based) of every image goes to the stages (:func:`bootseg.inputs.load_inputs`).
        corrections : mapping of str to (H, W) mask, optional
            A person's corrected masks of some images, by image name (:mod:`bootseg.corrections`): they choose
            the first stage when it is a plain ``auto``, judge the networks (their validation set, which chooses
            how much of each network's masks to keep; or their trusted labels, see the ``unet`` option
            ``corrections``), and are those images' masks at every stage (``result.corrected`` names them).

        Returns
        -------
        ChainResult
            ``result.masks`` (the last stage's) and ``result.stages`` (every stage's, in order).
        """
        inputs = gather_inputs(images, names, skip_bad=skip_bad, max_pixels=max_pixels, channel=channel)
        arrays, names = [read_only(a) for a in inputs.images], inputs.names  # no stage may change another's input
        inputs.log_notes(log)
        fixed = check_corrections(corrections, names, arrays) if corrections else {}
        store = None
        if checkpoint_dir is not None:
            from .resume import StageStore, chain_state, stages_state

            state = chain_state(self.seed, stages_state(self._stages), arrays, names, fixed)
            store = StageStore(checkpoint_dir, names, state)
        results: list[StageResult] = []
        masks: list[np.ndarray] = []
        drawn: dict[int, np.ndarray] = {}  # the last stage's own masks of the corrected images
        choice, rounds = None, None if self.stable is None else Rounds(float(self.stable))
        first = self._stages[0]
        if first.built is not None:  # an earlier run's corrections chose for that run only
            first.obj, first.built = first.built, None
        for stage in self._stages:
            if rounds is not None and rounds.done:
                rounds.skipped.append(f"{stage.index}-{stage.name}")
                continue
            start = time.perf_counter()
            if stage.kind == "annotator":
                fitted = False
                if fixed and stage.builtin and stage.name == "auto" and not stage.options:
                    choice = self._choose_first_stage(stage, arrays, fixed, executor)
                    fitted = True
                masks = self._annotate_all(stage, arrays, names, executor, store, fitted=fitted)
                proba = None
            else:
                given = [read_only(m) for m in masks]
                masks, proba = self._refine(stage, arrays, given, names, store, fixed, drawn)
                if rounds is not None:
                    rounds.changes[f"{stage.index}-{stage.name}"] = mask_change(given, masks)
            drawn = {i: masks[i] for i in fixed}
            for i, mask in fixed.items():
                masks[i] = mask
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
        corrected = [names[i] for i in fixed]
        if rounds is not None:
            log.info("rounds: %s", rounds.summary())
        return ChainResult(
            names, StageResults(results), inputs.skipped, inputs.constant, corrected, choice, inputs.stacks, rounds
        )

    def _choose_first_stage(
        self, stage: _Stage, arrays: list[np.ndarray], fixed: dict[int, np.ndarray], executor: Executor | None
    ) -> FirstStageChoice:
        """Weigh ``auto``'s candidates and the plain stages on the corrected images; the stage's object becomes the
        fitted candidate chosen, for this run (:func:`bootseg.corrections.choose_first_stage`)."""
        stage.built = stage.obj  # run() put back the object as built before any stage
        choice, stage.obj = choose_first_stage(
            arrays, fixed, lambda spec: self.registry.create("annotator", spec[0], **spec[1]), executor=executor
        )
        log.info("stage %d %s: %d corrected image(s): %s", stage.index, stage.name, len(fixed), choice.summary())
        return choice

    def predict(
        self,
        images: Iterable[Any] | str | os.PathLike,
        *,
        executor: Executor | None = None,
        channel: int | None = None,
    ) -> list[np.ndarray]:
        """Label new images with the trained last stage (the first stage alone for a one-stage chain).

        ``channel`` picks one channel (0-based) of every image, as in :meth:`run`: give the one the chain was
        run with.

        Returns bool ``(H, W)`` masks, one per image. A network stage must have been trained by :meth:`run`
        (or be a trained object given to the chain).

        ``executor`` (a ``concurrent.futures.Executor``) spreads the work over its workers in batches of
        images: the stage object (a trained network included) is pickled to each worker. The masks are the same
        as without it.

        Examples
        --------
        >>> from concurrent.futures import ThreadPoolExecutor
        >>> from bootseg.datasets import synthetic_spheroids
        >>> images, _ = synthetic_spheroids(4, size=32)
        >>> chain = BootstrapChain(["otsu"])
        >>> with ThreadPoolExecutor(2) as pool:
        ...     masks = chain.predict(images, executor=pool)
        >>> all(np.array_equal(a, b) for a, b in zip(masks, chain.predict(images)))
        True
        """
        inputs = gather_inputs(images, None, channel=channel)
        arrays, names = [read_only(a) for a in inputs.images], inputs.names
        last = self._stages[-1]
        if last.kind == "annotator":
            return self._annotate_all(last, arrays, names, executor)
        if not isinstance(last.obj, Network):
            raise TypeError(
                f"the last stage {last.name!r} ({last.source}) is not a network stage (fit, predict_proba, save, "
                "load, threshold, describe); it refines the masks it is given and cannot label new images"
            )
        if executor is not None:
            refuse_forked_pool(executor, f"the last stage {last.name!r} is a network, and")
        try:
            if executor is None:
                masks = _predict_batch(last.obj, arrays)
            else:
                masks = [mask for batch in map_batches(executor, _predict_batch, arrays, last.obj) for mask in batch]
        except RuntimeError as exc:
            if "not trained" in str(exc):
                raise RuntimeError(
                    f"the last stage {last.name!r} is not trained; call chain.run(images) first"
                ) from exc
            raise
        return self._checked_masks(last, masks, arrays, names)

    def _header(self, stage: _Stage) -> StageHeader:
        """Who a saved stage file of ``stage`` names as its writer."""
        if stage.spec is None:  # an object given to the chain: its class
            return StageHeader(stage.name, stage.source)
        return StageHeader(stage.name, stage.spec.plugin, stage.spec.distribution, stage.spec.version)

    def _progress(self, items: Iterable[Any] | None, stage: _Stage, total: int) -> Any:
        if not self.progress:
            return items
        from tqdm.auto import tqdm

        return tqdm(items, total=total, desc=f"stage {stage.index} {stage.name}", unit="image", leave=False)

    def _fail(self, stage: _Stage, what: str, exc: Exception) -> PluginError:
        return PluginError(
            f"{stage.kind} {stage.name!r} from {stage.source} failed {what}: {type(exc).__name__}: {exc}"
        )

    def _annotate_all(
        self,
        stage: _Stage,
        arrays: list[np.ndarray],
        names: list[str],
        executor: Executor | None,
        store: Any = None,
        *,
        fitted: bool = False,
    ) -> list[np.ndarray]:
        key = f"{stage.index}-{stage.name}"
        if isinstance(stage.obj, FitsSet) and not fitted:  # set-level decisions (e.g. the channel), before any image
            try:
                fit_set(stage.obj, arrays, executor)
            except Exception as exc:
                if not stage.builtin:
                    raise self._fail(stage, "in fit()", exc) from exc
                if isinstance(exc, (ValueError, TypeError)):  # name the image the method cannot handle
                    for image, name in zip(arrays, names, strict=True):
                        self._annotate(stage, image, name)
                    raise type(exc)(f"{stage.kind} {stage.name!r} failed in fit() over the set: {exc}") from exc
                raise
        masks: list[np.ndarray | None] = [None] * len(arrays)
        if store is not None:
            masks = [store.load_mask(key, i, a.shape) for i, a in enumerate(arrays)]
        todo = [i for i, m in enumerate(masks) if m is None]
        if store is not None and len(todo) < len(arrays):
            log.info("stage %d %s: %d masks kept from before", stage.index, stage.name, len(arrays) - len(todo))

        def keep(index: int, mask: np.ndarray) -> None:
            masks[index] = mask
            if store is not None:
                store.save_mask(key, index, mask)

        if executor is None:
            for i in self._progress(todo, stage, len(todo)):
                keep(i, self._annotate(stage, arrays[i], names[i]))
            return masks  # type: ignore[return-value]
        parts = batches(todo, executor)  # the indices of the batches map_batches sends
        bar = self._progress(None, stage, len(todo)) if self.progress else None
        work = map_batches(executor, _annotate_batch, [arrays[i] for i in todo], stage.obj)
        for batch, outcomes in zip(parts, work, strict=True):
            for index, (ok, value) in zip(batch, outcomes, strict=False):
                if not ok:
                    raise self._annotate_error(stage, value, names[index]) from value
                keep(index, self._checked_masks(stage, [value], [arrays[index]], [names[index]])[0])
            if bar is not None:
                bar.update(len(outcomes))
        if bar is not None:
            bar.close()
        return masks  # type: ignore[return-value]

    def _annotate(self, stage: _Stage, image: np.ndarray, name: str) -> np.ndarray:
        try:
            mask = stage.obj.annotate(image)
        except Exception as exc:
            raise self._annotate_error(stage, exc, name) from exc
        return self._checked_masks(stage, [mask], [image], [name])[0]

    def _annotate_error(self, stage: _Stage, exc: Exception, name: str) -> Exception:
        if not stage.builtin:
            return self._fail(stage, f"on {name}", exc)
        if isinstance(exc, (ValueError, TypeError)):  # same type, with the image named
            return type(exc)(f"{stage.kind} {stage.name!r} failed on {name}: {exc}")
        return exc

    def _refine(
        self,
        stage: _Stage,
        images: list[np.ndarray],
        masks: list[np.ndarray],
        names: list[str],
        store: Any = None,
        fixed: dict[int, np.ndarray] | None = None,
        drawn: dict[int, np.ndarray] | None = None,
    ) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """One refiner stage's masks (and a network's probabilities). ``fixed`` holds the corrections by image
        index, ``drawn`` the input stage's own masks of those images (``masks`` holds the corrections there)."""
        obj = stage.obj
        trusted = sorted(fixed or {})
        key = f"{stage.index}-{stage.name}"
        try:
            if isinstance(obj, Network):
                model = store.model_path(key) if store is not None else None
                if model is not None and model.exists():
                    log.info(
                        "stage %d %s: trained network kept from before, loaded from '%s'",
                        stage.index,
                        stage.name,
                        model,
                    )
                    with unpacked(model) as inner:
                        obj = stage.obj = type(obj).load(inner)
                    proba = list(obj.predict_proba(images))
                else:
                    if trusted and accepts(obj.fit, "trusted"):
                        obj.fit(images, masks, trusted=trusted)
                    else:
                        obj.fit(images, masks)
                    proba = list(obj.predict_proba(images))
                    if fixed and drawn and getattr(obj, "validated_on_trusted", False):
                        judge_network(obj, proba, drawn, fixed, f"stage {stage.index} {stage.name}")
                    if model is not None:
                        save_stage(obj, model, self._header(stage))
                own = [(drawn or {}).get(i, m) for i, m in enumerate(masks)]  # not the corrections: see run()
                refined = [network_masks(obj, p, m) for p, m in zip(proba, own, strict=True)]
            else:
                proba = None
                kept = None if store is None else [store.load_mask(key, i, a.shape) for i, a in enumerate(images)]
                done = kept is not None and all(m is not None for m in kept)
                refined = kept if done else obj.refine(images, masks)
        except Exception as exc:
            if stage.builtin:
                raise
            raise self._fail(stage, "while refining", exc) from exc
        refined = self._checked_masks(stage, refined, images, names)
        if store is not None:
            for i, mask in enumerate(refined):
                store.save_mask(key, i, mask)
        return refined, proba

    def _checked_masks(self, stage: _Stage, masks: Any, images: list[np.ndarray], names: list[str]) -> list[np.ndarray]:
        masks = list(masks)
        if len(masks) != len(images):
            raise PluginError(
                f"{stage.kind} {stage.name!r} from {stage.source} returned {len(masks)} masks for {len(images)} images"
            )
        who = f"{stage.kind} {stage.name!r} from {stage.source}"
        return [check_stage_mask(m, i.shape, who=who, name=n) for m, i, n in zip(masks, images, names, strict=True)]
