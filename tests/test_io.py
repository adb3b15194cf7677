"""Tests of bootseg.io: reading and writing every supported format, errors, and atomic writes."""

from __future__ import annotations

import logging
import os
import stat

import cv2
import numpy as np
import pytest
import tifffile

from bootseg.errors import BootsegError
from bootseg.io import (
    IMAGE_SUFFIXES,
    ImageReadError,
    atomic_write,
    list_images,
    read_image,
    read_images,
    read_mask,
    write_bytes_atomic,
    write_image,
    write_mask,
)

RNG = np.random.default_rng(0)
GREY8 = RNG.integers(0, 256, (13, 17), dtype=np.uint8)
RGB8 = RNG.integers(0, 256, (13, 17, 3), dtype=np.uint8)
GREY16 = RNG.integers(0, 65536, (13, 17), dtype=np.uint16)
RGB16 = RNG.integers(0, 65536, (13, 17, 3), dtype=np.uint16)
PROBS32 = RNG.random((13, 17)).astype(np.float32)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -------------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    ("name", "array"),
    [
        ("g8.png", GREY8),
        ("rgb8.png", RGB8),
        ("g16.png", GREY16),
        ("rgb16.png", RGB16),
        ("g8.bmp", GREY8),
        ("rgb8.bmp", RGB8),
        ("g8.tif", GREY8),
        ("rgb8.tiff", RGB8),
        ("g16.tif", GREY16),
        ("rgb16.tif", RGB16),
        ("f32.tif", PROBS32),
        ("f64.tif", PROBS32.astype(np.float64) / 3),
        ("upper.PNG", RGB8),
        ("upper.TIF", GREY16),
    ],
)
def test_lossless_round_trip_keeps_values_and_dtype(tmp_path, name, array):
    path = write_image(tmp_path / name, array)
    image = read_image(path)
    assert image.dtype == array.dtype
    np.testing.assert_array_equal(image, array)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["rgb.jpg", "rgb.JPEG"])
def test_jpeg_round_trip_is_close(tmp_path, name):
    smooth = cv2.GaussianBlur(RGB8, (0, 0), 3)
    image = read_image(write_image(tmp_path / name, smooth))
    assert image.shape == smooth.shape and image.dtype == np.uint8
    assert np.abs(image.astype(int) - smooth).mean() < 4
    # Colour order is RGB: the red channel of the file is the first one.
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 250
    assert read_image(write_image(tmp_path / "red.jpg", red))[..., 0].mean() > 200


def test_reads_files_written_by_opencv_as_rgb(tmp_path):
    cv2.imwrite(str(tmp_path / "bgr.png"), RGB8[:, :, ::-1])  # OpenCV writes BGR
    np.testing.assert_array_equal(read_image(tmp_path / "bgr.png"), RGB8)
    cv2.imwrite(str(tmp_path / "g16.png"), GREY16)
    image = read_image(tmp_path / "g16.png")
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, GREY16)


def test_files_we_write_read_back_with_opencv_and_tifffile(tmp_path):
    write_image(tmp_path / "rgb.png", RGB8)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "rgb.png"), cv2.IMREAD_UNCHANGED), RGB8[:, :, ::-1])
    write_image(tmp_path / "p.tif", PROBS32)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "p.tif"), PROBS32)


def test_reads_tiff_written_by_tifffile(tmp_path):
    tifffile.imwrite(tmp_path / "g16.tif", GREY16)
    tifffile.imwrite(tmp_path / "rgb.tif", RGB16, photometric="rgb")
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(RGB8, -1, 0), photometric="rgb", planarconfig="separate")
    tifffile.imwrite(tmp_path / "f.tif", PROBS32[:, :, None])
    np.testing.assert_array_equal(read_image(tmp_path / "g16.tif"), GREY16)
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.tif"), RGB16)
    np.testing.assert_array_equal(read_image(tmp_path / "planar.tif"), RGB8)
    np.testing.assert_array_equal(read_image(tmp_path / "f.tif"), PROBS32)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_rgba_becomes_rgb(tmp_path, suffix):
    alpha = RNG.integers(0, 256, (13, 17, 1), dtype=np.uint8)
    rgba = np.concatenate([RGB8, alpha], axis=2)
    if suffix == ".png":
        cv2.imwrite(str(tmp_path / f"a{suffix}"), rgba[:, :, [2, 1, 0, 3]])  # BGRA on disk
    else:
        tifffile.imwrite(tmp_path / f"a{suffix}", rgba, photometric="rgb", extrasamples=["unassalpha"])
    image = read_image(tmp_path / f"a{suffix}")
    assert image.shape == (13, 17, 3)
    np.testing.assert_array_equal(image, RGB8)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / f"w{suffix}", rgba)), RGB8)


