"""What a third-party stage hands back is checked, and what it is handed cannot be changed in place."""

from __future__ import annotations

import numpy as np
import pytest

from bootseg import BootstrapChain, hookimpl
from bootseg.errors import PluginError
from bootseg.plugins import Registry, make_plugin_manager

BAD_MASKS = {
    "strmask": (lambda image: np.full(image.shape[:2], "x"), r"a mask of dtype <U1 for image-0000"),
    "objmask": (lambda image: np.full(image.shape[:2], None, object), r"a mask of dtype object for image-0000"),
    "cplxmask": (lambda image: np.ones(image.shape[:2], np.complex64), r"a mask of dtype complex64 for image-0000"),
    "nanmask": (
        lambda image: np.where(np.arange(image.shape[1]) % 2, np.nan, 1.0) * np.ones(image.shape[:2]),
        r"a mask with \d+ NaN or infinite values for image-0000",
    ),
}


def _annotator(make):
    class Stage:
        def annotate(self, image):
            return make(image)

    return Stage


class Writer:
    """Writes into the image it is handed, and into the masks."""

    def annotate(self, image):
        image[0, 0] = 0
        return image > 0

    def refine(self, images, masks):
        masks[0][:] = True
        return masks


class Plugin:
    @hookimpl
    def register_annotators(self, register):
        for name, (make, _) in BAD_MASKS.items():
            register(name, _annotator(make))
        register("writer", Writer)

    @hookimpl
    def register_refiners(self, register):
        register("maskwriter", Writer)


@pytest.fixture
def registry():
    registry = Registry(make_plugin_manager(load_entrypoints=False))
    name = registry.register_plugin(Plugin(), name="acme-plugin")
    yield registry
    registry.unregister_plugin(name)


@pytest.mark.parametrize("stage", sorted(BAD_MASKS))
def test_a_mask_that_is_not_bool_or_finite_numbers_is_refused_naming_the_plugin(registry, spheroids, stage):
    images, _ = spheroids
    match = rf"annotator '{stage}' from acme-plugin returned " + BAD_MASKS[stage][1] + r".*bool"
    with pytest.raises(PluginError, match=match):
        BootstrapChain([stage], registry=registry).run(images[:2])


def test_a_stage_cannot_change_its_inputs_in_place(registry, spheroids):
    images, _ = spheroids
    before = [image.copy() for image in images[:2]]
    with pytest.raises(PluginError, match=r"annotator 'writer' from acme-plugin failed on image-0000: .*read-only"):
        BootstrapChain(["writer"], registry=registry).run(images[:2])
    with pytest.raises(PluginError, match=r"refiner 'maskwriter' from acme-plugin failed while refining: .*read-only"):
        BootstrapChain(["otsu", "maskwriter"], registry=registry).run(images[:2])
    for image, copy in zip(images[:2], before):
        np.testing.assert_array_equal(image, copy)
