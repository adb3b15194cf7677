from __future__ import annotations

import numpy as np
import pytest
from conftest import mean_dice

from bootseg import BootstrapChain, hookimpl
from bootseg.errors import PluginError, UnknownStageError
from bootseg.plugins import Registry, make_plugin_manager

FAST_UNET = {"size": 64, "base_channels": 8, "depth": 3, "epochs": 40, "batch_size": 8}
TINY_UNET = {"size": 32, "base_channels": 4, "depth": 2, "epochs": 1, "batch_size": 8}


def test_otsu_then_unet_beats_otsu_by_a_tenth(spheroids):
    images, truth = spheroids
    # about 15 s on 2 quiet CPU cores (see `pytest --durations`); speed itself is measured by benchmarks/
    # every pixel the network's (confident=0.5), as in the paper: the network's own gain past its teacher
    unet = {**FAST_UNET, "confident": 0.5}
    result = BootstrapChain(["otsu", ("unet", unet)], device="cpu", progress=False).run(images)
    otsu, unet = mean_dice(result.stages["otsu"].masks, truth), mean_dice(result.masks, truth)
    assert unet >= otsu + 0.10, f"otsu {otsu:.3f} → unet {unet:.3f}"


def test_three_stage_chain_keeps_every_stage(spheroids):
    images, _ = spheroids
    chain = BootstrapChain(["kmeans", ("unet", TINY_UNET), ("unet", TINY_UNET)], device="cpu", progress=False)
    result = chain.run(images[:8])
    assert list(result.stages) == ["0-kmeans", "1-unet", "2-unet"]
    assert result.stages[2].masks is result.masks
    assert result.stages["1-unet"].proba is not None and result.stages["kmeans"].proba is None
    assert all(m.shape == im.shape[:2] and m.dtype == bool for m, im in zip(result.masks, images))
    assert set(result.timings) == {"0-kmeans", "1-unet", "2-unet"}
    with pytest.raises(KeyError, match=r"stage name 'unet' is used 2 times; use one of the keys 0-kmeans, 1-unet"):
        result.stages["unet"]
    with pytest.raises(KeyError, match="no stage 'otsu' in this result"):
        result.stages["otsu"]
    # the second network learned from the first network's masks
    assert chain.stages[2].model is not chain.stages[1].model


def test_a_single_annotator_is_a_valid_chain(spheroids):
    images, _ = spheroids
    chain = BootstrapChain(["otsu"])
    result = chain.run(images[:3])
    from bootseg import get_annotator

    otsu = get_annotator("otsu")
    for m, im in zip(result.masks, images):
        np.testing.assert_array_equal(m, otsu.annotate(im))
    np.testing.assert_array_equal(chain.predict(images[:1])[0], result.masks[0])


def test_predict_labels_new_images_after_run(spheroids):
    images, _ = spheroids
    chain = BootstrapChain(["otsu", ("unet", TINY_UNET)], device="cpu", progress=False)
    with pytest.raises(RuntimeError, match=r"is not trained; call chain.run\(images\) first"):
        chain.predict(images[:2])
    result = chain.run(images[:8])
    new = chain.predict(images[8:10])
    assert [m.shape for m in new] == [im.shape for im in images[8:10]]
    # the run's masks keep the first stage where the network is unsure; new images take its threshold
    np.testing.assert_array_equal(chain.predict(images[:1])[0], result.stages["unet"].proba[0] > 0.5)


def test_options_are_passed_and_device_seed_injected():
    chain = BootstrapChain(["otsu", ("unet", {"epochs": 3})], device="cpu", seed=5, progress=False)
    unet = chain.stages[1]
    assert (unet.config.epochs, unet.config.device, unet.config.seed, unet.config.progress) == (
        3,
        "cpu",
        5,
        False,
    )
    explicit = BootstrapChain(["otsu", ("unet", {"seed": 9})], seed=5)
    assert explicit.stages[1].config.seed == 9


@pytest.mark.parametrize(
    ("stages", "error", "match"),
    [
        ([], ValueError, r"stages is empty; give at least a first stage"),
        ("otsu", TypeError, r"stages must be a list such as \['otsu', 'unet'\].*did you mean \['otsu'\]"),
        (["unet"], ValueError, r"stage 0 'unet' is a refiner, but the first stage must be an annotator"),
        (
            ["otsu", "kmeans"],
            ValueError,
            r"stage 1 'kmeans' is an annotator, but only the first stage may be",
        ),
        (["otsuu"], UnknownStageError, r"stage 0: unknown annotator 'otsuu'; known annotators: .*otsu"),
        (["otsu", "resnet"], UnknownStageError, r"stage 1: unknown refiner 'resnet'; known refiners: unet"),
        (["otsu", ("unet", 3)], TypeError, r"stage 1 'unet': options must be a dict, got 3"),
        ([42], TypeError, r"stage 0 is 42; the first stage must be an annotator"),
        (["otsu", ("unet", {"epoch": 3})], TypeError, r"unknown unet option\(s\) epoch"),
        (["otsu", ("unet", {"size": 100})], ValueError, r"size 100 is not divisible by 2\*\*depth"),
    ],
)
def test_stage_list_is_validated_up_front(stages, error, match):
    with pytest.raises(error, match=match):
        BootstrapChain(stages)


