from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from bootseg.refiners import UNetRefiner
from bootseg.refiners.checkpoint import CheckpointError
from bootseg.refiners.training import evaluate_loss, split_indices

# min_radius=0: these tests pin the working size (its choice is tested in test_unet_scale.py)
TINY = {
    "size": 32,
    "min_radius": 0,
    "base_channels": 4,
    "depth": 2,
    "batch_size": 4,
    "progress": False,
    "device": "cpu",
}


def _data(n=10, size=40, seed=0):
    rng = np.random.default_rng(seed)
    images, masks = [], []
    yy, xx = np.mgrid[:size, :size]
    for _ in range(n):
        cy, cx, r = rng.uniform(12, size - 12), rng.uniform(12, size - 12), rng.uniform(5, 9)
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
        image = np.where(mask, 60, 190) + rng.normal(0, 10, (size, size))
        images.append(np.clip(image, 0, 255).astype(np.uint8))
        masks.append(mask)
    return images, masks


def test_split_is_seeded_and_80_20():
    train, val = split_indices(50, 0.2, seed=3)
    assert (len(train), len(val)) == (40, 10)
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(range(50))
    again = split_indices(50, 0.2, seed=3)
    np.testing.assert_array_equal(train, again[0])
    assert not np.array_equal(val, split_indices(50, 0.2, seed=4)[1])
    assert [len(a) for a in split_indices(1, 0.2, 0)] == [1, 0]
    assert [len(a) for a in split_indices(3, 0.2, 0)] == [2, 1]


def test_fit_predict_shapes_types_and_sizes():
    images, masks = _data()
    images[1] = np.pad(images[1], ((0, 7), (0, 3)), mode="edge")  # a different size
    masks[1] = np.pad(masks[1], ((0, 7), (0, 3)))
    unet = UNetRefiner(epochs=2, **TINY).fit(images, masks)
    proba = unet.predict_proba(images)
    assert [p.shape for p in proba] == [im.shape for im in images]
    assert all(p.dtype == np.float32 and p.min() >= 0 and p.max() <= 1 for p in proba)
    pred = unet.predict(images)
    assert all(m.dtype == bool for m in pred)
    np.testing.assert_array_equal(pred[0], proba[0] > 0.5)
    # the larger image is 39 × 35 at the set's scale, larger than the 32² working size: 2 × 2 tiles, 13 samples
    assert unet.scale["tiles"] == {"side": 32, "count": 13}
    assert unet.report.train_images == 10 and unet.report.val_images == 3
    assert len(unet.report.history) == 2


def test_it_learns_a_clean_task():
    images, masks = _data(n=16)
    unet = UNetRefiner(epochs=25, augment=False, lr=3e-3, **TINY)
    pred = unet.refine(images, masks)
    dice = np.mean([2 * (p & m).sum() / (p.sum() + m.sum()) for p, m in zip(pred, masks)])
    assert dice > 0.85


def test_best_validation_weights_are_restored():
    images, masks = _data(n=12)
    unet = UNetRefiner(epochs=6, **TINY).fit(images, masks)
    history = unet.report.history
    best = min(range(len(history)), key=lambda i: history[i]["val_loss"])
    assert unet.report.best_epoch == best + 1
    # the network now holds the weights of that epoch: its validation loss is the best one
    x = torch.from_numpy(np.stack([unet._working(im, 1) for im in unet._checked(images)]).transpose(0, 3, 1, 2))
    y = torch.from_numpy(np.stack([unet._target(m, (32, 32)) for m in masks])[:, None])
    _, val = split_indices(12, 0.2, 0)
    again = evaluate_loss(unet.model, x, y, torch.as_tensor(val), unet.config, torch.device("cpu"))
    assert again == pytest.approx(history[best]["val_loss"], rel=1e-4)


def test_early_stopping():
    images, masks = _data(n=10)
    # an improvement must halve the loss: the second epoch's cannot, whatever the machine's arithmetic
    unet = UNetRefiner(epochs=12, patience=1, min_delta=0.5, **TINY).fit(images, masks)
    history = [h["val_loss"] for h in unet.report.history]
    assert unet.report.stopped_early and len(history) < 12
    assert all(later > 0.5 * history[0] for later in history[1:])


def test_cpu_runs_are_repeatable_for_a_seed():
    images, masks = _data(n=8)
    a = UNetRefiner(epochs=2, seed=7, **TINY).fit(images, masks).predict_proba(images)
    b = UNetRefiner(epochs=2, seed=7, **TINY).fit(images, masks).predict_proba(images)
    c = UNetRefiner(epochs=2, seed=8, **TINY).fit(images, masks).predict_proba(images)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)
    assert any(not np.array_equal(p, q) for p, q in zip(a, c))


def test_the_global_torch_seed_is_left_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    images, masks = _data(n=4)
    UNetRefiner(epochs=1, **TINY).fit(images, masks)
    torch.testing.assert_close(torch.rand(3), expected)


