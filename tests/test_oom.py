"""Running out of device memory halves the batch and carries on, in training and prediction.

CUDA's out-of-memory error is simulated on the CPU: a patched forward raises ``torch.OutOfMemoryError`` when a
batch holds more images than a limit.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from bootseg.errors import BootsegError
from bootseg.refiners import UNetRefiner
from bootseg.refiners.memory import DeviceMemoryError
from bootseg.refiners.unet import UNet

TINY = {"size": 32, "min_radius": 0, "base_channels": 4, "depth": 2, "progress": False, "device": "cpu"}


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


class _MemoryLimit:
    """A forward pre-hook that fails like CUDA does when a batch holds more than ``limit`` images."""

    def __init__(self, limit, *, training_only=False, after_calls=0):
        self.limit, self.training_only, self.after_calls = limit, training_only, after_calls
        self.calls = 0
        self.sizes = []  # (batch size, failed) per forward call

    def __call__(self, module, args):
        self.calls += 1
        batch = args[0].shape[0]
        fail = batch > self.limit and self.calls > self.after_calls and (module.training or not self.training_only)
        self.sizes.append((batch, fail))
        if fail:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {batch} GiB (simulated)")


@pytest.fixture(scope="module")
def trained():
    images, masks = _data(n=10)
    return UNetRefiner(epochs=1, batch_size=8, **TINY).fit(images, masks), images


def _limited(model, limit, **kwargs):
    hook = _MemoryLimit(limit, **kwargs)
    return hook, model.register_forward_pre_hook(hook)


def _patch_unet(monkeypatch, hook):
    """Put ``hook`` in front of every UNet built inside fit()."""
    original = UNet.forward

    def forward(self, x):
        hook(self, (x,))
        return original(self, x)

    monkeypatch.setattr(UNet, "forward", forward)


# -- prediction ---------------------------------------------------------------------------------------------------


def test_prediction_halves_the_batch_and_gives_the_same_maps(trained, caplog):
    unet, images = trained
    reference = unet.predict_proba(images, batch_size=8)
    at_four = unet.predict_proba(images, batch_size=4)
    hook, handle = _limited(unet.model, 4)
    try:
        with caplog.at_level(logging.WARNING, logger="bootseg.refiners"):
            proba = unet.predict_proba(images, batch_size=8)
    finally:
        handle.remove()
    # the first 8 failed and were retried as 4 + 4; the stream then went on 4 at a time (the last 2 images)
    assert hook.sizes == [(8, True), (4, False), (4, False), (2, False)]
    assert len(caplog.records) == 1
    record = caplog.records[0]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "out of memory on cpu while predicting at batch size 8; retrying with batch size 4"
    assert len(proba) == len(images)
    for p, q, r in zip(proba, at_four, reference):
        np.testing.assert_array_equal(p, q)  # exactly what batch size 4 gives
        np.testing.assert_allclose(p, r, rtol=0, atol=1e-6)  # and what the uninterrupted run gave, to rounding
        assert p.shape == r.shape and p.dtype == np.float32
    assert [m.tolist() for m in unet.predict(images[:3])] == [(r > 0.5).tolist() for r in reference[:3]]


def test_prediction_halves_repeatedly_down_to_one(trained, caplog):
    unet, images = trained
    reference = unet.predict_proba(images, batch_size=1)
    hook, handle = _limited(unet.model, 1)
    try:
        with caplog.at_level(logging.WARNING, logger="bootseg.refiners"):
            proba = unet.predict_proba(images, batch_size=8)
    finally:
        handle.remove()
    assert hook.sizes == [(8, True), (4, True), (2, True)] + [(1, False)] * 10
    assert [r.getMessage().split(" while predicting ")[1] for r in caplog.records] == [
        "at batch size 8; retrying with batch size 4",
        "at batch size 4; retrying with batch size 2",
        "at batch size 2; retrying with batch size 1",
    ]
    for p, r in zip(proba, reference):
        np.testing.assert_array_equal(p, r)


def test_a_short_last_batch_is_halved_from_its_own_length(trained, caplog):
    unet, images = trained
    hook, handle = _limited(unet.model, 2)
    try:
        with caplog.at_level(logging.WARNING, logger="bootseg.refiners"):
            proba = unet.predict_proba(images[:3], batch_size=8)
    finally:
        handle.remove()
    assert hook.sizes == [(3, True), (1, False), (1, False), (1, False)]
    assert [r.getMessage() for r in caplog.records] == [
        "out of memory on cpu while predicting at batch size 3; retrying with batch size 1"
    ]
    for p, r in zip(proba, unet.predict_proba(images[:3], batch_size=1)):
        np.testing.assert_array_equal(p, r)


def test_prediction_at_batch_one_raises_a_clear_error(trained, caplog):
    unet, images = trained
    unet.model.train()
    hook, handle = _limited(unet.model, 0)
    try:
        with (
            caplog.at_level(logging.WARNING, logger="bootseg.refiners"),
            pytest.raises(DeviceMemoryError, match=r"while predicting even at batch size 1") as info,
        ):
            unet.predict_proba(images, batch_size=4)
    finally:
        handle.remove()
    message = str(info.value)
    assert "working size 32, base_channels 4" in message
    assert "--size" in message and "min_radius=0" in message and "--device cpu" in message
    assert isinstance(info.value.__cause__, torch.OutOfMemoryError)
    assert isinstance(info.value, BootsegError) and isinstance(info.value, RuntimeError)
    assert [size for size, _ in hook.sizes] == [4, 2, 1]
    assert [r.getMessage().split("; ")[1] for r in caplog.records] == [
        "retrying with batch size 2",
        "retrying with batch size 1",
    ]
    assert not unet.model.training  # predicted in eval mode, and left there (threads may share the network)
    unet.model.eval()


def test_other_runtime_errors_are_not_retried(trained, caplog):
    unet, images = trained

    def broken(module, args):
        raise RuntimeError("a bug, not memory")

    handle = unet.model.register_forward_pre_hook(broken)
    try:
        with (
            caplog.at_level(logging.WARNING, logger="bootseg.refiners"),
            pytest.raises(RuntimeError, match="a bug, not memory"),
        ):
            unet.predict_proba(images, batch_size=8)
    finally:
        handle.remove()
    assert caplog.records == []


# -- training -----------------------------------------------------------------------------------------------------


def _state(unet):
    return {k: v.clone() for k, v in unet.model.state_dict().items()}


def test_training_restarts_with_half_the_batch_and_records_it(monkeypatch, caplog):
    images, masks = _data(n=10)
    clean = UNetRefiner(epochs=2, batch_size=2, **TINY).fit(images, masks)
    hook = _MemoryLimit(2, training_only=True)
    _patch_unet(monkeypatch, hook)
    with caplog.at_level(logging.WARNING, logger="bootseg.refiners"):
        unet = UNetRefiner(epochs=2, batch_size=8, **TINY).fit(images, masks)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "out of memory on cpu while training at batch size 8; retrying with batch size 4; "
        "training restarts from the first epoch with the same seed",
        "out of memory on cpu while training at batch size 4; retrying with batch size 2; "
        "training restarts from the first epoch with the same seed",
    ]
    report = unet.report
    assert report.batch_size == 2 and report.memory_retries == 2
    assert [h["batch_size"] for h in report.history] == [2, 2]
    assert len(report.history) == 2 and report.train_images == 8
    assert unet.config.batch_size == 8  # the option asked for is kept; the report says what was used
    # a restart from scratch with the same seed is the run that batch size 2 gives from the start
    assert clean.report.history == report.history
    for key, value in _state(clean).items():
        torch.testing.assert_close(_state(unet)[key], value, rtol=0, atol=0)


def test_running_out_in_a_later_epoch_restarts_from_scratch(monkeypatch, caplog):
    images, masks = _data(n=10)
    clean = UNetRefiner(epochs=3, batch_size=4, **TINY).fit(images, masks)
    # epoch 1 at batch 8 is one step and one validation pass; the first failure is in epoch 2
    hook = _MemoryLimit(4, after_calls=2)
    _patch_unet(monkeypatch, hook)
    with caplog.at_level(logging.WARNING, logger="bootseg.refiners"):
        unet = UNetRefiner(epochs=3, batch_size=8, **TINY).fit(images, masks)
    assert hook.sizes[:3] == [(8, False), (2, False), (8, True)]
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith("out of memory on cpu while training at batch size 8; retrying")
    assert unet.report.batch_size == 4 and len(unet.report.history) == 3
    assert [h["epoch"] for h in unet.report.history] == [1, 2, 3]
    assert clean.report.history == unet.report.history
    for key, value in _state(clean).items():
        torch.testing.assert_close(_state(unet)[key], value, rtol=0, atol=0)


def test_training_at_batch_one_raises_a_clear_error(monkeypatch, caplog):
    images, masks = _data(n=4)
    _patch_unet(monkeypatch, _MemoryLimit(0))
    expected = r"out of memory on cpu while training even at batch size 1"
    with (
        caplog.at_level(logging.WARNING, logger="bootseg.refiners"),
        pytest.raises(DeviceMemoryError, match=expected) as info,
    ):
        UNetRefiner(epochs=1, batch_size=2, **TINY).fit(images, masks)
    assert "--size" in str(info.value) and "--device cpu" in str(info.value)
    assert isinstance(info.value.__cause__, torch.OutOfMemoryError)
    assert [r.getMessage().split("; ")[1] for r in caplog.records] == ["retrying with batch size 1"]


def test_training_without_memory_trouble_records_the_batch_size():
    images, masks = _data(n=6)
    report = UNetRefiner(epochs=1, batch_size=3, **TINY).fit(images, masks).report
    assert (report.batch_size, report.memory_retries, report.world_size, report.rank) == (3, 0, 1, 0)
    assert report.shard_images == report.train_images == 5
    assert report.history[0]["batch_size"] == 3


def test_a_bad_prediction_batch_size_is_refused(trained):
    unet, images = trained
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match=rf"batch_size must be a positive integer or None, got {bad!r}"):
            unet.predict_proba(images[:2], batch_size=bad)
    assert len(unet.predict_proba(images[:2], batch_size=np.int64(1))) == 2
