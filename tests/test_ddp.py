"""Network training under ``torchrun`` with DistributedDataParallel: two CPU processes on the gloo backend.

The test launches this file with ``python -m torch.distributed.run --nproc_per_node=2 --standalone``; each process
runs :func:`_worker`, which trains a tiny U-Net and writes what it saw and its final weights for the test to compare.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

N_IMAGES = 20  # 16 train / 4 validation; 8 training images per process and epoch
SIZE = 32
EPOCHS = 10
BATCH = 2  # per process: 4 steps per epoch, an effective batch of 4
OPTIONS = {
    "size": SIZE,
    "base_channels": 4,
    "depth": 2,
    "batch_size": BATCH,
    "epochs": EPOCHS,
    "lr": 3e-3,
    "augment": False,  # so every training batch can be traced back to its images
    "progress": False,
    "device": "cpu",
}


def _worker(out: Path) -> None:
    import logging

    import torch
    import torch.distributed as dist

    from bootseg.datasets import synthetic_spheroids
    from bootseg.metrics import dice
    from bootseg.refiners import UNetRefiner
    from bootseg.refiners.memory import DeviceMemoryError
    from bootseg.refiners.unet import UNet

    rank = int(os.environ["RANK"])
    records: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = logging.getLogger("bootseg")
    logger.setLevel(logging.INFO)
    logger.addHandler(_Keep())

    images, truth = synthetic_spheroids(N_IMAGES, size=SIZE, seed=0)
    stack = torch.from_numpy(np.stack(images)).float().div_(255).flatten(1)
    seen: list[list[int]] = []
    original = UNet.forward
    fail = {"on": False}

    def forward(self, x):
        if fail["on"]:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        if self.training:  # which images this process trained on, step by step
            match = (x.flatten(1)[:, None, :] == stack[None]).all(-1)
            seen.append(match.nonzero()[:, 1].tolist())
        return original(self, x)

    UNet.forward = forward

    # 1. bootseg creates the process group from torchrun's environment, and keeps it for later trainings
    unet = UNetRefiner(**OPTIONS).fit(images, truth)
    group_kept = dist.is_initialized()
    dices = [float(dice(p, t)) for p, t in zip(unet.predict(images), truth)]
    unet.save(out / f"model-{rank}.pt")
    report = unet.report

    # 2. an existing group is used, and left alone, also when training fails
    fail["on"] = True
    try:
        UNetRefiner(**{**OPTIONS, "epochs": 1}).fit(images, truth)
        oom_message = None
    except DeviceMemoryError as exc:
        oom_message = str(exc)
    fail["on"] = False
    group_kept_after_error = dist.is_initialized()
    second = UNetRefiner(**{**OPTIONS, "epochs": 1, "batch_size": 4}).fit(images, truth).report

    result = {
        "rank": rank,
        "world_size": report.world_size,
        "report_rank": report.rank,
        "shard_images": report.shard_images,
        "train_images": report.train_images,
        "val_images": report.val_images,
        "batch_size": report.batch_size,
        "history": report.history,
        "best_epoch": report.best_epoch,
        "seen": seen[: EPOCHS * 4],
        "dice": float(np.mean(dices)),
        "log": records,
        "group_kept": group_kept,
        "oom_message": oom_message,
        "group_kept_after_error": group_kept_after_error,
        "second_world_size": second.world_size,
        "second_shard_images": second.shard_images,
    }
    (out / f"result-{rank}.json").write_text(json.dumps(result))


def _main(out: Path) -> None:
    import torch.distributed as dist

    from bootseg.refiners import distributed

    _worker(out)
    distributed._destroy_created_group()  # what runs at exit, for the group bootseg created
    (out / f"done-{os.environ['RANK']}.txt").write_text("kept" if dist.is_initialized() else "destroyed")
    # torch's own teardown of a gloo process group at interpreter exit aborts now and then ("terminate called
    # without an active exception") after all work is done; leave without it
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("this torch has no gloo backend")
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BOOTSEG_DISABLE_PLUGINS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        str(Path(__file__).resolve()),
        str(out),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"torchrun failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    results = [json.loads((out / f"result-{rank}.json").read_text()) for rank in (0, 1)]
    return out, results


def test_both_processes_finish_with_identical_weights(ddp_run):
    import torch

    out, results = ddp_run
    assert [r["rank"] for r in results] == [0, 1] and [r["report_rank"] for r in results] == [0, 1]
    states = [torch.load(out / f"model-{rank}.pt", weights_only=True)["state_dict"] for rank in (0, 1)]
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        torch.testing.assert_close(states[0][key], states[1][key], rtol=0, atol=0, msg=f"{key} differs")
    # BatchNorm running statistics are weights too, and they moved during training
    assert any(key.endswith("running_mean") and states[0][key].abs().sum() > 0 for key in states[0])
    # every process took the same decisions from the same (all-reduced) losses
    assert results[0]["history"] == results[1]["history"]
    assert results[0]["best_epoch"] == results[1]["best_epoch"]


def test_each_process_trains_on_its_own_half_of_every_epoch(ddp_run):
    from bootseg.refiners.training import split_indices

    _, results = ddp_run
    train, _ = split_indices(N_IMAGES, 0.2, seed=0)
    for r in results:
        assert (r["world_size"], r["train_images"], r["val_images"]) == (2, 16, 4)
        assert r["shard_images"] == 8 and r["batch_size"] == BATCH
        assert len(r["seen"]) == EPOCHS * 4 and all(len(step) == BATCH for step in r["seen"])
    per_epoch = []
    for epoch in range(EPOCHS):
        halves = [{i for step in r["seen"][epoch * 4 : epoch * 4 + 4] for i in step} for r in results]
        assert [len(h) for h in halves] == [8, 8], f"epoch {epoch + 1}: each process sees 8 different images"
        assert halves[0].isdisjoint(halves[1]), f"epoch {epoch + 1}: the processes' shares overlap"
        assert halves[0] | halves[1] == set(train.tolist()), f"epoch {epoch + 1}: not the training split"
        per_epoch.append(frozenset(halves[0]))
    assert len(set(per_epoch)) > 1, "the shares are drawn anew every epoch"


def test_the_result_is_a_usable_model(ddp_run):
    _, results = ddp_run
    history = results[0]["history"]
    assert history[-1]["train_loss"] < 0.8 * history[0]["train_loss"]
    # one process, the same data and 10 epochs reach a mean Dice of about 0.93; an untrained network scores 0
    # and one that learned from half the images without exchanging gradients ends with different weights
    assert results[0]["dice"] > 0.8
    assert results[0]["dice"] == pytest.approx(results[1]["dice"], abs=1e-12)


def test_only_rank_zero_logs(ddp_run):
    _, results = ddp_run
    assert any(line.startswith("unet trained on 16 images") for line in results[0]["log"])
    assert any(line == "training on 2 processes (torch.distributed, backend gloo)" for line in results[0]["log"])
    assert results[1]["log"] == []


def test_the_process_group_serves_later_trainings_and_is_destroyed_at_exit(ddp_run):
    out, results = ddp_run
    for r in results:
        assert r["group_kept"] is True and r["group_kept_after_error"] is True
        assert (r["second_world_size"], r["second_shard_images"]) == (2, 8)
    assert [(out / f"done-{rank}.txt").read_text() for rank in (0, 1)] == ["destroyed", "destroyed"]


def test_a_group_the_caller_created_is_left_alone(tmp_path):
    import torch
    import torch.distributed as dist

    from bootseg.refiners import distributed

    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("this torch has no gloo backend")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        assert distributed.join(torch.device("cpu")) is None  # one process: no DDP
        distributed._destroy_created_group()
        assert dist.is_initialized()
    finally:
        dist.destroy_process_group()


def test_out_of_memory_under_torchrun_stops_with_a_clear_error(ddp_run):
    _, results = ddp_run
    for r in results:
        assert r["oom_message"] is not None
        assert f"while training at batch size {BATCH} in process {r['rank']} of 2" in r["oom_message"]
        assert "set a batch_size of at most 1 (batch_size is per process)" in r["oom_message"]


def test_torchrun_environment_is_recognised():
    from bootseg.refiners.distributed import launched_by_torchrun, local_rank

    assert launched_by_torchrun({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"})
    assert not launched_by_torchrun({"WORLD_SIZE": "2", "RANK": "1"})
    assert not launched_by_torchrun({"WORLD_SIZE": "x", "RANK": "1", "LOCAL_RANK": "1"})
    assert local_rank({"WORLD_SIZE": "8", "RANK": "5", "LOCAL_RANK": "1"}) == 1


if __name__ == "__main__":
    _main(Path(sys.argv[1]))


def test_bootseg_run_under_torchrun_writes_once_from_rank_zero(tmp_path):
    from bootseg.datasets import synthetic_spheroids
    from bootseg.io import write_image

    images, _ = synthetic_spheroids(8, size=32, seed=9)
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(images):
        write_image(folder / f"{i}.png", image)
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
        "-m", "bootseg", "run", str(folder), "--out", str(out), "--chain",
        "otsu,unet(size=32,epochs=2,base_channels=4,batch_size=2)", "--device", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "BOOTSEG_DISABLE_PLUGINS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines() == [str(out)]  # printed once, by rank 0
    assert "is not empty" not in done.stderr and done.stderr.count("bootseg: done in") == 1
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "complete" and record["stages"][1]["training"]["world_size"] == 2
    assert len(list((out / "masks").iterdir())) == 8