def test_grey_alpha_png_becomes_grey(tmp_path):
    from skimage import io as skio

    grey_alpha = np.dstack([GREY8, RNG.integers(0, 256, GREY8.shape, dtype=np.uint8)])
    skio.imsave(tmp_path / "ga.png", grey_alpha, check_contrast=False)
    image = read_image(tmp_path / "ga.png")
    assert image.shape == GREY8.shape
    np.testing.assert_array_equal(image, GREY8)


@pytest.mark.parametrize("name", ["with space ä ö ü.png", "图像 1.tif", "é.bmp", "naïve café.jpg"])
def test_names_with_spaces_and_non_ascii(tmp_path, name):
    folder = tmp_path / "dossier été"
    folder.mkdir()
    write_image(folder / name, RGB8)
    write_mask(folder / ("mask " + name.rsplit(".", 1)[0] + ".png"), GREY8 > 128)
    images, paths = read_images(folder)
    assert [p.name for p in paths] == sorted([name, "mask " + name.rsplit(".", 1)[0] + ".png"])
    assert all(image.shape[:2] == (13, 17) for image in images)
    np.testing.assert_array_equal(read_mask(folder / ("mask " + name.rsplit(".", 1)[0] + ".png")), GREY8 > 128)


# ------------------------------------------------------------------------------------------------- masks


@pytest.mark.parametrize(
    "mask",
    [
        GREY8 > 100,
        (GREY8 > 100).astype(np.uint8),
        (GREY8 > 100).astype(np.uint8) * 255,
        (GREY8 > 100).astype(np.int32) * 3,
        np.where(GREY8 > 100, 0.9, 0.1),
        (GREY8 > 100)[:, :, None],
    ],
    ids=["bool", "0-1", "0-255", "labels", "probs", "HW1"],
)
def test_write_mask_is_single_channel_0_255(tmp_path, mask):
    path = write_mask(tmp_path / "m.png", mask)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.ndim == 2 and raw.dtype == np.uint8
    assert set(np.unique(raw)) <= {0, 255}
    np.testing.assert_array_equal(raw == 255, GREY8 > 100)
    back = read_mask(path)
    assert back.dtype == bool
    np.testing.assert_array_equal(back, GREY8 > 100)


def test_read_mask_from_rgb_and_float_tiff(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[1, 2] = (0, 255, 0)
    write_image(tmp_path / "rgb.png", rgb)
    expected = np.zeros((4, 4), bool)
    expected[1, 2] = True
    np.testing.assert_array_equal(read_mask(tmp_path / "rgb.png"), expected)
    probs = np.array([[0.3, 0.5], [0.7, 0.0]], np.float32)
    write_image(tmp_path / "p.tif", probs)
    assert read_mask(tmp_path / "p.tif").tolist() == [[False, True], [True, False]]


@pytest.mark.parametrize(
    ("name", "mask", "error", "match"),
    [
        ("m.jpg", np.zeros((3, 3), bool), ValueError, r"extension '.jpg' is not one of .png"),
        ("m", np.zeros((3, 3), bool), ValueError, r"extension '\(none\)'"),
        ("m.png", np.zeros((3, 3, 3), bool), ValueError, r"\(H, W\) array, got shape \(3, 3, 3\)"),
        ("m.png", np.zeros((0, 3), bool), ValueError, r"non-empty.*\(0, 3\)"),
        ("m.png", np.array([[np.nan, 1.0]]), ValueError, "NaN"),
        ("m.png", "mask", TypeError, "mask must be a NumPy array, got str"),
        ("m.png", np.array([["a"]]), TypeError, "dtype <U1"),
    ],
)
def test_write_mask_errors_leave_nothing(tmp_path, name, mask, error, match):
    with pytest.raises(error, match=match):
        write_mask(tmp_path / name, mask)
    assert list(tmp_path.iterdir()) == []


def test_write_into_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"folder '.*nowhere' does not exist"):
        write_mask(tmp_path / "nowhere" / "m.png", np.zeros((2, 2), bool))


# ------------------------------------------------------------------------------------------- write_image


