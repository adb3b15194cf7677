"""Objects from masks: labels against scikit-image, the table against regionprops, ROIs and TIFFs read back."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import roifile
import tifffile
from scipy import ndimage as ndi
from skimage.draw import polygon
from skimage.measure import label, regionprops

from bootseg.objects import (
    SPLITS,
    label_objects,
    object_table,
    outlines,
    typical_radius,
    write_labels,
    write_object_table,
    write_rois,
)


def _discs(shape, centres, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.any([np.hypot(yy - y, xx - x) < radius for y, x in centres], axis=0)


def _random_masks(n, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        noise = ndi.gaussian_filter(rng.random((48, 64)), rng.uniform(0.6, 2.5))
        yield noise > np.quantile(noise, rng.uniform(0.4, 0.7))


def test_split_none_is_scikit_image_label():
    for mask in _random_masks(20):
        ours = label_objects(mask, split="none")
        np.testing.assert_array_equal(ours, label(mask, connectivity=2))  # the same numbers, in raster order


@pytest.mark.parametrize("split", SPLITS)
def test_objects_are_numbered_in_raster_order_of_their_first_pixel(split):
    for mask in _random_masks(5, seed=1):
        labels = label_objects(mask, split=split)
        values = labels.ravel()[labels.ravel() > 0]
        _, first = np.unique(values, return_index=True)
        order = values[np.sort(first)]
        np.testing.assert_array_equal(order, np.arange(1, labels.max() + 1))
        assert ((labels > 0) == mask).all()  # every foreground pixel is in an object


def test_watershed_splits_two_touching_discs_and_keeps_one_whole():
    two = _discs((50, 90), [(25, 25), (25, 52)], 15)  # they overlap: one 8-connected component
    assert label(two).max() == 1
    labels = label_objects(two, split="watershed")
    assert labels.max() == 2
    assert labels[25, 25] != labels[25, 52]  # one centre in each
    assert abs(np.count_nonzero(labels == 1) - np.count_nonzero(labels == 2)) < 30  # parted near the middle
    one = _discs((50, 50), [(25, 24)], 15)
    assert label_objects(one, split="watershed").max() == 1
    yy, xx = np.mgrid[:60, :90]
    ellipse = ((yy - 30) / 12.0) ** 2 + ((xx - 45) / 30.0) ** 2 < 1  # elongated, still one object
    assert label_objects(ellipse, split="watershed").max() == 1


def test_watershed_min_distance_and_the_measured_radius():
    assert typical_radius(_discs((50, 50), [(25, 25)], 10)) == pytest.approx(10, abs=0.5)
    assert typical_radius(np.zeros((4, 4), bool)) == 0.0
    two = _discs((50, 90), [(25, 25), (25, 52)], 15)
    assert label_objects(two, split="watershed", min_distance=40).max() == 1  # markers farther apart than the discs
    assert label_objects(np.zeros((5, 5), bool), split="watershed").max() == 0


def test_label_objects_refusals():
    with pytest.raises(ValueError, match="split must be one of 'none', 'watershed', got 'necks'"):
        label_objects(np.ones((3, 3)), split="necks")
    with pytest.raises(ValueError, match=r"mask must be a 2D \(H, W\) array, got shape \(3,\)"):
        label_objects(np.ones(3))
    with pytest.raises(ValueError, match="min_distance must be at least 1 pixel, got 0"):
        label_objects(np.ones((3, 3)), split="watershed", min_distance=0)


def test_label_images_round_trip_through_tifffile(tmp_path):
    labels = label_objects(next(_random_masks(1)))
    path = write_labels(tmp_path / "a.tif", labels)
    back = tifffile.imread(path)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, labels)
    assert write_labels(tmp_path / "b.tif", labels).read_bytes() == path.read_bytes()  # no clock in the file
    many = np.zeros((530, 530), np.int32)
    many[::2, ::2] = np.arange(1, 265 * 265 + 1).reshape(265, 265)  # 70 225 objects: past 16 bits
    back = tifffile.imread(write_labels(tmp_path / "c.tif", many))
    assert back.dtype == np.uint32 and int(back.max()) == 265 * 265
    np.testing.assert_array_equal(back, many)
    with pytest.raises(ValueError, match=r"cannot write labels to '.*a\.png': give a \.tif file"):
        write_labels(tmp_path / "a.png", labels)
    with pytest.raises(ValueError, match=r"labels must be 0 \(background\) or positive, got -1"):
        write_labels(tmp_path / "d.tif", np.array([[0, -1]]))


def test_object_table_is_regionprops():
    rng = np.random.default_rng(3)
    for mask in _random_masks(6, seed=2):
        labels = label_objects(mask, split="watershed")
        proba = rng.random(mask.shape)
        rows = object_table(labels, proba)
        props = regionprops(labels, intensity_image=proba)
        assert [r["label"] for r in rows] == [p.label for p in props]
        for row, prop in zip(rows, props):
            assert row["area"] == prop.area
            assert (row["centroid_y"], row["centroid_x"]) == pytest.approx(prop.centroid, abs=1e-9)
            assert (row["min_row"], row["min_col"], row["max_row"], row["max_col"]) == prop.bbox
            assert row["mean_proba"] == pytest.approx(prop.intensity_mean, abs=1e-9)
    assert all(row["mean_proba"] is None for row in object_table(labels))
    assert object_table(np.zeros((3, 3), int)) == []
    with pytest.raises(ValueError, match=r"proba has shape \(2, 2\); expected \(48, 64\)"):
        object_table(labels, np.zeros((2, 2)))


def test_object_table_csv(tmp_path):
    labels = label_objects(_discs((40, 60), [(10, 10), (25, 40)], 6))
    proba = np.full(labels.shape, 0.75)
    path = write_object_table(tmp_path / "objects.csv", [("a", object_table(labels, proba)), ("b", [])])
    rows = list(csv.DictReader(path.open()))
    props = regionprops(labels)
    assert [r["image"] for r in rows] == ["a", "a"]
    for row, prop in zip(rows, props):
        assert int(row["area"]) == prop.area and float(row["mean_proba"]) == 0.75
        assert float(row["centroid_y"]) == pytest.approx(prop.centroid[0], abs=5e-4)
        assert tuple(int(row[k]) for k in ("min_row", "min_col", "max_row", "max_col")) == prop.bbox


def test_outlines_hold_exactly_each_object_and_its_holes():
    for mask in [*_random_masks(10, seed=4), np.random.default_rng(5).random((30, 40)) < 0.5]:
        labels = label_objects(mask, split="watershed")
        polygons = outlines(labels)
        assert sorted(polygons) == list(range(1, labels.max() + 1))
        for value, corners in polygons.items():
            rows, cols = polygon(corners[:, 1] - 0.5, corners[:, 0] - 0.5, labels.shape)  # corners → pixel centres
            inside = np.zeros(labels.shape, bool)
            inside[rows, cols] = True
            np.testing.assert_array_equal(inside, ndi.binary_fill_holes(labels == value))


def test_two_pixels_touching_at_a_corner_are_one_outline():
    corners = outlines(np.array([[1, 0], [0, 1]]))[1]
    assert len(corners) == 8 and np.abs(np.diff(corners, axis=0)).sum(axis=1).max() == 1


def test_roi_sets_round_trip_through_roifile(tmp_path):
    mask = _discs((64, 96), [(20, 20), (20, 44), (45, 70), (60, 5)], 11)
    labels = label_objects(mask, split="watershed")
    path = write_rois(tmp_path / "a.zip", labels)
    rois = roifile.roiread(path)
    assert len(rois) == labels.max() == 4
    assert [roi.name for roi in rois] == ["0001", "0002", "0003", "0004"]
    for value, roi in enumerate(rois, start=1):
        assert roi.roitype in (roifile.ROI_TYPE.POLYGON, roifile.ROI_TYPE.TRACED)
        xy = roi.coordinates()
        rows, cols = polygon(xy[:, 1] - 0.5, xy[:, 0] - 0.5, labels.shape)
        area = np.count_nonzero(labels == value)
        assert abs(len(rows) - area) <= 0.02 * area  # the polygon holds the object
        assert (labels[rows, cols] == value).mean() > 0.98
    assert write_rois(tmp_path / "b.zip", labels).read_bytes() == path.read_bytes()  # no clock in the file
    assert roifile.roiread(write_rois(tmp_path / "none.zip", np.zeros((4, 4), int))) == []
    with pytest.raises(ValueError, match=r"cannot write a ROI set to '.*a\.roi': give a \.zip file"):
        write_rois(tmp_path / "a.roi", labels)
