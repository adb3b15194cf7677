"""The contract kit (bootseg.testing) on every built-in stage: each annotator in the registry and the U-Net."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from bootseg.annotators import BUILTIN_ANNOTATORS
from bootseg.plugins import Registry, make_plugin_manager
from bootseg.refiners import UNetRefiner
from bootseg.testing import INPUT_KINDS, AnnotatorContract, RefinerContract, make_input

BUILTINS = Registry(make_plugin_manager(load_entrypoints=False))
ANNOTATOR_NAMES = BUILTINS.names("annotator")


def test_every_builtin_annotator_is_covered():
    assert set(ANNOTATOR_NAMES) == set(BUILTIN_ANNOTATORS)


class TestBuiltinAnnotators(AnnotatorContract):
    """The whole annotator kit, once per registered built-in name."""

    @pytest.fixture(params=ANNOTATOR_NAMES)
    def new_stage(self, request):
        return lambda: BUILTINS.create("annotator", request.param)


class TestOtsuWithOptions(AnnotatorContract):
    """The kit's ``factory``/``options`` route, with every shared option switched on."""

    factory = BUILTIN_ANNOTATORS["otsu"]
    options: ClassVar[dict] = {"polarity": "dark", "median": 3, "largest_component": True, "min_size": 4}


class TestKMeansColourByName(AnnotatorContract):
    """The kit's ``stage_name`` route, on the colour k-means."""

    stage_name = "kmeans"
    options: ClassVar[dict] = {"color": True, "seed": 3}

    def registry(self):
        return BUILTINS


@pytest.mark.slow
class TestUNet(RefinerContract):
    factory = UNetRefiner

    def fast_options(self):
        return {
            "size": 32,
            "base_channels": 4,
            "depth": 2,
            "epochs": 1,
            "batch_size": 4,
            "progress": False,
            "device": "cpu",
            "seed": 0,
        }


# -- the kit itself: its inputs are what it says, and it catches what it should ---------------------------------


@pytest.mark.parametrize("kind", list(INPUT_KINDS))
def test_make_input_has_the_promised_shape_dtype_and_range(kind):
    shape, dtype, (low, high) = INPUT_KINDS[kind]
    image = make_input(kind)
    assert image.shape == shape and image.dtype == np.dtype(dtype)
    assert low <= image.min() < image.max() <= high
    np.testing.assert_array_equal(image, make_input(kind))


class _InPlace:
    def annotate(self, image):
        image[...] = 0
        return np.zeros(image.shape[:2], bool)


class _WrongDtype:
    def annotate(self, image):
        return np.zeros(np.asarray(image).shape[:2], np.uint8)


def _run_kit_test(kit, method, **kwargs):
    getattr(kit(), method)(kit().make_stage, **kwargs)


def test_kit_catches_in_place_modification():
    class Kit(AnnotatorContract):
        factory = _InPlace

    with pytest.raises(AssertionError, match=r"modified its input image\[0\] in place"):
        _run_kit_test(Kit, "test_does_not_modify_input", kind="grey-uint8")


def test_kit_catches_wrong_dtype_and_missing_validation():
    class Kit(AnnotatorContract):
        factory = _WrongDtype

    with pytest.raises(AssertionError, match=r"must have dtype bool, got uint8"):
        _run_kit_test(Kit, "test_returns_bool_mask_of_image_size", kind="rgb-uint8")
    with pytest.raises(pytest.fail.Exception, match=r"DID NOT RAISE"):
        _run_kit_test(Kit, "test_rejects_nan", dtype="float32")


def test_kit_without_a_factory_says_what_to_set():
    with pytest.raises(NotImplementedError, match=r"must set factory = MyStage"):
        AnnotatorContract().make_stage()


def test_importing_bootseg_does_not_import_pytest_or_the_kit():
    import subprocess
    import sys

    code = (
        "import sys, bootseg; bootseg.available_annotators(); "
        "print('pytest' in sys.modules, 'bootseg.testing' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["False", "False"]
