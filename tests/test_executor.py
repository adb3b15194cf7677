"""BootstrapChain.run(executor=...) and predict(executor=...): the same masks through a local process pool."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
from scipy.ndimage import binary_fill_holes
from skimage.filters import threshold_otsu

from bootseg import BootstrapChain
from bootseg.datasets import synthetic_spheroids


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver")) as executor:
        yield executor


def test_first_stage_through_a_process_pool_gives_the_same_masks(pool):
    images, _ = synthetic_spheroids(24, size=32, seed=4)
    chain = BootstrapChain([("otsu", {"polarity": "bright"})], progress=False)
    pooled = chain.run(images, executor=pool)
    for image, mask in zip(images, pooled.masks):
        reference = binary_fill_holes(image > threshold_otsu(image))  # otsu fills holes by default
        np.testing.assert_array_equal(mask, reference)
    assert pooled.names == [f"image-{i:04d}" for i in range(24)]


def test_predict_with_a_trained_network_through_a_process_pool(pool):
    images, _ = synthetic_spheroids(10, size=32, seed=5)
    chain = BootstrapChain(["otsu", ("unet", {"size": 32, "epochs": 1, "base_channels": 4})], progress=False)
    chain.run(images)
    for a, b in zip(chain.predict(images), chain.predict(images, executor=pool)):
        np.testing.assert_array_equal(a, b)


def test_a_forked_pool_is_refused_for_a_network_before_it_can_hang():
    images, _ = synthetic_spheroids(4, size=32, seed=5)
    chain = BootstrapChain(["otsu", ("unet", {"size": 32, "epochs": 1, "base_channels": 4})], progress=False)
    chain.run(images)
    with (
        ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as forked,
        pytest.raises(ValueError, match=r"PyTorch in a worker process started with 'fork' can hang; create the pool"),
    ):
        chain.predict(images, executor=forked)


def test_an_error_in_a_worker_names_the_image():
    images, _ = synthetic_spheroids(6, size=24, seed=6)
    images[4] = np.zeros((24, 24), np.uint8)
    images[4][:12] = 1  # two grey levels: three classes cannot be found
    chain = BootstrapChain(["multiotsu"], progress=False)
    expected = r"annotator 'multiotsu' failed on image-0004: multiotsu with classes=3 needs at least 3 distinct"
    with ThreadPoolExecutor(2) as executor, pytest.raises(ValueError, match=expected):
        chain.run(images, executor=executor)


def test_cli_first_stage_in_worker_processes_writes_the_same_masks(tmp_path, capsys):
    from bootseg.cli import main
    from bootseg.io import read_mask, write_image

    images, _ = synthetic_spheroids(6, size=24, seed=7)
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(images):
        write_image(folder / f"{i}.png", image)
    for workers in ("1", "2"):
        assert (
            main(["run", str(folder), "--out", str(tmp_path / workers), "--chain", "otsu", "--workers", workers]) == 0
        )
    for i in range(6):
        np.testing.assert_array_equal(
            read_mask(tmp_path / "1" / "masks" / f"{i}.png"), read_mask(tmp_path / "2" / "masks" / f"{i}.png")
        )