class Darker:
    name = "darker"

    def annotate(self, image):
        return image < image.mean()


class Dilate:
    def refine(self, images, masks):
        from scipy import ndimage

        return [ndimage.binary_dilation(m) for m in masks]


def test_stage_objects_can_be_given_directly(spheroids):
    images, _ = spheroids
    result = BootstrapChain([Darker(), Dilate()]).run(images[:4])
    assert list(result.stages) == ["0-darker", "1-dilate"]
    first = result.stages[0].masks[0]
    assert result.masks[0].sum() > first.sum()


def test_input_kinds(tmp_path, spheroids):
    from bootseg.io import write_image

    images, _ = spheroids
    for i, im in enumerate(images[:3]):
        write_image(tmp_path / f"cell {i}.png", im)
    chain = BootstrapChain(["otsu"])
    from_folder = chain.run(tmp_path)
    assert from_folder.names == ["cell 0", "cell 1", "cell 2"]
    from_list = chain.run(images[:3])
    assert from_list.names == ["image-0000", "image-0001", "image-0002"]
    from_iter = chain.run(im for im in images[:3])
    for a, b, c in zip(from_folder.masks, from_list.masks, from_iter.masks):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(b, c)
    with pytest.raises(TypeError, match=r"wrap a single image in a list: \[image\]"):
        chain.run(images[0])
    with pytest.raises(ValueError, match="images is empty"):
        chain.run([])
    with pytest.raises(ValueError, match=r"images\[1\]: must be \(H, W\) or \(H, W, C\)"):
        chain.run([images[0], np.zeros(5)])
    with pytest.raises(FileNotFoundError, match="missing"):
        chain.run(tmp_path / "missing")


class Exploding:
    def annotate(self, image):
        raise ZeroDivisionError("bad luck")


class WrongShape:
    def refine(self, images, masks):
        return [m[:-1] for m in masks]


class Plugin:
    @hookimpl
    def register_annotators(self, register):
        register("exploding", Exploding)

    @hookimpl
    def register_refiners(self, register):
        register("wrongshape", WrongShape)


def test_failures_inside_third_party_stages_name_the_plugin(spheroids):
    images, _ = spheroids
    registry = Registry(make_plugin_manager(load_entrypoints=False))
    name = registry.register_plugin(Plugin(), name="acme-plugin")
    try:
        with pytest.raises(
            PluginError,
            match=r"annotator 'exploding' from acme-plugin failed on image-0000: "
            r"ZeroDivisionError: bad luck",
        ):
            BootstrapChain(["exploding"], registry=registry).run(images[:2])
        with pytest.raises(
            PluginError,
            match=r"refiner 'wrongshape' from acme-plugin returned a mask of shape "
            r"\(63, 64\) for image-0000 of shape \(64, 64\)",
        ):
            BootstrapChain(["otsu", "wrongshape"], registry=registry).run(images[:2])
    finally:
        registry.unregister_plugin(name)


def test_names_are_used_in_the_result_and_in_errors(spheroids):
    images, _ = spheroids
    chain = BootstrapChain(["otsu"])
    assert chain.run(images[:2], names=["a", "b"]).names == ["a", "b"]
    with pytest.raises(ValueError, match="got 2 images but 1 names; give one name per image"):
        chain.run(images[:2], names=["a"])
    flat = np.zeros((8, 8), np.uint8)
    flat[0, 0] = 1  # two grey levels: too few for three classes
    with pytest.raises(ValueError, match=r"annotator 'multiotsu' failed on 'flat.png': .*classes"):
        BootstrapChain([("multiotsu", {"classes": 3})]).run([images[0], flat], names=["ok.png", "'flat.png'"])


def test_half_a_network_is_not_a_later_stage():
    """fit, predict_proba, save and load without refine, threshold or describe is neither a refiner nor a network:
    refused when the chain is built, not when it would call refine()."""

    class Half:
        def fit(self, images, masks):
            return self

        def predict_proba(self, images):
            return [np.zeros(im.shape[:2], np.float32) for im in images]

        def save(self, path):
            return path

        @classmethod
        def load(cls, path, *, device=None):
            return cls()

    with pytest.raises(TypeError, match=r"stage 1 is .*Half.*every later stage must be a refiner"):
        BootstrapChain(["otsu", Half()])
