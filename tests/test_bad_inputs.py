"""Bad input is found before any work, all of it at once; --skip-bad leaves it out. One test per case."""

from __future__ import annotations

import hashlib
import json
import logging
import warnings

import cv2
import numpy as np
import pytest
import tifffile

from bootseg import BootstrapChain
from bootseg.cli import main
from bootseg.inputs import BadInputError, check_inputs, load_inputs
from bootseg.io import ImageReadError, read_image, write_image


def _image(seed: int = 0, shape=(24, 24)) -> np.ndarray:
    """A bright disc on a dark, noisy background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    disc = (yy - shape[0] / 2) ** 2 + (xx - shape[1] / 2) ** 2 < (min(shape) / 4) ** 2
    return np.clip(60 + 120 * disc + rng.normal(0, 10, shape), 0, 255).astype(np.uint8)


def _png_bytes(array: np.ndarray) -> bytes:
    return cv2.imencode(".png", array)[1].tobytes()


def _good_folder(tmp_path, count: int = 3):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(count):
        write_image(folder / f"good{i}.png", _image(i))
    return folder


# Each bad case: a file name, how to write it, and the words its reason must hold.
def _truncated_png(path):
    data = _png_bytes(_image())
    path.write_bytes(data[: len(data) // 2])


def _truncated_jpeg(path):
    data = cv2.imencode(".jpg", _image())[1].tobytes()
    path.write_bytes(data[: len(data) // 3])


def _huge_png_header(path):
    """A PNG whose header says 10 000 × 10 000 pixels: refused from the header, before any decoding."""
    data = bytearray(_png_bytes(_image()))
    data[16:24] = (10_000).to_bytes(4, "big") * 2
    path.write_bytes(bytes(data))


def _empty_tiff(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tifffile: "writing zero-size array to nonconformant TIFF"
        tifffile.imwrite(path, np.zeros((0, 8), np.uint8))


def _two_series_tiff(path):
    """A TIFF of two separate images (series) of different sizes."""
    with tifffile.TiffWriter(path) as tiff:
        tiff.write(np.zeros((8, 8), np.uint8), photometric="minisblack", metadata=None)
        tiff.write(np.full((6, 6), 255, np.uint8), photometric="minisblack", metadata=None)


def _nan_plane() -> np.ndarray:
    """A float32 Z-stack of three 8 × 8 planes, the second with one NaN."""
    stack = np.zeros((3, 8, 8), np.float32)
    stack[1, 2, 3] = np.nan
    return stack


BAD = [
    ("zero.png", lambda p: p.write_bytes(b""), "the file is empty (0 bytes)"),
    ("truncated.png", _truncated_png, "cannot be decoded"),
    ("truncated.jpg", _truncated_jpeg, "cannot be decoded"),
    ("notes.png", lambda p: p.write_text("these are my notes"), "not a valid PNG image"),
    ("row.png", lambda p: write_image(p, np.zeros((1, 30), np.uint8)), "at least 2×2 pixels"),
    ("nan.tif", lambda p: tifffile.imwrite(p, np.array([[0, np.nan], [1, np.inf]], np.float32)), "NaN or infinite"),
    ("empty.tif", lambda p: _empty_tiff(p), "TIFF holds no pixels (shape (0, 8), 0 rows or columns)"),
    (
        "two.tif",
        lambda p: tifffile.imwrite(p, np.zeros((8, 8, 2), np.uint16), photometric="minisblack", planarconfig="contig"),
        "2 channels",
    ),
    (
        "nan-plane.tif",
        lambda p: tifffile.imwrite(p, _nan_plane(), imagej=True, metadata={"axes": "ZYX"}),
        "plane z0001 has 1 NaN or infinite values (shape (8, 8) dtype float32); replace them first (a stack of 3",
    ),
    (
        "channels.tif",
        lambda p: tifffile.imwrite(p, np.zeros((3, 2, 8, 8), np.uint8), imagej=True, metadata={"axes": "ZCYX"}),
        "TIFF holds 2 channels (axis C of ZCYX, shape (3, 2, 8, 8)); pick the channel to segment with --channel N",
    ),
    ("huge.png", _huge_png_header, "10000 × 10000 pixels is above the limit of 67,108,864"),
    ("series.tif", lambda p: _two_series_tiff(p), "TIFF holds 2 images (series) of shapes (8, 8) and (6, 6)"),
]


@pytest.mark.parametrize(("name", "write", "reason"), BAD, ids=[b[0] for b in BAD])
def test_each_bad_file_is_refused_with_its_reason(tmp_path, name, write, reason):
    folder = _good_folder(tmp_path, 1)
    write(folder / name)
    with pytest.raises(BadInputError, match="1 of 2 inputs cannot be used") as info:
        load_inputs(folder)
    assert [item.source for item in info.value.bad] == [str(folder / name)]
    assert reason in info.value.bad[0].reason


def test_all_bad_files_are_listed_in_one_message_and_nothing_is_written(tmp_path, capsys):
    folder = _good_folder(tmp_path, 2)
    for name, write, _ in BAD:
        write(folder / name)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    out = tmp_path / "out"
    assert main(["run", str(folder), "--out", str(out), "--chain", "otsu", "-q"]) == 1
    message = capsys.readouterr().err
    assert f"{len(BAD)} of {len(BAD) + 2} inputs cannot be used, so nothing was processed" in message
    for name, _, reason in BAD:
        assert f"{folder / name}: " in message and reason in message
    assert "--skip-bad" in message
    assert not out.exists()
    assert before == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_skip_bad_processes_the_rest_and_lists_the_bad_everywhere(tmp_path, capsys):
    folder = _good_folder(tmp_path, 2)
    (folder / "zero.png").write_bytes(b"")
    (folder / "notes.png").write_text("not an image")
    out = tmp_path / "out"
    assert main(["run", str(folder), "--out", str(out), "--chain", "otsu", "--skip-bad"]) == 0
    log = capsys.readouterr().err
    assert f"warning: skipped {folder / 'zero.png'}: the file is empty (0 bytes)" in log
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["good0.png", "good1.png"]
    record = json.loads((out / "run.json").read_text())
    assert [s["source"] for s in record["skipped"]] == [str(folder / "notes.png"), str(folder / "zero.png")]
    report = (out / "report.html").read_text()
    assert "Skipped inputs (2)" in report and "the file is empty (0 bytes)" in report


def test_python_api_raises_the_same_message_and_skips_the_same_files(tmp_path):
    folder = _good_folder(tmp_path, 2)
    (folder / "zero.png").write_bytes(b"")
    chain = BootstrapChain(["otsu"], progress=False)
    with pytest.raises(BadInputError, match=r"1 of 3 inputs cannot be used[\s\S]*zero.png: the file is empty"):
        chain.run(folder)
    result = chain.run(folder, skip_bad=True)
    assert result.names == ["good0", "good1"]
    assert [item.reason for item in result.skipped] == ["the file is empty (0 bytes)"]


def test_arrays_are_checked_all_at_once(tmp_path):
    arrays = [_image(), np.zeros((5,)), np.full((4, 4), np.nan), np.zeros((6, 6, 2)), _image(1)]
    with pytest.raises(BadInputError, match="3 of 5 inputs cannot be used") as info:
        check_inputs(arrays)
    reasons = [item.line() for item in info.value.bad]
    assert reasons[0].startswith("images[1]: must be (H, W) or (H, W, C)")
    assert reasons[1].startswith("images[2]: has 16 NaN or infinite values")
    assert reasons[2].startswith("images[3]: has 2 channels")
    result = BootstrapChain(["otsu"], progress=False).run(arrays, skip_bad=True)
    assert result.names == ["image-0000", "image-0004"] and len(result.skipped) == 3


def test_duplicate_stems_are_refused_naming_both(tmp_path):
    folder = _good_folder(tmp_path, 1)
    tifffile.imwrite(folder / "good0.tif", _image(5))
    with pytest.raises(BadInputError, match="its name 'good0' is also that of") as info:
        load_inputs(folder)
    assert str(folder / "good0.png") in info.value.bad[0].reason and info.value.bad[0].source.endswith("good0.tif")


def test_a_non_image_file_is_skipped_and_logged_and_a_folder_of_none_is_an_error(tmp_path, caplog):
    folder = _good_folder(tmp_path, 1)
    np.save(folder / "array.npy", _image())
    with caplog.at_level(logging.INFO, logger="bootseg"):
        assert load_inputs(folder).names == ["good0"]
    assert "skipped 1 non-image entries" in caplog.text and "array.npy" in caplog.text
    (folder / "good0.png").unlink()
    with pytest.raises(ValueError, match=r"holds no image file \(1 other entries\)"):
        load_inputs(folder)


def test_the_pixel_limit_is_checked_after_decoding_too(tmp_path):
    folder = _good_folder(tmp_path, 1)
    cv2.imwrite(str(folder / "big.jpg"), np.zeros((40, 50, 3), np.uint8))
    with pytest.raises(BadInputError, match=r"big.jpg: 50 × 40 pixels is above the limit of 1,000 pixels"):
        load_inputs(folder, max_pixels=1000)
    with pytest.raises(ValueError, match="max_pixels must be an integer >= 4"):
        load_inputs(folder, max_pixels=0)


def test_supported_kinds_mixed_in_one_folder_are_all_processed(tmp_path, capsys):
    """16-bit grey and RGB, RGBA, float TIFF, mixed sizes and channels, spaces and non-ASCII names, constant."""
    folder = tmp_path / "images"
    folder.mkdir()
    grey = _image(0, (20, 30))
    write_image(folder / "grey 16.png", grey.astype(np.uint16) * 257)
    write_image(folder / "rgb16.tif", np.repeat(grey[:, :, None], 3, axis=2).astype(np.uint16) * 257)
    write_image(
        folder / "rgba.png", np.dstack([np.repeat(_image(1)[:, :, None], 3, axis=2), np.full((24, 24), 255, np.uint8)])
    )
    tifffile.imwrite(folder / "float.tif", _image(2, (16, 40)).astype(np.float32) / 255)
    write_image(folder / "zellkern-Ä.png", _image(3, (32, 32)))
    write_image(folder / "constant.png", np.full((12, 12), 7, np.uint8))
    out = tmp_path / "out"
    assert main(["run", str(folder), "--out", str(out), "--chain", "otsu(polarity=bright)"]) == 0
    log = capsys.readouterr().err
    assert "1 constant image(s)" in log and "constant" in log
    record = json.loads((out / "run.json").read_text())
    assert record["constant_images"] == ["constant"]
    shapes = {item["name"]: (item["height"], item["width"], item["channels"]) for item in record["inputs"]}
    assert shapes == {
        "constant": (12, 12, 1),
        "float": (16, 40, 1),
        "grey 16": (20, 30, 1),
        "rgb16": (20, 30, 3),
        "rgba": (24, 24, 3),
        "zellkern-Ä": (32, 32, 1),
    }
    expected = (grey > 0).shape
    assert cv2.imdecode(np.fromfile(out / "masks" / "grey 16.png", np.uint8), 0).shape == expected
    constant = cv2.imdecode(np.fromfile(out / "masks" / "constant.png", np.uint8), 0)
    assert not constant.any()
    # 16-bit grey and the same picture in 8 bits give the same Otsu mask (skimage on the 8-bit picture)
    from skimage.filters import threshold_otsu

    mask = cv2.imdecode(np.fromfile(out / "masks" / "grey 16.png", np.uint8), 0) > 0
    assert (mask == (grey > threshold_otsu(grey))).mean() > 0.99


def test_out_inside_or_equal_to_input_is_refused(tmp_path, capsys):
    folder = _good_folder(tmp_path, 1)
    assert main(["run", str(folder), "--out", str(folder), "--chain", "otsu"]) == 2
    assert "is the input folder" in capsys.readouterr().err
    assert main(["run", str(folder), "--out", str(folder / "res"), "--chain", "otsu"]) == 2
    assert "inside the input folder" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["good0.png"]


def test_predict_checks_every_input_first_and_skips_on_request(tmp_path, capsys):
    folder = _good_folder(tmp_path, 4)
    run_out = tmp_path / "run"
    chain = "otsu,unet(size=32,epochs=1,base_channels=4,batch_size=2)"
    assert main(["run", str(folder), "--out", str(run_out), "--chain", chain, "-q"]) == 0
    new = tmp_path / "new"
    new.mkdir()
    write_image(new / "a.png", _image(7))
    (new / "b.png").write_text("not an image")
    pred = tmp_path / "pred"
    assert main(["predict", str(run_out), str(new), "--out", str(pred), "-q"]) == 1
    assert "1 of 2 inputs cannot be used" in capsys.readouterr().err and not pred.exists()
    assert main(["predict", str(run_out), str(new), "--out", str(pred), "-q", "--skip-bad"]) == 0
    assert [p.name for p in (pred / "masks").iterdir()] == ["a.png"]
    assert json.loads((pred / "run.json").read_text())["skipped"][0]["source"] == str(new / "b.png")


def _with_size(data: bytes, fmt: str, height: int, width: int) -> bytes:
    """``data`` (an encoded JPEG or BMP) with the size in its header changed, the pixels left as they are."""
    data = bytearray(data)
    if fmt == ".bmp":
        data[18:22] = width.to_bytes(4, "little", signed=True)
        data[22:26] = height.to_bytes(4, "little", signed=True)
        return bytes(data)
    at = 2
    while data[at + 1] not in (0xC0, 0xC1, 0xC2):  # to the start-of-frame segment
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    data[at + 5 : at + 7] = height.to_bytes(2, "big")
    data[at + 7 : at + 9] = width.to_bytes(2, "big")
    return bytes(data)


@pytest.mark.parametrize("fmt", [".jpg", ".bmp"])
def test_jpeg_and_bmp_sizes_are_checked_from_the_header_before_decoding(tmp_path, monkeypatch, fmt):
    _, encoded = cv2.imencode(fmt, np.zeros((40, 50, 3), np.uint8))
    path = tmp_path / f"huge{fmt}"
    path.write_bytes(_with_size(encoded.tobytes(), fmt, 20000, 20000))

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded before the header's size was checked")

    monkeypatch.setattr(cv2, "imdecode", no_decoding)
    with pytest.raises(ImageReadError, match=r"huge\.(jpg|bmp)': 20000 × 20000 pixels is above the limit"):
        read_image(path, max_pixels=2**26)
