"""What :meth:`bootseg.BootstrapChain.run` returns: each stage's masks (and probabilities) over all images."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .inputs import BadInput

__all__ = ["ChainResult", "StageResult", "StageResults"]


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
    skipped : list of BadInput
        Inputs left out because they could not be used (``run(..., skip_bad=True)``).
    constant : list of str
        Names of images whose pixels all have one value.
    corrected : list of str
        Names of the images given a corrected mask (``run(..., corrections=...)``): their masks are the
        corrections at every stage.
    first_stage_choice : FirstStageChoice or None
        How the corrections chose the first stage (only when it is ``auto`` and corrections were given).
    stacks : list of Stack
        The files read as stacks (:mod:`bootseg.stacks`); their planes are among the images, and
        :meth:`stack_masks` gives their final masks as one array each.
    rounds : Rounds or None
        With ``BootstrapChain(..., stable=...)``: each network stage's change to its input's masks and the stages
        not run once they had stopped changing (:class:`bootseg.rounds.Rounds`).

    Examples
    --------
    >>> mask = np.ones((2, 2), bool)
    >>> result = ChainResult(["a"], StageResults([StageResult(0, "otsu", "annotator", [mask], None, 0.1, None)]))
    >>> result.masks[0].shape, result.timings
    ((2, 2), {'0-otsu': 0.1})
    """

    names: list[str]
    stages: StageResults
    skipped: list[BadInput] = field(default_factory=list)
    constant: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)
    first_stage_choice: Any = None
    stacks: list[Any] = field(default_factory=list)
    rounds: Any = None

    def stack_masks(self, name: str) -> np.ndarray:
        """The final masks of the stack ``name`` (its file's stem): uint8 0/255, the stack's plane shape then
        ``(H, W)`` (:func:`bootseg.stacks.stack_masks`)."""
        from .stacks import stack_masks

        stacks = {stack.name: stack for stack in self.stacks}
        if name not in stacks:
            known = ", ".join(sorted(stacks)) or "none"
            raise KeyError(f"no stack named {name!r} among the inputs (stacks: {known})")
        where = {image: i for i, image in enumerate(self.names)}
        return stack_masks(stacks[name], [self.masks[where[plane]] for plane in stacks[name].names])

    @property
    def masks(self) -> list[np.ndarray]:
        """The last stage's bool ``(H, W)`` masks, one per image."""
        return self.stages[len(self.stages) - 1].masks

    @property
    def timings(self) -> dict[str, float]:
        """Seconds per stage, by stage key."""
        return {r.key: r.seconds for r in self.stages.values()}