def test_threads_sharing_a_trained_network_get_its_maps():
    """fit and load leave the network in eval mode and prediction never switches it, so threads can share it."""
    from concurrent.futures import ThreadPoolExecutor

    images, masks = _data(n=6)
    unet = UNetRefiner(epochs=1, **TINY).fit(images, masks)
    assert not unet.model.training
    alone = [unet.predict_proba([image])[0] for image in images]
    with ThreadPoolExecutor(4) as pool:
        shared = list(pool.map(lambda image: unet.predict_proba([image])[0], images * 4))
    for i, (a, b) in enumerate(zip(alone * 4, shared, strict=True)):
        np.testing.assert_allclose(a, b, atol=1e-6, err_msg=f"map {i}")
    assert not unet.model.training
    unet.model.train()  # a network put in training mode from outside is predicted in eval mode
    np.testing.assert_allclose(unet.predict_proba(images[:1])[0], alone[0], atol=1e-6)


def test_sixteen_bit_float_and_colour_inputs():
    images, masks = _data(n=6)
    as16 = [im.astype(np.uint16) * 16 + 1000 for im in images]
    asfloat = [im.astype(np.float32) / 255 - 0.3 for im in images]
    p8 = UNetRefiner(epochs=1, **TINY).fit(images, masks).predict_proba(images)
    p16 = UNetRefiner(epochs=1, **TINY).fit(as16, masks).predict_proba(as16)
    pf = UNetRefiner(epochs=1, **TINY).fit(asfloat, masks).predict_proba(asfloat)
    # each is stretched from its own range, so the three trainings see nearly the same pixels
    for a, b, c in zip(p8, p16, pf):
        assert np.abs(a - b).max() < 0.1 and np.abs(a - c).max() < 0.1
    mixed = [np.repeat(images[0][:, :, None], 3, axis=2), *images[1:]]
    unet = UNetRefiner(epochs=1, **TINY).fit(mixed, masks)
    assert unet.in_channels == 3
    assert unet.predict(images[:2])[0].shape == images[0].shape


def test_input_errors():
    images, masks = _data(n=4)
    unet = UNetRefiner(epochs=1, **TINY)
    with pytest.raises(ValueError, match="got 4 images but 3 masks"):
        unet.fit(images, masks[:3])
    with pytest.raises(ValueError, match="fit needs at least one image"):
        unet.fit([], [])
    with pytest.raises(ValueError, match=r"masks\[1\] has shape \(5, 5\).*expected shape \(40, 40\)"):
        unet.fit(images[:2], [masks[0], np.zeros((5, 5), bool)])
    with pytest.raises(ValueError, match=r"images\[0\] has 1 NaN or infinite values"):
        bad = images[0].astype(float)
        bad[0, 0] = np.nan
        unet.fit([bad], masks[:1])
    with pytest.raises(RuntimeError, match=r"not trained yet; call fit\(\) or refine\(\) first"):
        unet.predict(images)


def test_save_and_load_give_the_same_predictions(tmp_path):
    images, masks = _data(n=6)
    unet = UNetRefiner(epochs=1, **TINY).fit(images, masks)
    path = unet.save(tmp_path / "model.pt")
    loaded = UNetRefiner.load(path)
    assert loaded.config == unet.config and loaded.in_channels == 1
    for p, q in zip(unet.predict_proba(images), loaded.predict_proba(images)):
        np.testing.assert_allclose(p, q, atol=1e-6)
    assert [f.name for f in tmp_path.iterdir()] == ["model.pt"]  # no temporary file left


class _Payload:
    def __reduce__(self):
        import os

        return (os.makedirs, ("PWNED_DIR",))


def test_loading_never_runs_code_from_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pt"
    torch.save({"format": "bootseg.unet", "payload": _Payload()}, evil, pickle_protocol=2)
    with pytest.raises(CheckpointError, match="is not a loadable bootseg checkpoint"):
        UNetRefiner.load(evil)
    assert not (tmp_path / "PWNED_DIR").exists()
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(CheckpointError, match="is not a loadable bootseg checkpoint"):
        UNetRefiner.load(raw)
    assert not (tmp_path / "PWNED_DIR").exists()


def test_foreign_and_damaged_checkpoints_are_refused(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="is a torch file but not a bootseg network stage"):
        UNetRefiner.load(foreign)
    text = tmp_path / "text.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="is not a loadable bootseg checkpoint"):
        UNetRefiner.load(text)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        UNetRefiner.load(tmp_path / "missing.pt")
    images, masks = _data(n=4)
    good = UNetRefiner(epochs=1, **TINY).fit(images, masks).save(tmp_path / "good.pt")
    data = torch.load(good, weights_only=True)
    data["state_dict"].pop(next(iter(data["state_dict"])))
    torch.save(data, tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="does not describe a valid unet stage"):
        UNetRefiner.load(tmp_path / "cut.pt")
    data["format_version"] = 99
    torch.save(data, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="format version 99; this bootseg reads version 1"):
        UNetRefiner.load(tmp_path / "future.pt")