@pytest.mark.parametrize(
    ("name", "array", "match"),
    [
        ("p.png", PROBS32, r"dtype float32 to '.*p.png': .png holds uint8 or uint16; scale it.*\.tif"),
        ("p.jpg", GREY16, r"dtype uint16 .* .jpg holds uint8"),
        ("p.bmp", np.zeros((4, 4, 4), np.uint8), r"4 channels \(RGBA\) .* use .png"),
        ("p.tif", np.zeros((4, 4), np.int32), r"dtype int32 .* TIFF output holds uint8, uint16, float32"),
        ("p.gif", GREY8, r"extension '.gif' is not one of .png, .jpg"),
        ("p.png", np.zeros((4, 4, 2), np.uint8), r"\(H, W, 3\) or \(H, W, 4\).*\(4, 4, 2\)"),
        ("p.png", np.zeros(5, np.uint8), r"got shape \(5,\)"),
    ],
)
def test_write_image_errors(tmp_path, name, array, match):
    with pytest.raises(ValueError, match=match):
        write_image(tmp_path / name, array)
    assert list(tmp_path.iterdir()) == []


def test_write_image_bool_and_type_errors(tmp_path):
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "b.png", GREY8 > 9)), (GREY8 > 9) * 255)
    with pytest.raises(TypeError, match="array must be a NumPy array, got list"):
        write_image(tmp_path / "x.png", [[1, 2]])
    with pytest.raises(TypeError, match=r"path must be a str or os\.PathLike, got int"):
        write_image(3, GREY8)


def test_write_replaces_existing_file_with_normal_permissions(tmp_path):
    target = tmp_path / "m.png"
    write_mask(target, np.zeros((3, 3), bool))
    write_mask(target, np.ones((3, 3), bool))
    assert read_mask(target).all()
    umask = os.umask(0)
    os.umask(umask)
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert _leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------- atomicity


def test_failed_replace_leaves_target_untouched_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "m.png"
    write_mask(target, np.zeros((5, 5), bool))
    before = target.read_bytes()

    def broken_replace(source, destination):
        raise OSError("disk unplugged")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk unplugged"):
        write_mask(target, np.ones((5, 5), bool))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.png"]


def test_failed_fsync_leaves_no_file(tmp_path, monkeypatch):
    def broken_fsync(number):
        raise OSError("fsync failed")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="fsync failed"):
        write_image(tmp_path / "x.tif", PROBS32)
    assert list(tmp_path.iterdir()) == []


def test_error_inside_block_keeps_old_content(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="half way"), atomic_write(target, "w") as handle:
        handle.write("new, but only ha")
        raise RuntimeError("half way")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_temp_file_lives_in_target_folder_until_done(tmp_path):
    target = tmp_path / "blob.bin"
    with atomic_write(target) as handle:
        handle.write(b"x" * 10)
        assert not target.exists()
        assert len(_leftovers(tmp_path)) == 1
    assert target.read_bytes() == b"x" * 10
    assert _leftovers(tmp_path) == []


def test_atomic_write_text_and_options(tmp_path):
    target = tmp_path / "é.txt"
    with atomic_write(target, "w", encoding="utf-8") as handle:
        handle.write("ä\nb")
    assert target.read_text(encoding="utf-8") == "ä\nb"
    assert write_bytes_atomic(tmp_path / "b.bin", bytearray(b"ab")).read_bytes() == b"ab"
    with pytest.raises(ValueError, match="mode must be 'wb' or 'w', got mode='a'"), atomic_write(target, "a"):
        pass
    with (
        pytest.raises(ValueError, match="encoding='utf-8' needs text mode 'w'"),
        atomic_write(target, encoding="utf-8"),
    ):
        pass
    with pytest.raises(TypeError, match="data must be bytes, got str"):
        write_bytes_atomic(tmp_path / "s.bin", "text")


# ------------------------------------------------------------------------------------------ read errors


def _png_bytes():
    return cv2.imencode(".png", RGB8)[1].tobytes()


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("truncated.png", _png_bytes()[:200], r"cannot decode '.*truncated.png' \(200 bytes\).*truncated"),
        ("text.png", b"this is not a picture\n", r"cannot decode '.*text.png'.*not a valid PNG"),
        ("zero.png", b"", r"cannot read '.*zero.png': the file is empty \(0 bytes\)"),
        ("zero.tif", b"", r"'.*zero.tif': the file is empty"),
        ("text.tif", b"hello, world", r"cannot read '.*text.tif' as TIFF"),
        ("text.jpg", b"\xff\xd8\xffgarbage", r"cannot decode '.*text.jpg'"),
    ],
)
def test_undecodable_files(tmp_path, name, content, match):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ImageReadError, match=match) as info:
        read_image(tmp_path / name)
    assert isinstance(info.value, ValueError) and isinstance(info.value, BootsegError)


