"""Kinds of image in one set (bootseg.annotators.kinds) and Auto's plan per kind."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.cluster import KMeans

from bootseg.annotators import Auto
from bootseg.annotators import kinds as kinds_module
from bootseg.annotators.kinds import MIN_KIND, image_features, split_kinds, two_means
from bootseg.metrics import dice


def _nuclei(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A field of round objects: the true mask."""
    yy, xx = np.mgrid[:size, :size]
    mask = np.zeros((size, size), bool)
    for _ in range(rng.integers(3, 6)):
        cy, cx = rng.integers(8, size - 8, 2)
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= rng.integers(4, 7) ** 2
    return mask


def _mixed_set(n_fluo: int = 12, n_bright: int = 8, seed: int = 0):
    """Bright objects on black (as in fluorescence) and dark objects on white (as in bright-field)."""
    rng = np.random.default_rng(seed)
    images, truths = [], []
    for i in range(n_fluo + n_bright):
        mask = _nuclei(rng)
        noise = rng.normal(0, 6, mask.shape)
        if i < n_fluo:
            image = np.clip(np.where(mask, 170, 20) + noise, 0, 255).astype(np.uint8)
        else:
            image = np.clip(np.where(mask, 90, 225) + noise, 0, 255).astype(np.uint8)
        images.append(image)
        truths.append(mask)
    return images, truths


def test_two_means_separation_is_the_centre_distance_over_the_rms_spread():
    rng = np.random.default_rng(1)
    rows = np.concatenate([rng.normal(0, 0.05, (20, 3)), rng.normal(1, 0.05, (10, 3))])
    labels, separation = two_means(rows)
    reference = KMeans(2, n_init=10, random_state=0).fit_predict(rows)
    assert (labels == reference).all() or (labels == 1 - reference).all()
    centres = np.stack([rows[labels == g].mean(0) for g in (0, 1)])
    spread = np.sqrt(np.mean(np.sum((rows - centres[labels]) ** 2, axis=1)))
    assert separation == pytest.approx(np.linalg.norm(centres[0] - centres[1]) / spread)
    assert labels[0] == 0
    _, none = two_means(np.ones((5, 3)))
    assert none == 0.0


def test_one_cloud_is_one_kind_and_two_clouds_apart_are_two():
    rng = np.random.default_rng(2)
    cloud = rng.normal(0.5, 0.05, (200, 6))
    assert [kind.tolist() for kind in split_kinds(cloud)] == [list(range(200))]
    _, separation = two_means(cloud)
    assert separation < kinds_module.SEPARATION / 2  # a Gaussian cloud split in two: 2.7 in one dimension, less in six
    apart = np.concatenate([cloud[:150], rng.normal(0.1, 0.05, (30, 6))])
    kinds = split_kinds(apart)
    assert [kind.tolist() for kind in kinds] == [list(range(150)), list(range(150, 180))]


def test_a_few_odd_images_are_not_a_kind():
    rng = np.random.default_rng(3)
    rows = np.concatenate([rng.normal(0.5, 0.05, (40, 6)), np.zeros((MIN_KIND - 1, 6))])
    assert len(split_kinds(rows)) == 1


def test_the_separation_threshold_is_read_when_splitting(monkeypatch):
    rng = np.random.default_rng(4)
    cloud = rng.normal(0.5, 0.05, (60, 6))
    monkeypatch.setattr(kinds_module, "SEPARATION", 0.5)  # any cloud splits at that threshold
    assert len(split_kinds(cloud)) > 1


def test_features_are_channel_means_and_spreads_on_the_dtype_scale():
    image = np.zeros((4, 4, 3), np.uint8)
    image[..., 0] = 255
    image[:2, :, 2] = 255
    np.testing.assert_allclose(image_features(image), [1.0, 0.0, 0.0, 0.0, 0.5, 0.5])
    grey = np.array([[0, 1000], [1000, 0]], np.uint16)
    np.testing.assert_allclose(image_features(grey), [0.5, 0.5] * 3)


def test_auto_fits_a_plan_per_kind_on_a_mixed_set():
    images, truths = _mixed_set()
    stage = Auto().fit(images)
    plan = stage.plan
    assert [kind.images for kind in plan.kinds] == [12, 8]
    assert [kind.plan.polarity for kind in plan.kinds] == ["bright", "dark"]
    masks = [stage.annotate(image) for image in images]
    assert min(dice(m, t) for m, t in zip(masks, truths)) > 0.9
    choices = stage.choices()
    assert [kind["images"] for kind in choices["kinds"]] == [12, 8]
    assert choices["summary"].startswith("2 kinds of image, each with its own plan: 12 images: grey")
    assert plan.to_dict()["kinds"][1]["plan"]["polarity"] == "dark"
    # one plan for the set: the smaller kind gets the larger kind's polarity and its masks are the background
    single = Auto(kinds=False).fit(images)
    assert single.plan.kinds == () and "kinds" not in single.choices()
    lost = [dice(single.annotate(image), truth) for image, truth in zip(images[12:], truths[12:])]
    assert max(lost) < 0.5
    # new images go to the nearest kind; the fitted stage pickles whole
    new_images, new_truths = _mixed_set(2, 2, seed=9)
    again = pickle.loads(pickle.dumps(stage))
    for image, truth in zip(new_images, new_truths):
        assert dice(again.annotate(image), truth) > 0.9
    assert "kinds=True" in repr(stage) and "kinds=False" in repr(single)


def test_auto_on_one_kind_keeps_one_plan():
    images, _ = _mixed_set(n_fluo=14, n_bright=0)
    stage = Auto().fit(images)
    assert stage.plan.kinds == () and stage.plan.polarity == "bright"


def test_kinds_must_be_a_bool():
    with pytest.raises(TypeError, match="kinds"):
        Auto(kinds="yes")
