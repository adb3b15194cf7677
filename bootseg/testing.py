"""A contract test kit for stages: every annotator and refiner, built-in or plugin, passes the same checks.

Subclass :class:`AnnotatorContract` or :class:`RefinerContract` in a test module (name the subclass ``Test...``
so that pytest collects it) and say how to build the stage: set ``factory`` (a class or callable) and
``options`` (its keyword options), or ``stage_name`` (a registered name), or override :meth:`make_stage`::

    from bootseg.testing import AnnotatorContract, RefinerContract

    class TestMyThreshold(AnnotatorContract):
        factory = MyThreshold
        options = {"level": 0.3}

    class TestMyNet(RefinerContract):
        factory = MyNetRefiner

        def fast_options(self):
            return {"epochs": 1, "size": 32}   # tiny training settings, so the kit stays fast

The checks (each a ``test_*`` method, so one failure names the broken promise): the stage satisfies its protocol;
it returns an ``(H, W)`` bool mask for every input kind (grey uint8, uint16, float32/float64 in [0, 1] and in an
arbitrary range, RGB and RGBA uint8, odd sizes such as 17 × 23); it is deterministic; it leaves its inputs
unmodified; it refuses a 1-D image and one holding NaN with a :class:`ValueError` whose message says what was wrong;
a constant image gives a mask or a clear :class:`ValueError`, never another exception. Refiners also return one
mask per image, each of its image's size, for a set of mixed sizes, and refuse a length mismatch, a mask of the
wrong size and an empty set with a :class:`ValueError`. A network stage (:class:`~bootseg.protocols.Network`) is
checked the way the chain uses it (``fit``, then its maps above its ``threshold``), and also: maps in [0, 1] for
new images, a save and load round trip through a bootseg stage file, pickling, and its threshold honoured.

Every check runs on tiny images (at most 32 × 32), so a kit runs in seconds. A check that does not apply to a
stage can be switched off in the subclass the pytest way: ``test_is_deterministic = None``.

Importing this module imports pytest; importing :mod:`bootseg` does not import this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import pytest

from .description import StageDescription
from .images import describe
from .plugins import Registry, default_registry
from .protocols import Annotator, Network, Refiner, satisfies

__all__ = ["INPUT_KINDS", "AnnotatorContract", "RefinerContract", "make_input", "make_noisy_mask"]

#: The input kinds every stage must accept, by id: ``(shape, dtype, value range)``.
INPUT_KINDS: dict[str, tuple[tuple[int, ...], str, tuple[float, float]]] = {
    "grey-uint8": ((24, 24), "uint8", (0, 255)),
    "grey-uint16": ((24, 24), "uint16", (0, 65535)),
    "grey-float32-unit": ((24, 24), "float32", (0.0, 1.0)),
    "grey-float64-unit": ((24, 24), "float64", (0.0, 1.0)),
    "grey-float32-range": ((24, 24), "float32", (-350.0, 1200.0)),
    "grey-float64-range": ((24, 24), "float64", (-3.5e4, 2.0e5)),
    "rgb-uint8": ((24, 24, 3), "uint8", (0, 255)),
    "rgba-uint8": ((24, 24, 4), "uint8", (0, 255)),
    "rgb-float32-unit": ((24, 24, 3), "float32", (0.0, 1.0)),
    "odd-17x23": ((17, 23), "uint8", (0, 255)),
    "odd-23x17-rgb": ((23, 17, 3), "uint8", (0, 255)),
    "odd-5x7": ((5, 7), "uint8", (0, 255)),
}


def make_input(kind: str, *, seed: int = 0) -> np.ndarray:
    """A small test image of one of the :data:`INPUT_KINDS`: a bright disc on a darker, noisy background.

    Parameters
    ----------
    kind : str
        A key of :data:`INPUT_KINDS` (``"grey-uint8"``, ``"rgb-uint8"``, ...).
    seed : int
        Seed of the noise and of the disc's position.

    Returns
    -------
    (H, W) or (H, W, C) ndarray
        Of the kind's shape and dtype, spanning (most of) its value range; in colour the disc is reddish on a
        pale background, as a stained object on bright-field; an alpha channel is opaque.

    Examples
    --------
    >>> image = make_input("odd-17x23")
    >>> image.shape, image.dtype
    ((17, 23), dtype('uint8'))
    """
    if kind not in INPUT_KINDS:
        raise ValueError(f"unknown input kind {kind!r}; known kinds: {', '.join(INPUT_KINDS)}")
    shape, dtype, (low, high) = INPUT_KINDS[kind]
    rng = np.random.default_rng([seed, len(kind)])
    height, width = shape[:2]
    yy, xx = np.mgrid[:height, :width]
    cy = height / 2 + rng.uniform(-0.1, 0.1) * height
    cx = width / 2 + rng.uniform(-0.1, 0.1) * width
    radius = 0.3 * min(height, width)
    disc = ((yy - cy) ** 2 + (xx - cx) ** 2) <= radius**2
    unit = np.where(disc, 0.75, 0.25) + rng.normal(0.0, 0.05, (height, width))
    unit = np.clip(unit, 0.0, 1.0)
    if len(shape) == 3:
        tint = np.stack([np.ones_like(unit), 1.0 - 0.6 * disc, 1.0 - 0.4 * disc], axis=-1)
        colour = np.clip(0.3 + 0.6 * (1.0 - disc[..., None] * 0.5) * tint + 0.1 * unit[..., None], 0.0, 1.0)
        if shape[2] == 4:
            colour = np.concatenate([colour, np.ones((height, width, 1))], axis=-1)
        unit = colour
    values = low + unit * (high - low)
    if np.dtype(dtype).kind in "ui":
        values = np.rint(values)
    return values.astype(dtype)


def make_noisy_mask(image: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """A noisy first-stage mask for ``image``: above its mean grey value, with 5 % of the pixels flipped.

    Parameters
    ----------
    image : (H, W) or (H, W, C) ndarray
    seed : int

    Returns
    -------
    (H, W) ndarray of bool

    Examples
    --------
    >>> make_noisy_mask(make_input("grey-uint8")).dtype
    dtype('bool')
    """
    grey = image.astype(np.float64)
    if grey.ndim == 3:
        grey = grey[..., :3].mean(axis=-1)
    mask = grey > grey.mean()
    flip = np.random.default_rng(seed).random(mask.shape) < 0.05
    return mask ^ flip


def _snapshot(arrays: list[np.ndarray]) -> list[np.ndarray]:
    return [np.array(a, copy=True) for a in arrays]


def _assert_unchanged(before: list[np.ndarray], after: list[np.ndarray], what: str) -> None:
    for i, (old, new) in enumerate(zip(before, after, strict=True)):
        if old.dtype != new.dtype or old.shape != new.shape or not np.array_equal(old, new, equal_nan=True):
            raise AssertionError(f"the stage modified its input {what}[{i}] in place ({describe(old)})")


def _assert_mask(mask: Any, shape: tuple[int, ...], what: str) -> None:
    if not isinstance(mask, np.ndarray):
        raise AssertionError(f"{what} must be a NumPy array, got {type(mask).__name__}")
    if mask.dtype != bool:
        raise AssertionError(f"{what} must have dtype bool, got {mask.dtype}")
    if mask.shape != tuple(shape[:2]):
        raise AssertionError(f"{what} has shape {mask.shape}; expected {tuple(shape[:2])}, its image's (H, W)")


class _StageContract:
    """What both kits share: how the stage is built."""

    #: A class or callable that builds the stage from keyword options.
    factory: ClassVar[Callable[..., Any] | None] = None
    #: Keyword options for ``factory`` (or for the registered ``stage_name``).
    options: ClassVar[Mapping[str, Any]] = {}
    #: A registered stage name, used when ``factory`` is not set.
    stage_name: ClassVar[str | None] = None
    #: A regular expression the message of a 1-D image's ValueError must match.
    shape_message: ClassVar[str] = r"(?i)shape|dimension|ndim|\(H, ?W"
    #: A regular expression the message of a NaN image's ValueError must match.
    nan_message: ClassVar[str] = r"(?i)nan|finite"
    _kind: ClassVar[str] = "annotator"

    def registry(self) -> Registry:
        """The registry ``stage_name`` is looked up in (the default registry)."""
        return default_registry()

    def stage_options(self) -> dict[str, Any]:
        """The keyword options the stage is built with (``options``)."""
        return dict(self.options)

    def make_stage(self, **extra: Any) -> Any:
        """Build a fresh stage: ``factory(**stage_options())``, or the registered ``stage_name`` with them
        (``extra`` options over them)."""
        options = {**self.stage_options(), **extra}
        if self.factory is not None:
            return type(self).factory(**options)  # type: ignore[misc]
        if self.stage_name is not None:
            return self.registry().create(self._kind, self.stage_name, **options)  # type: ignore[arg-type]
        raise NotImplementedError(
            f"{type(self).__name__} must set factory = MyStage (or stage_name = 'registered_name'), "
            "or override make_stage()"
        )

    @pytest.fixture
    def new_stage(self) -> Callable[[], Any]:
        """A zero-argument callable that builds a fresh stage; override it (e.g. parametrised) to test many."""
        return self.make_stage


class AnnotatorContract(_StageContract):
    """Checks every :class:`~bootseg.protocols.Annotator` must pass; subclass it as ``TestMyAnnotator``.

    Set ``factory`` and ``options``, or ``stage_name``, or override :meth:`make_stage` (or the ``new_stage``
    fixture, e.g. parametrised over several stages).

    Examples
    --------
    >>> from bootseg.annotators import Otsu
    >>> class TestOtsu(AnnotatorContract):
    ...     factory = Otsu
    ...     options = {"polarity": "bright"}
    >>> TestOtsu().make_stage()  # doctest: +NORMALIZE_WHITESPACE
    Otsu(polarity='bright', median=0, largest_component=False, fill_holes=True, min_size=0, neck=0.0,
         channel='grey')
    """

    _kind = "annotator"

    def test_satisfies_protocol(self, new_stage: Callable[[], Any]) -> None:
        """The stage has a callable ``annotate`` method."""
        stage = new_stage()
        assert isinstance(stage, Annotator), f"{stage!r} has no annotate() method"

    @pytest.mark.parametrize("kind", list(INPUT_KINDS))
    def test_returns_bool_mask_of_image_size(self, new_stage: Callable[[], Any], kind: str) -> None:
        """Every input kind gives an ``(H, W)`` bool ndarray."""
        image = make_input(kind)
        _assert_mask(new_stage().annotate(image), image.shape, f"annotate() on a {kind} image")

    def test_accepts_single_channel_3d(self, new_stage: Callable[[], Any]) -> None:
        """An ``(H, W, 1)`` image gives an ``(H, W)`` mask, the same as its ``(H, W)`` form."""
        image = make_input("grey-uint8")
        stage = new_stage()
        mask = stage.annotate(image[:, :, None])
        _assert_mask(mask, image.shape, "annotate() on an (H, W, 1) image")
        np.testing.assert_array_equal(mask, stage.annotate(image))

    def test_accepts_non_contiguous_views(self, new_stage: Callable[[], Any]) -> None:
        """A strided view (every second column) is segmented like its contiguous copy."""
        image = make_input("rgb-uint8")[:, ::2]
        stage = new_stage()
        mask = stage.annotate(image)
        _assert_mask(mask, image.shape, "annotate() on a strided view")
        np.testing.assert_array_equal(mask, stage.annotate(np.ascontiguousarray(image)))

    @pytest.mark.parametrize("kind", ["grey-uint8", "rgb-uint8", "grey-float64-range"])
    def test_is_deterministic(self, new_stage: Callable[[], Any], kind: str) -> None:
        """The same image gives the same mask, from the same stage and from a second one built alike."""
        image = make_input(kind, seed=3)
        first = new_stage()
        mask = first.annotate(image)
        np.testing.assert_array_equal(mask, first.annotate(image), err_msg="a second call gave another mask")
        np.testing.assert_array_equal(mask, new_stage().annotate(image), err_msg="a second stage gave another mask")

    @pytest.mark.parametrize("kind", ["grey-uint8", "grey-float32-range", "rgba-uint8"])
    def test_does_not_modify_input(self, new_stage: Callable[[], Any], kind: str) -> None:
        """``annotate`` leaves its image as it was."""
        image = make_input(kind)
        before = _snapshot([image])
        new_stage().annotate(image)
        _assert_unchanged(before, [image], "image")

    def test_rejects_1d_image(self, new_stage: Callable[[], Any]) -> None:
        """A 1-D array is refused with a ValueError that names the shape."""
        with pytest.raises(ValueError, match=self.shape_message):
            new_stage().annotate(np.linspace(0.0, 1.0, 16))

    @pytest.mark.parametrize("dtype", ["float32", "float64"])
    def test_rejects_nan(self, new_stage: Callable[[], Any], dtype: str) -> None:
        """An image holding NaN is refused with a ValueError that says so."""
        image = make_input("grey-float64-unit").astype(dtype)
        image[3, 4] = np.nan
        with pytest.raises(ValueError, match=self.nan_message):
            new_stage().annotate(image)

    @pytest.mark.parametrize(
        "image",
        [np.zeros((16, 16), np.uint8), np.full((16, 16), 7.5), np.full((12, 9, 3), 200, np.uint8)],
        ids=["zeros-uint8", "constant-float", "constant-rgb"],
    )
    def test_constant_image_gives_mask_or_value_error(self, new_stage: Callable[[], Any], image: np.ndarray) -> None:
        """A constant image gives an ``(H, W)`` bool mask, or a ValueError with a message; nothing else."""
        try:
            mask = new_stage().annotate(image)
        except ValueError as exc:
            assert str(exc), "the ValueError for a constant image has no message"
            return
        _assert_mask(mask, image.shape, "annotate() on a constant image")


class RefinerContract(_StageContract):
    """Checks every :class:`~bootseg.protocols.Refiner` must pass; subclass it as ``TestMyRefiner``.

    Set ``factory`` and ``options`` (or ``stage_name``), and override :meth:`fast_options` to return tiny
    training settings (few epochs, a small network), which take precedence over ``options``.

    Examples
    --------
    >>> from bootseg.refiners import UNetRefiner
    >>> class TestUNet(RefinerContract):
    ...     factory = UNetRefiner
    ...     def fast_options(self):
    ...         return {"size": 32, "base_channels": 4, "depth": 2, "epochs": 1, "progress": False}
    >>> TestUNet().stage_options()["epochs"]
    1
    """

    _kind = "refiner"
    #: Image sizes of the mixed-size training set (grey uint8).
    sizes: ClassVar[tuple[tuple[int, int], ...]] = ((24, 24), (17, 23), (32, 20), (20, 28))

    def fast_options(self) -> dict[str, Any]:
        """Options that make the stage quick on tiny images (override it; merged over ``options``)."""
        return {}

    def stage_options(self) -> dict[str, Any]:
        """``options`` updated with :meth:`fast_options`."""
        return {**self.options, **self.fast_options()}

    def make_set(self, kind: str = "grey-uint8", *, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Four images and noisy masks; for ``"mixed"`` (the default) grey uint8 images of :attr:`sizes`."""
        if kind == "mixed":
            images = []
            for i, (h, w) in enumerate(self.sizes):
                base = make_input("grey-uint8", seed=seed + i).astype(np.float64)
                rows = np.linspace(0, base.shape[0] - 1, h).round().astype(int)
                cols = np.linspace(0, base.shape[1] - 1, w).round().astype(int)
                images.append(base[np.ix_(rows, cols)].astype(np.uint8))
        else:
            images = [make_input(kind, seed=seed + i) for i in range(len(self.sizes))]
        masks = [make_noisy_mask(im, seed=seed + i) for i, im in enumerate(images)]
        return images, masks

    def _check_masks(self, masks: Any, images: list[np.ndarray], what: str) -> None:
        masks = list(masks)
        assert len(masks) == len(images), f"{what} returned {len(masks)} masks for {len(images)} images"
        for i, (mask, image) in enumerate(zip(masks, images, strict=True)):
            _assert_mask(mask, image.shape, f"{what} mask {i}")

    def test_satisfies_protocol(self, new_stage: Callable[[], Any]) -> None:
        """The stage has a callable ``refine`` method, or is a network stage (fit, predict_proba, save, load)."""
        stage = new_stage()
        assert satisfies(stage, Refiner), f"{stage!r} has no refine() method and is not a network stage"

    def test_one_mask_per_image_of_its_size(self, new_stage: Callable[[], Any]) -> None:
        """A set of mixed sizes gives one ``(H, W)`` bool mask per image, each of its image's size."""
        images, masks = self.make_set("mixed")
        self._check_masks(_refined(new_stage(), images, masks), images, "refine()")

    @pytest.mark.parametrize("kind", ["grey-uint16", "grey-float32-range", "rgb-uint8", "rgba-uint8"])
    def test_input_kinds(self, new_stage: Callable[[], Any], kind: str) -> None:
        """Sets of other dtypes and of colour images give bool masks of the images' sizes."""
        images, masks = self.make_set(kind)
        self._check_masks(_refined(new_stage(), images, masks), images, f"refine() on {kind} images")

    def test_accepts_uint8_masks(self, new_stage: Callable[[], Any]) -> None:
        """0/1 uint8 masks are accepted as well as bool ones."""
        images, masks = self.make_set("grey-uint8")
        self._check_masks(_refined(new_stage(), images, [m.astype(np.uint8) for m in masks]), images, "refine()")

    def test_is_deterministic(self, new_stage: Callable[[], Any]) -> None:
        """Two stages built with the same options (and seed) refine the same set into the same masks."""
        images, masks = self.make_set("mixed")
        first = _refined(new_stage(), images, masks)
        second = _refined(new_stage(), images, masks)
        for i, (a, b) in enumerate(zip(first, second, strict=True)):
            np.testing.assert_array_equal(a, b, err_msg=f"mask {i} differs between two identical runs")

    def test_does_not_modify_inputs(self, new_stage: Callable[[], Any]) -> None:
        """``refine`` leaves its images and masks as they were."""
        images, masks = self.make_set("mixed")
        images_before, masks_before = _snapshot(images), _snapshot(masks)
        _refined(new_stage(), images, masks)
        _assert_unchanged(images_before, images, "images")
        _assert_unchanged(masks_before, masks, "masks")

    def test_length_mismatch_is_value_error(self, new_stage: Callable[[], Any]) -> None:
        """More images than masks is refused with a ValueError that names both counts."""
        images, masks = self.make_set("grey-uint8")
        with pytest.raises(ValueError, match=rf"{len(images)}.*{len(masks) - 1}|{len(masks) - 1}.*{len(images)}"):
            _refined(new_stage(), images, masks[:-1])

    def test_wrong_mask_size_is_value_error(self, new_stage: Callable[[], Any]) -> None:
        """A mask of another size than its image is refused with a ValueError that names the shape."""
        images, masks = self.make_set("grey-uint8")
        masks[1] = masks[1][:-3]
        with pytest.raises(ValueError, match=self.shape_message):
            _refined(new_stage(), images, masks)

    def test_empty_set_is_value_error(self, new_stage: Callable[[], Any]) -> None:
        """No images at all is refused with a ValueError."""
        with pytest.raises(ValueError, match=r"."):
            _refined(new_stage(), [], [])

    def test_rejects_bad_images(self, new_stage: Callable[[], Any]) -> None:
        """A 1-D image or one holding NaN is refused with a ValueError that says what is wrong."""
        images, masks = self.make_set("grey-float64-unit")
        bad = [np.linspace(0.0, 1.0, 16), *images[1:]]
        with pytest.raises(ValueError, match=self.shape_message):
            _refined(new_stage(), bad, [np.zeros(16, bool), *masks[1:]])
        images[2] = images[2].copy()
        images[2][1, 1] = np.nan
        with pytest.raises(ValueError, match=self.nan_message):
            _refined(new_stage(), images, masks)

    def test_constant_images_give_masks_or_value_error(self, new_stage: Callable[[], Any]) -> None:
        """Constant images (with empty masks) give bool masks, or a ValueError with a message; nothing else."""
        images = [np.full(shape, 90, np.uint8) for shape in self.sizes]
        masks = [np.zeros(shape, bool) for shape in self.sizes]
        try:
            refined = _refined(new_stage(), images, masks)
        except ValueError as exc:
            assert str(exc), "the ValueError for constant images has no message"
            return
        self._check_masks(refined, images, "refine() on constant images")

    def _trained_network(self, new_stage: Callable[[], Any], **options: Any) -> tuple[Any, list[np.ndarray]]:
        stage = new_stage() if not options else self.make_stage(**options)
        if not isinstance(stage, Network):
            pytest.skip(f"{type(stage).__name__} is not a network stage; it refines only the images it is given")
        images, masks = self.make_set("mixed")
        stage.fit(images, masks)
        return stage, images

    def test_predict_labels_new_images(self, new_stage: Callable[[], Any]) -> None:
        """A trained network stage gives a probability map in [0, 1] for images it has not seen, of new sizes."""
        stage, _ = self._trained_network(new_stage)
        new_images = [make_input("grey-uint8", seed=40), make_input("odd-17x23", seed=41)]
        maps = list(stage.predict_proba(new_images))
        assert len(maps) == len(new_images), f"predict_proba() returned {len(maps)} maps for {len(new_images)} images"
        for i, (proba, image) in enumerate(zip(maps, new_images, strict=True)):
            proba = np.asarray(proba)
            assert proba.shape == image.shape[:2], f"predict_proba() map {i} is {proba.shape}, image {image.shape}"
            assert np.isfinite(proba).all() and proba.min() >= 0 and proba.max() <= 1, f"map {i} is not in [0, 1]"

    def test_network_save_load_round_trip(self, new_stage: Callable[[], Any], tmp_path: Any) -> None:
        """A trained network saved into a bootseg stage file and loaded back (as ``--resume`` and ``bootseg
        predict`` do) gives the same maps, threshold and options, and is a network stage again."""
        from .stagefile import StageHeader, save_stage, unpacked

        stage, images = self._trained_network(new_stage)
        path = save_stage(stage, tmp_path / "model-1-stage.pt", StageHeader("stage", "contract kit"))
        with unpacked(path) as inner:
            loaded = type(stage).load(inner, device="cpu")
        assert isinstance(loaded, Network), f"{type(stage).__name__}.load() returned {loaded!r}, not a network stage"
        for i, (a, b) in enumerate(zip(stage.predict_proba(images), loaded.predict_proba(images), strict=True)):
            np.testing.assert_allclose(a, b, atol=1e-5, err_msg=f"map {i} differs after save and load")
        assert loaded.threshold == stage.threshold, "the threshold changed through save and load"
        before, after = stage.describe(), loaded.describe()
        assert isinstance(after, StageDescription), f"describe() returned {after!r}, not a StageDescription"
        same = [k for k in before.options if k != "device" and before.options[k] == after.options.get(k)]
        assert len(same) == len(before.options) - ("device" in before.options), "options changed on the way"

    def test_network_pickles(self, new_stage: Callable[[], Any]) -> None:
        """A trained network pickles (an executor sends it to its workers) and predicts the same afterwards."""
        import pickle

        stage, images = self._trained_network(new_stage)
        copy = pickle.loads(pickle.dumps(stage))
        for i, (a, b) in enumerate(zip(stage.predict_proba(images), copy.predict_proba(images), strict=True)):
            np.testing.assert_allclose(a, b, atol=1e-6, err_msg=f"map {i} differs after pickling")

    def test_network_threshold_is_honoured(self, new_stage: Callable[[], Any]) -> None:
        """A network's masks in a chain are its maps above its ``threshold``; a ``threshold`` option (where the
        stage takes one) is that threshold; ``predict`` (where it has one) gives the chain's masks."""
        stage, images = self._trained_network(new_stage)
        assert isinstance(stage.threshold, float) and 0 < stage.threshold < 1, f"threshold is {stage.threshold!r}"
        try:
            other: Any = self._trained_network(new_stage, threshold=0.3)[0]
        except TypeError:  # the stage has no threshold option
            other = None
        if other is not None:
            assert other.threshold == 0.3, f"threshold=0.3 gave a stage with threshold {other.threshold!r}"
            stage = other
        from .stagework import predict_batch as _predict_batch

        masks = _predict_batch(stage, images)
        for i, (mask, proba) in enumerate(zip(masks, stage.predict_proba(images), strict=True)):
            np.testing.assert_array_equal(mask, np.asarray(proba) > stage.threshold, err_msg=f"mask {i}")
        if isinstance(stage, Predicts):
            for i, (a, b) in enumerate(zip(stage.predict(images), masks, strict=True)):
                np.testing.assert_array_equal(a, b, err_msg=f"predict() mask {i} differs from the chain's")


def _refined(stage: Any, images: Any, masks: Any) -> list[np.ndarray]:
    """The stage's masks as the chain makes them: a network's maps above its threshold, else ``refine``."""
    if isinstance(stage, Network):
        from .stagework import predict_batch as _predict_batch

        images = list(images)
        stage.fit(images, masks)
        return _predict_batch(stage, images)
    return stage.refine(images, masks)


@runtime_checkable
class Predicts(Protocol):
    """A network stage's optional ``predict``: its own masks, which must be the chain's."""

    def predict(self, images: Any) -> list[np.ndarray]: ...
