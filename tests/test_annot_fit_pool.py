"""A first stage's set-level fit through an executor, and the pool the CLI starts for it."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

from bootseg import BootstrapChain
from bootseg.annotators import Auto, KMeans, MultiOtsu, Otsu
from bootseg.annotators.necks import split_at_necks
from bootseg.cli import common


def colour_cells(n: int = 12, size: int = 48, seed: int = 0) -> list[np.ndarray]:
    """Blue discs on yellow with grey noise: every colour channel varies, so ``auto`` has eight candidates."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = []
    for _ in range(n):
        cy, cx = rng.uniform(14, size - 14, 2)
        disc = np.hypot(yy - cy, xx - cx) < rng.uniform(6, 10)
        image = np.where(disc[..., None], [90, 120, 230.0], [210, 190, 80.0]) + rng.normal(0, 12, (size, size, 3))
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    return images


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver")) as executor:
        yield executor


def test_auto_fitted_through_a_process_pool_makes_the_same_choices(pool):
    images = colour_cells()
    serial = Auto().fit(images)
    pooled = Auto().fit(images, executor=pool)
    assert len(serial.candidate_scores) == 8  # grey, saturation, a, b × 2 and 3 classes
    assert pooled.choices() == serial.choices()
    assert pooled.candidate_scores == serial.candidate_scores  # the same floats, not merely close
    for image in images:
        np.testing.assert_array_equal(pooled.annotate(image), serial.annotate(image))


@pytest.mark.parametrize(
    "make",
    [
        lambda: Otsu(),
        lambda: Otsu(largest_component="auto", neck=0.5),
        lambda: Otsu(largest_component=True, neck=0.5),
        lambda: MultiOtsu(classes=3, polarity="auto", largest_component="auto"),
        lambda: KMeans(),
        lambda: Auto(classes=2, channel="grey"),
    ],
    ids=["otsu", "otsu-largest-auto", "otsu-largest", "multiotsu-3", "kmeans", "auto-fixed-classes"],
)
def test_a_fit_on_batches_of_images_in_workers_makes_the_same_choices(pool, make):
    images = [*colour_cells(n=10, seed=2), np.full((48, 48, 3), 90, np.uint8)]  # a constant image too
    serial = make().fit(images)
    pooled = make().fit(images, executor=pool)
    assert pooled.choices() == serial.choices()
    assert pooled.centred_share == serial.centred_share
    for image in images:
        np.testing.assert_array_equal(pooled.annotate(image), serial.annotate(image))


def test_a_bad_image_in_a_worker_raises_the_error_one_process_raises():
    images = colour_cells(n=6, seed=3)
    images[4] = images[4].astype(np.float32) * np.nan  # not finite: refused while fitting
    with pytest.raises(ValueError) as alone:
        Otsu().fit(images)
    with ThreadPoolExecutor(2) as executor, pytest.raises(ValueError, match=r"NaN|finite") as pooled:
        Otsu().fit(images, executor=executor)
    assert str(pooled.value) == str(alone.value)


def test_threads_sharing_one_stage_fit_each_candidate_on_its_own():
    # a thread pool does not pickle the stage: every candidate must set its options on a copy, not on the one
    # stage all threads share (two threads setting the number of classes would mix the candidates)
    two_levels = [np.tile(np.array([0, 255], np.uint8), (16, 8))] * 4  # a third class raises, the second must not
    images = colour_cells(n=4, size=32, seed=5)
    serial = Auto().fit(images)
    with ThreadPoolExecutor(8) as executor:
        for _ in range(20):
            assert Auto().fit(two_levels, executor=executor).classes == 2
            assert Auto().fit(images, executor=executor).candidate_scores == serial.candidate_scores


def test_a_candidate_dropped_in_a_worker_is_dropped_as_in_this_process():
    two_levels = [np.tile(np.array([0, 255], np.uint8), (16, 8))]  # no third class to find
    with ThreadPoolExecutor(2) as executor:
        fitted = Auto().fit(two_levels, executor=executor)
    assert fitted.classes == 2 and list(fitted.candidate_scores) == ["grey, 2 classes"]
    assert list(Auto().fit(two_levels).candidate_scores) == ["grey, 2 classes"]


def test_the_centred_share_counts_the_largest_piece_at_the_centre():
    # masks that miss the centre are not cut at necks during fit; the share must still be the plain count
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:64, :64]
    images = []
    for i in range(9):
        image = np.full((64, 64), 30.0)
        if i % 3:  # a large disc off the centre and, on some images, a smaller one on it, joined by a neck
            image[np.hypot(yy - 16, xx - 18) < 13] = 200
            image[np.hypot(yy - 32, xx - 32) < 9 + i % 2] = 200
        else:  # one disc at the centre
            image[np.hypot(yy - 32, xx - 30) < 12] = 200
        images.append(np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8))
    fitted = Auto(per_object=False, ridges=False).fit(images)
    middle = (32, 32)
    centred = 0
    for image in images:  # the reference: every mask split at necks, the most frequent label
        every = MultiOtsu(classes=fitted.classes, polarity=fitted.chosen_polarity).annotate(image)
        labels = split_at_necks(every, fitted.neck)
        sizes = np.bincount(labels.ravel())[1:]
        centred += labels[middle] == np.argmax(sizes) + 1 if sizes.size else 0
    assert 0 < centred < len(images)  # some centred, some not: both paths are taken
    assert fitted.centred_share == centred / len(images)


def test_the_chain_passes_its_executor_to_a_fit_that_takes_one():
    seen = []

    class Plain:
        def fit(self, images):
            seen.append(("plain", len(images)))

        def annotate(self, image):
            return image > 0

    class Pooled(Plain):
        def fit(self, images, executor=None):
            seen.append(("pooled", executor))

    images = [np.eye(8, dtype=np.uint8)] * 3
    with ThreadPoolExecutor(2) as executor:
        BootstrapChain([Plain()], progress=False).run(images, executor=executor)
        BootstrapChain([Pooled()], progress=False).run(images, executor=executor)
    BootstrapChain([Pooled()], progress=False).run(images)
    assert seen == [("plain", 3), ("pooled", executor), ("pooled", None)]


def test_the_cli_starts_a_pool_for_a_fit_worth_it(monkeypatch):
    monkeypatch.setattr(common, "available_cores", lambda: 2)
    enough = [np.zeros((128, 128), np.uint8)] * 64
    assert sum(image.size for image in enough) == common.FIT_POOL_MIN_PIXELS
    started = common.first_stage_pool(None, enough, Auto())
    assert started is not None and started._max_workers == 2
    started.shutdown()
    assert common.first_stage_pool(None, enough[:-1], Auto()) is None  # one image short
    assert common.first_stage_pool(None, enough, Otsu()) is None  # its choices are quick in one process
    assert common.first_stage_pool(None, enough, Auto(classes=2)) is None
    assert common.first_stage_pool(1, enough, Auto()) is None  # --workers 1
    many = [np.zeros((8, 8), np.uint8)] * common.POOL_MIN_IMAGES
    started = common.first_stage_pool(None, many, Otsu(polarity="bright"))  # enough images for any stage
    assert started is not None
    started.shutdown()
