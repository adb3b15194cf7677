"""The first stage as data: one frozen plan that fit chooses whole and annotate applies."""

from __future__ import annotations

import dataclasses
import json
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from skimage import filters

import bootseg
from bootseg.annotators import (
    Auto,
    GlobalThreshold,
    Isodata,
    KMeans,
    Li,
    MultiOtsu,
    Otsu,
    Plan,
    Triangle,
    Yen,
)
from bootseg.annotators import auto as auto_module
from bootseg.annotators.decide import decide_channel, decide_polarity_and_largest, segment_batch
from bootseg.annotators.thresholds import GLOBAL_METHODS


def cells(n: int = 4, seed: int = 0, dark: bool = True, size: int = 48) -> list[np.ndarray]:
    """A dark nucleus in a paler cytoplasm on a bright background (``dark=False``: inverted), one per image."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = []
    for _ in range(n):
        cy, cx = rng.uniform(size / 2 - 4, size / 2 + 4, 2)
        r2 = (yy - cy) ** 2 + (xx - cx) ** 2
        image = np.full((size, size), 220.0)
        image[r2 < 14**2] = 185
        image[r2 < 6**2] = 60
        image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255)
        images.append((image if dark else 255 - image).astype(np.uint8))
    return images


def spots(n: int = 4, seed: int = 1, size: int = 48) -> list[np.ndarray]:
    """Several small bright spots all over a dark image, none at the centre."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        image = np.full((size, size), 30.0) + rng.normal(0, 3, (size, size))
        for cy, cx in rng.uniform(4, size - 4, (6, 2)).astype(int):
            image[cy - 3 : cy + 3, cx - 3 : cx + 3] = 200
        image[size // 2 - 4 : size // 2 + 4, size // 2 - 4 : size // 2 + 4] = 30
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    return images


def test_the_plan_is_frozen_and_the_stage_exposes_it_read_only():
    auto = Auto().fit(cells())
    plan = auto.plan
    assert isinstance(plan, Plan)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.polarity = "bright"  # type: ignore[misc]
    for name in ("chosen_polarity", "chosen_channel", "classes", "use_ridges", "grow", "candidate_scores"):
        with pytest.raises(AttributeError):
            setattr(auto, name, None)
    # what the stage reports is read from the plan, and a dict it hands out does not reach back into the plan
    scores = auto.candidate_scores
    scores.clear()
    assert auto.candidate_scores == dict(plan.objectness) != {}
    assert hash(plan) == hash(dataclasses.replace(plan))


def test_the_plan_and_a_fitted_stage_pickle():
    auto = Auto(per_object="auto").fit(spots())
    again = pickle.loads(pickle.dumps(auto.plan))
    assert again == auto.plan
    stage = pickle.loads(pickle.dumps(auto))
    assert stage.plan == auto.plan and stage.choices() == auto.choices()
    image = spots(1, seed=9)[0]
    np.testing.assert_array_equal(stage.annotate(image), auto.annotate(image))
    json.dumps(auto.plan.to_dict())  # plain values throughout


def test_choices_are_the_plans_view_of_itself():
    auto = Auto().fit(cells())
    assert auto.choices() == auto.plan.choices()
    assert list(auto.choices()) == [
        "channel",
        "polarity",
        "largest_component",
        "centred_share",
        "classes",
        "objectness",
        "summary",
        "background_ratio",
        "ridges",
    ]
    assert Otsu().choices() == {} and Otsu().plan.chosen == ()


def test_before_fit_the_plan_is_the_options_alone():
    stage = MultiOtsu(classes="auto", polarity="dark", largest_component="auto", neck=0.25, median=3)
    plan = stage.plan
    assert plan == stage.plan_from_options()
    assert (plan.classes, plan.polarity, plan.largest_component, plan.neck, plan.median) == (
        None,
        "dark",
        False,
        0.25,
        3,
    )
    assert Auto(ridges=True).plan.ridges and not Auto().plan.ridges


def test_annotate_applies_the_plan_as_the_fixed_options_would():
    images = cells()
    auto = Auto().fit(images)
    plan = auto.plan
    fixed = MultiOtsu(
        classes=plan.classes,
        channel=plan.channel,
        polarity=plan.polarity,
        largest_component=plan.largest_component,
        neck=plan.neck,
    )
    for image in images:
        np.testing.assert_array_equal(auto.annotate(image), fixed.annotate(image))
    # a plan given to another stage of the same kind is applied the same way: the plan is all that differs
    for got, image in zip(segment_batch(Auto(), plan, images), images, strict=True):
        np.testing.assert_array_equal(got, auto.annotate(image))


def test_fit_decides_each_set_afresh_and_changes_nothing_else():
    dark, bright = cells(seed=2), cells(seed=3, dark=False)
    stage = Auto()
    first = stage.fit(dark).plan
    second = stage.fit(bright).plan
    assert first == Auto().fit(dark).plan and second == Auto().fit(bright).plan
    assert (first.polarity, second.polarity) == ("dark", "bright")
    assert stage.fit(dark).plan == first  # an earlier fit does not leak into the next
    # the decision functions return a new plan and leave their inputs alone
    start = stage.plan_from_options()
    otsu = Otsu(channel="auto", largest_component="auto")
    decided, masks = decide_polarity_and_largest(otsu, otsu.plan_from_options(), dark)
    assert otsu.plan == otsu.plan_from_options() and decided.chosen == ("polarity", "largest_component")
    assert len(masks) == len(dark)
    rgb = [np.repeat(image[..., None], 3, axis=2) for image in dark]
    assert decide_channel(otsu, otsu.plan_from_options(), rgb).channel == "grey"
    assert stage.plan_from_options() == start


def test_a_fit_that_raises_leaves_the_stage_as_it_was(monkeypatch):
    stage = Auto(per_object="auto").fit(spots())
    before, reported = stage.plan, stage.choices()

    def broken(masks):
        raise RuntimeError("measuring failed")

    monkeypatch.setattr(auto_module, "median_radii", broken)  # after the classes, polarity and one object
    with pytest.raises(RuntimeError, match="measuring failed"):
        stage.fit(cells())
    assert stage.plan is before and stage.choices() == reported
    with pytest.raises(ValueError, match=r"NaN|finite"):
        stage.fit([*cells(2), np.full((8, 8), np.nan)])
    assert stage.plan is before


def test_threads_sharing_one_stage_each_get_their_own_plan():
    sets = [cells(seed=s, dark=s % 2 == 0) for s in range(6)]
    expected = [Otsu(largest_component="auto").fit(images).plan for images in sets]
    stage = Otsu(largest_component="auto")
    with ThreadPoolExecutor(3) as pool:
        plans = list(pool.map(lambda images: decide_polarity_and_largest(stage, stage.plan, images)[0], sets))
    assert plans == expected
    assert stage.plan == stage.plan_from_options()


def test_kmeans_keeps_its_largest_cluster_rule_in_the_plan():
    kmeans = KMeans()
    assert kmeans.plan.polarity == "largest"
    assert kmeans.fit(cells()).plan.chosen == ()  # nothing "auto": nothing chosen


# ---------------------------------------------------------------- the global thresholds as one table


NAMED = {"otsu": Otsu, "li": Li, "yen": Yen, "triangle": Triangle, "isodata": Isodata}


@pytest.mark.parametrize("method", sorted(GLOBAL_METHODS))
def test_each_global_method_is_one_row_of_the_table_and_a_class_of_its_name(method):
    cls = NAMED[method]
    assert cls.name == method and cls.__name__ == GLOBAL_METHODS[method].class_name
    assert type(bootseg.get_annotator(method)) is cls and issubclass(cls, GlobalThreshold)
    image = cells(1)[0]
    grey = image.astype(float)
    reference = getattr(filters, f"threshold_{method}")(image)
    if method == "isodata":
        reference = filters.threshold_isodata(image, return_all=True)[0]
    np.testing.assert_array_equal(cls(polarity="bright", fill_holes=False).annotate(image), grey > reference)
    for polarity in ("bright", "dark", "auto"):
        np.testing.assert_array_equal(
            GlobalThreshold(method=method, polarity=polarity).annotate(image), cls(polarity=polarity).annotate(image)
        )
    assert "method" not in cls().options() and GlobalThreshold(method=method).options()["method"] == method
    assert repr(cls(polarity="dark")).startswith(f"{cls.__name__}(polarity='dark', median=0")
    assert pickle.loads(pickle.dumps(cls(median=3))).options() == cls(median=3).options()


def test_a_global_threshold_checks_its_method():
    with pytest.raises(ValueError, match=r"method must be one of 'otsu', 'li', 'yen', 'triangle', 'isodata'"):
        GlobalThreshold(method="kapur")
    with pytest.raises(TypeError):
        Otsu(method="li")  # the named class fixes its method