def test_tiff_stack_refused_by_read_image(tmp_path):
    tifffile.imwrite(tmp_path / "stack.tif", RNG.random((5, 6, 7)).astype(np.float32))
    with pytest.raises(ImageReadError, match=r"stack of 5 planes of \(6, 7\) \(axes QYX\), not a single 2D image"):
        read_image(tmp_path / "stack.tif")


def test_read_image_path_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"image file '.*missing.png' does not exist"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(IsADirectoryError, match="is a folder, not an image file; use read_images"):
        read_image(tmp_path)
    (tmp_path / "a.gif").write_bytes(b"GIF89a")
    with pytest.raises(ValueError, match=r"cannot read '.*a.gif': extension '.gif' is not one of .png"):
        read_image(tmp_path / "a.gif")
    with pytest.raises(TypeError, match=r"path must be a str or os\.PathLike, got NoneType"):
        read_image(None)


# ------------------------------------------------------------------------------------------ list_images


def test_folder_listing_sorted_and_non_images_logged(tmp_path, caplog):
    for name in ("b.png", "a.TIF", "c.jpeg", "10.bmp", "2.jpg", "notes.txt", "data.csv", ".hidden.png"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.png").write_bytes(b"")
    with caplog.at_level(logging.INFO, logger="bootseg.io"):
        paths = list_images(tmp_path)
    assert [p.name for p in paths] == ["10.bmp", "2.jpg", "a.TIF", "b.png", "c.jpeg"]
    assert all(p.parent == tmp_path for p in paths)
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(messages) == 1
    assert "skipped 4 non-image entries" in messages[0]
    for skipped in (".hidden.png", "data.csv", "notes.txt", "sub/"):
        assert skipped in messages[0]


def test_folder_of_images_only_logs_nothing(tmp_path, caplog):
    (tmp_path / "a.png").write_bytes(b"")
    with caplog.at_level(logging.INFO, logger="bootseg.io"):
        assert list_images(str(tmp_path)) == [tmp_path / "a.png"]
    assert caplog.records == []


def test_single_file_and_lists(tmp_path):
    for name in ("a.png", "b.png"):
        write_image(tmp_path / name, GREY8)
    assert list_images(tmp_path / "a.png") == [tmp_path / "a.png"]
    given = [str(tmp_path / "b.png"), tmp_path / "a.png"]
    assert list_images(given) == [tmp_path / "b.png", tmp_path / "a.png"]  # order kept
    assert list_images(p for p in given) == [tmp_path / "b.png", tmp_path / "a.png"]
    images, paths = read_images(given)
    assert len(images) == 2 and paths[0].name == "b.png"
    np.testing.assert_array_equal(images[1], GREY8)


def _empty_folder(folder):
    (folder / "empty").mkdir()
    return folder / "empty"


def _text_only_folder(folder):
    (folder / "txt").mkdir()
    (folder / "txt" / "a.txt").write_text("x")
    return folder / "txt"


def _text_file(folder):
    (folder / "a.txt").write_text("x")
    return folder / "a.txt"


@pytest.mark.parametrize(
    ("setup", "error", "match"),
    [
        (lambda d: d / "missing", FileNotFoundError, r"image source '.*missing' does not exist"),
        (_empty_folder, ValueError, r"folder '.*empty' holds no image file;"),
        (_text_only_folder, ValueError, r"no image file \(1 other entries\); expected extensions .png, .jpg"),
        (_text_file, ValueError, r"extension '.txt' is not one of"),
        (lambda d: [], ValueError, "empty list of files"),
        (lambda d: [d / "nope.png"], FileNotFoundError, r"image file '.*nope.png' does not exist"),
        (lambda d: [d], ValueError, "is a folder; pass the folder itself"),
        (lambda d: 42, TypeError, "source must be a folder, a file or a list of files, got int"),
        (lambda d: [1.5], TypeError, r"each file in source must be a str or os\.PathLike, got float"),
    ],
)
def test_list_images_errors(tmp_path, setup, error, match):
    with pytest.raises(error, match=match):
        list_images(setup(tmp_path))


def test_read_images_names_the_bad_file(tmp_path):
    write_image(tmp_path / "a.png", GREY8)
    (tmp_path / "b.png").write_bytes(b"junk")
    with pytest.raises(ImageReadError, match=r"b.png"):
        read_images(tmp_path)


def test_supported_suffixes():
    assert IMAGE_SUFFIXES == (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
