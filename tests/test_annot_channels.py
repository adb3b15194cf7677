"""The ``channel`` option of the threshold annotators and the consensus choice behind ``channel="auto"``."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import color, filters

from bootseg import BootstrapChain
from bootseg.annotators import KMeans, Li, Otsu
from bootseg.annotators.channels import CANDIDATES, channel_image, choose_channel
from bootseg.annotators.decide import decide_polarity_and_largest
from bootseg.metrics import dice


def hue_cells(n: int = 6, size: int = 64, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Blue discs on a yellow background of the same luma, with dark specks at the border: grey cannot see the
    discs (and finds the specks), the colour channels can."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images, truths = [], []
    for _ in range(n):
        cy, cx, r = *rng.uniform(20, size - 20, 2).tolist(), rng.uniform(8, 12)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        yellow, blue = np.array([200, 190, 90.0]), np.array([150, 180, 255.0])
        # same Rec. 709 luma for both colours (blue's red adjusted), so grey has no edge at the disc
        luma = np.array([0.2125, 0.7154, 0.0721])
        blue[0] += (yellow @ luma - blue @ luma) / luma[0]
        image = np.where(disc[..., None], blue, yellow) + rng.normal(0, 3, (size, size, 3))
        image[:6, :6] = 20  # a dark corner (vignetting)
        images.append(np.clip(image, 0, 255).astype(np.uint8))
        truths.append(disc)
    return images, truths


def test_channels_match_scikit_image():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    unit = image / 255.0
    np.testing.assert_allclose(channel_image(image, "saturation"), color.rgb2hsv(unit)[..., 1], atol=1e-5)
    lab = color.rgb2lab(unit)
    np.testing.assert_allclose(channel_image(image, "lab_a"), lab[..., 1], atol=0.5)
    np.testing.assert_allclose(channel_image(image, "lab_b"), lab[..., 2], atol=0.5)
    np.testing.assert_allclose(channel_image(image, "grey"), color.rgb2gray(image.astype(np.float64)), rtol=1e-12)
    # uint16 and float images are scaled to [0, 1] the same way
    wide = image.astype(np.uint16) * 257
    np.testing.assert_allclose(channel_image(wide, "lab_b"), channel_image(image, "lab_b"), atol=1e-3)


def test_colour_channel_of_a_grey_image_is_refused():
    with pytest.raises(ValueError, match=r"needs a colour image.*use 'grey'"):
        channel_image(np.zeros((4, 4), np.uint8), "saturation")
    with pytest.raises(ValueError, match="channel must be one of"):
        channel_image(np.zeros((4, 4, 3), np.uint8), "hue")
    with pytest.raises(
        ValueError, match="channel must be one of 'grey', 'saturation', 'lab_a', 'lab_b', 'texture', 'auto'"
    ):
        Otsu(channel="red")
    with pytest.raises(ValueError, match="color=True clusters the RGB colours"):
        KMeans(color=True, channel="saturation")


def test_a_fixed_channel_is_otsu_on_that_channel():
    images, _ = hue_cells(2)
    plain = Otsu(channel="lab_b", polarity="dark", fill_holes=False)
    data = channel_image(images[0], "lab_b")
    np.testing.assert_array_equal(plain.annotate(images[0]), data <= filters.threshold_otsu(data))
    assert plain.options()["channel"] == "lab_b" and "channel='lab_b'" in repr(plain)


def test_auto_finds_the_channel_where_grey_fails():
    images, truths = hue_cells()
    grey = [dice(Otsu().annotate(im), t) for im, t in zip(images, truths)]
    auto = Otsu(channel="auto").fit(images)
    assert auto.chosen_channel in CANDIDATES[1:]
    assert set(auto.channel_agreement) == set(CANDIDATES)
    assert max(auto.channel_agreement.values()) == auto.channel_agreement[auto.chosen_channel]
    scores = [dice(auto.annotate(im), t) for im, t in zip(images, truths)]
    assert np.mean(scores) > 0.9 > 0.5 > np.mean(grey)
    # not fitted: each image chooses for itself, from itself alone
    lone = Otsu(channel="auto")
    own, _ = choose_channel(images[:1], lone._segment)
    np.testing.assert_array_equal(lone.annotate(images[0]), Otsu(channel=own).annotate(images[0]))
    assert lone.chosen_channel is None


def test_auto_agreement_is_the_dice_with_the_vote_of_the_others():
    images, _ = hue_cells(3)
    otsu = Otsu(channel="auto")
    name, agreement = choose_channel(images, otsu._segment)
    masks = {c: [otsu._segment(im, c) for im in images] for c in CANDIDATES}
    for c in CANDIDATES:
        others = [o for o in CANDIDATES if o != c]
        expected = np.mean(
            [dice(masks[c][i], np.mean([masks[o][i] for o in others], axis=0) > 0.5) for i in range(len(images))]
        )
        assert agreement[c] == pytest.approx(expected)
    assert name == max(agreement, key=agreement.get)


def test_auto_on_grey_images_is_grey_and_identical_to_the_default():
    rng = np.random.default_rng(0)
    images = [np.clip(rng.normal(100, 20, (32, 32)) + 80 * (rng.random((32, 32)) > 0.7), 0, 255).astype(np.uint8)]
    auto = Li(channel="auto").fit(images)
    assert auto.chosen_channel == "grey" and auto.channel_agreement == {}
    np.testing.assert_array_equal(auto.annotate(images[0]), Li().annotate(images[0]))
    # an RGB image with R = G = B has constant colour channels: grey is the only candidate
    rgb = np.repeat(images[0][..., None], 3, axis=2)
    assert Otsu(channel="auto").fit([rgb]).chosen_channel == "grey"


def test_the_chain_fits_the_first_stage_on_every_image():
    images, truths = hue_cells(4)
    result = BootstrapChain([("otsu", {"channel": "auto"})], progress=False).run(images)
    stage = result.stages[0].stage
    assert stage.chosen_channel in CANDIDATES[1:]
    assert np.mean([dice(m, t) for m, t in zip(result.masks, truths)]) > 0.9

    calls = []

    class Counting:
        def fit(self, images):
            calls.append(len(images))

        def annotate(self, image):
            return np.zeros(image.shape[:2], bool)

    BootstrapChain([Counting()], progress=False).run(images)
    assert calls == [4]


def test_a_failing_plugin_fit_names_the_stage():
    from bootseg.errors import PluginError

    class Broken:
        def fit(self, images):
            raise RuntimeError("no model file")

        def annotate(self, image):
            return np.zeros(image.shape[:2], bool)

    with pytest.raises(PluginError, match=r"failed in fit\(\): RuntimeError: no model file"):
        BootstrapChain([Broken()], progress=False).run([np.zeros((8, 8), np.uint8)])


def test_fit_chooses_one_polarity_for_the_set():
    from bootseg.annotators.polarity import polarity_score

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:48, :48]
    images = []
    for i in range(5):
        image = rng.normal(60, 8, (48, 48))
        image[(yy - 24) ** 2 + (xx - 24) ** 2 < 100] += 120  # a bright centred object
        if i == 4:  # one image of the set is inverted: alone, it would pick "dark"
            image = 255 - image
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    scores = [polarity_score(im > filters.threshold_otsu(im)) for im in images]
    assert scores[4] < 0 < min(scores[:4])  # the set says bright, image 4 alone says dark
    otsu = Otsu().fit(images)
    assert otsu.chosen_polarity == ("bright" if sum(scores) >= 0 else "dark") == "bright"
    assert otsu.polarity_in_use() == "bright"
    for image in images:
        np.testing.assert_array_equal(otsu.annotate(image), Otsu(polarity="bright").annotate(image))
    assert not np.array_equal(Otsu().annotate(images[4]), otsu.annotate(images[4]))
    # a fixed polarity is never changed by fit
    assert Otsu(polarity="dark").fit(images).polarity_in_use() == "dark"
    with pytest.raises(ValueError, match="fit needs at least one image"):
        Otsu().fit([])


def white_cells(n: int = 4, size: int = 64, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A dark nucleus inside a paler cytoplasm on a bright background; the cell (both) is the object."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images, truths = [], []
    for _ in range(n):
        cy, cx = rng.uniform(26, size - 26, 2)
        r2 = (yy - cy) ** 2 + (xx - cx) ** 2
        image = np.full((size, size), 220.0)
        image[r2 < 18**2] = 185
        image[r2 < 8**2] = 60
        images.append(np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8))
        truths.append(r2 < 18**2)
    return images, truths


def test_auto_takes_three_classes_for_a_cell_with_its_cytoplasm():
    from bootseg.annotators import Auto, MultiOtsu
    from bootseg.annotators.polarity import polarity_score

    images, truths = white_cells()
    auto = Auto().fit(images)
    assert (auto.classes, auto.chosen_channel, auto.chosen_polarity) == (3, "grey", "dark")
    for image in images:
        np.testing.assert_array_equal(auto.annotate(image), MultiOtsu(classes=3, polarity="dark").annotate(image))
    assert np.mean([dice(auto.annotate(im), t) for im, t in zip(images, truths)]) > 0.95
    # the score of each candidate is the mean polarity score of its final masks (the set's polarity, one object)
    assert set(auto.candidate_scores) == {"grey, 2 classes", "grey, 3 classes"}
    for count in (2, 3):
        fixed = MultiOtsu(classes=count, polarity="dark", largest_component=True, neck=0.5)
        expected = np.mean([polarity_score(fixed.annotate(im)) for im in images])
        assert auto.candidate_scores[f"grey, {count} classes"] == pytest.approx(expected)
    assert auto.options()["classes"] == "auto" and "classes='auto'" in repr(auto)


def test_auto_keeps_two_classes_for_separate_objects_and_two_level_images():
    from bootseg.annotators import Auto, MultiOtsu

    _, truths = hue_cells()
    greyish = [
        np.clip(t * 150.0 + 50 + np.random.default_rng(i).normal(0, 5, t.shape), 0, 255).astype(np.uint8)
        for i, t in enumerate(truths)
    ]
    auto = Auto().fit(greyish)
    assert auto.classes == 2
    assert auto.candidate_scores["grey, 2 classes"] >= auto.candidate_scores["grey, 3 classes"]
    two_levels = np.zeros((16, 16), np.uint8)
    two_levels[4:12, 4:12] = 200
    fitted = Auto().fit([two_levels])
    assert fitted.classes == 2 and set(fitted.candidate_scores) == {"grey, 2 classes"}
    assert int(Auto().annotate(two_levels).sum()) == 64  # not fitted: the image alone decides
    with pytest.raises(ValueError, match="needs at least 3 distinct grey levels"):
        MultiOtsu(classes=3).annotate(two_levels)
    with pytest.raises(ValueError, match=r"classes must be an integer from 2 to 5 or .auto., got .many."):
        MultiOtsu(classes="many")


def test_auto_chooses_channel_and_classes_together_by_the_objectness_of_the_final_masks():
    from bootseg.annotators import Auto, MultiOtsu
    from bootseg.annotators.polarity import polarity_score

    images, truths = hue_cells()
    auto = Auto(largest_component=False).fit(images)
    assert set(auto.candidate_scores) == {f"{c}, {k} classes" for c in CANDIDATES for k in (2, 3)}
    best = max(auto.candidate_scores, key=auto.candidate_scores.get)
    assert best == f"{auto.chosen_channel}, {auto.classes} classes" and auto.chosen_channel != "grey"
    assert np.mean([dice(auto.annotate(im), t) for im, t in zip(images, truths)]) > 0.9
    # each score, recomputed from a fixed multiotsu with the polarity the set's summed scores give
    for key, value in auto.candidate_scores.items():
        channel, count = key.split(", ")[0], int(key.split(", ")[1][0])
        bright = [
            MultiOtsu(classes=count, channel=channel, polarity="bright").split(
                MultiOtsu(channel=channel).prepare(im, channel)
            )[0]
            for im in images
        ]
        polarity = "bright" if sum(polarity_score(m) for m in bright) >= 0 else "dark"
        fixed = MultiOtsu(classes=count, channel=channel, polarity=polarity)
        assert value == pytest.approx(np.mean([polarity_score(fixed.annotate(im)) for im in images]))
    assert auto.choices()["objectness"][best] == pytest.approx(auto.candidate_scores[best], abs=1e-4)


def test_largest_component_auto_keeps_one_object_only_for_centred_crops():
    from skimage import measure

    from bootseg.annotators import Auto

    images, _ = white_cells(n=6)
    for image in images:  # dark specks away from the cell: a first stage finds them too
        image[2:6, 2:6] = image[-6:-2, -6:-2] = 40
    auto = Auto().fit(images)
    assert auto.chosen_largest is True and auto.centred_share == 1.0
    for image in images:
        every = Auto(largest_component=False).fit(images).annotate(image)
        labels = measure.label(every, connectivity=1)
        biggest = labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1  # scikit-image reference
        np.testing.assert_array_equal(auto.annotate(image), biggest)
        assert labels.max() >= 3  # the specks were there to remove
    assert auto.choices()["largest_component"] is True

    # objects all over the image: the largest one rarely covers the centre, so every object is kept
    _, scattered = hue_cells(n=6)
    rng = np.random.default_rng(5)
    spots = []
    for truth in scattered:
        image = np.full(truth.shape, 30.0) + rng.normal(0, 3, truth.shape)
        for cy, cx in rng.uniform(5, truth.shape[0] - 5, (6, 2)):
            image[int(cy) - 3 : int(cy) + 3, int(cx) - 3 : int(cx) + 3] = 200
        image[29:35, 29:35] = 30  # nothing at the centre
        spots.append(np.clip(image, 0, 255).astype(np.uint8))
    fitted = Auto().fit(spots)
    assert fitted.chosen_largest is False and fitted.centred_share < 2 / 3
    np.testing.assert_array_equal(
        fitted.annotate(spots[0]), Auto(largest_component=False).fit(spots).annotate(spots[0])
    )
    # not fitted, "auto" keeps every object
    assert Auto().keeps_largest() is False


def test_kmeans_fits_its_auto_options_through_its_own_foreground():
    # k-means clusters (it has no two-class split()): fit must reach it through foreground()
    from bootseg.annotators.polarity import polarity_score

    images, _ = white_cells(n=4)
    kmeans = KMeans(polarity="auto", largest_component="auto").fit(images)
    bright = [KMeans(polarity="bright").annotate(im) for im in images]
    expected = "bright" if sum(polarity_score(m) for m in bright) >= 0 else "dark"
    assert kmeans.chosen_polarity == expected == "dark" and kmeans.chosen_largest is True
    # the masks fit judged are those annotate gives
    plan, masks = decide_polarity_and_largest(kmeans, kmeans.plan_from_options(), images)
    assert plan == kmeans.plan
    for mask, image in zip(masks, images, strict=True):
        np.testing.assert_array_equal(mask, kmeans.annotate(image))
    # two clusters: the dark nucleus against the rest (cytoplasm and background)
    assert np.mean([dice(kmeans.annotate(im), im < 120) for im in images]) > 0.95