def test_tta_averages_the_four_flips_of_the_plain_prediction():
    images, masks = _data(n=6, size=32)
    unet = UNetRefiner(epochs=1, **TINY).fit(images, masks)
    plain = unet.predict_proba(images)
    unet_tta = UNetRefiner(epochs=1, tta=True, **TINY)
    unet_tta.model, unet_tta.in_channels = unet.model, unet.in_channels
    averaged = unet_tta.predict_proba(images)
    for image, got in zip(images, averaged):
        # NumPy reference: predict each flipped image, flip the map back, average
        views = [
            np.flip(p, axes)
            for p, axes in zip(
                unet.predict_proba([np.flip(image, axes) for axes in ((), (1,), (0,), (0, 1))]),
                ((), (1,), (0,), (0, 1)),
            )
        ]
        np.testing.assert_allclose(got, np.mean(views, axis=0), atol=1e-5)
    assert not np.allclose(plain[0], averaged[0], atol=1e-4)  # the flips do change the map
    # the average over the flip group is equivariant: flipping the image flips the map
    flipped = unet_tta.predict_proba([np.flip(images[0], 1)])[0]
    np.testing.assert_allclose(flipped, np.flip(averaged[0], 1), atol=1e-5)


def test_tta_option_is_checked_and_saved(tmp_path):
    images, masks = _data(n=4, size=32)
    unet = UNetRefiner(epochs=1, tta=True, **TINY).fit(images, masks)
    loaded = UNetRefiner.load(unet.save(tmp_path / "m.pt"))
    assert loaded.config.tta is True
    np.testing.assert_allclose(loaded.predict_proba(images[:1])[0], unet.predict_proba(images[:1])[0], atol=1e-6)


def test_random_crops_match_numpy_slices():
    from bootseg.refiners.training import random_crops

    x = torch.rand(5, 3, 12, 10)
    y = torch.rand(5, 1, 12, 10)
    generator = torch.Generator().manual_seed(4)
    cx, cy = random_crops(x, y, 4, generator)
    # the same draws, replayed: the first ``randint`` gives the rows, the second the columns
    replay = torch.Generator().manual_seed(4)
    top = torch.randint(0, 12 - 4 + 1, (5,), generator=replay).numpy()
    left = torch.randint(0, 10 - 4 + 1, (5,), generator=replay).numpy()
    xn, yn = x.numpy(), y.numpy()
    for i in range(5):
        np.testing.assert_array_equal(cx[i].numpy(), xn[i, :, top[i] : top[i] + 4, left[i] : left[i] + 4])
        np.testing.assert_array_equal(cy[i].numpy(), yn[i, :, top[i] : top[i] + 4, left[i] : left[i] + 4])
    assert len(set(top.tolist()) | set(left.tolist())) > 1  # the windows differ between samples


def test_crop_training_learns_and_predicts_whole_images(monkeypatch):
    from bootseg.refiners import training

    seen = []
    original = training.random_crops

    def spy(x, y, side, generator):
        out = original(x, y, side, generator)
        seen.append((tuple(x.shape[-2:]), tuple(out[0].shape[-2:])))
        return out

    monkeypatch.setattr(training, "random_crops", spy)
    images, masks = _data(n=16, size=64)
    unet = UNetRefiner(epochs=25, augment=False, lr=3e-3, crop=32, **{**TINY, "size": 64})
    pred = unet.refine(images, masks)
    assert seen and set(seen) == {((64, 64), (32, 32))}  # every training batch was cropped
    assert [p.shape for p in pred] == [im.shape for im in images]
    dice = np.mean([2 * (p & m).sum() / (p.sum() + m.sum()) for p, m in zip(pred, masks)])
    assert dice > 0.85
    assert unet.config.crop == 32 and unet.config.to_dict()["crop"] == 32


def test_crop_option_is_checked():
    with pytest.raises(ValueError, match=r"crop must be 0 \(whole images\) or a multiple of 2\*\*depth = 4, got 30"):
        UNetRefiner(crop=30, **TINY)
    assert UNetRefiner(crop=64, **TINY).config.crop == 64  # at least size: whole images
    with pytest.raises(TypeError, match="crop must be an integer"):
        UNetRefiner(crop=0.5, **TINY)


def test_a_crop_as_large_as_the_working_size_trains_on_whole_images(monkeypatch):
    from bootseg.refiners import training

    def fail(*args):
        raise AssertionError("random_crops called")

    monkeypatch.setattr(training, "random_crops", fail)
    images, masks = _data(n=6)
    UNetRefiner(epochs=1, crop=32, **TINY).fit(images, masks)  # size 32
    UNetRefiner(epochs=1, crop=64, **TINY).fit(images, masks)
