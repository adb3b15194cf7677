"""Interrupted runs finish with --resume: killed between any two writes or stopped by Ctrl-C, same results."""

from __future__ import annotations

import filecmp
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bootseg import BootstrapChain
from bootseg.cli import main
from bootseg.datasets import synthetic_spheroids
from bootseg.io import write_image
from bootseg.refiners import UNetRefiner

CHAIN = "otsu,unet(size=32,epochs=2,base_channels=4,batch_size=4)"

# Runs bootseg, and kills the process (os._exit, no clean-up) right after its N-th completed file write; every
# write of bootseg ends in one os.replace. N = 0 never kills, and prints the number of writes.
KILLER = """
import os, sys
limit, count, real = int(sys.argv[1]), [0], os.replace
def replace(source, target):
    real(source, target)
    count[0] += 1
    if count[0] == limit:
        os._exit(9)
os.replace = replace
from bootseg.cli import main
status = main(sys.argv[2:])
print("writes", count[0], file=sys.stderr)
sys.exit(status)
"""


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("resume") / "images"
    folder.mkdir()
    arrays, _ = synthetic_spheroids(8, size=40, seed=3)
    for i, array in enumerate(arrays):
        write_image(folder / f"cell {i:02d}.png", array)
    return folder


def _bootseg(tmp_path: Path, kill_after: int, *args) -> subprocess.CompletedProcess:
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = {**os.environ, "BOOTSEG_DISABLE_PLUGINS": "1"}
    command = [sys.executable, str(script), str(kill_after), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def _same_outputs(reference: Path, resumed: Path) -> None:
    """Every file identical, byte for byte, but the records of time (run.json, report.html); run.json's per-image
    records (confidence included) identical too."""
    compare = filecmp.dircmp(reference, resumed, ignore=["run.json", "report.html"])

    def walk(node):
        assert not node.left_only and not node.right_only, (node.left, node.left_only, node.right_only)
        _, mismatch, errors = filecmp.cmpfiles(node.left, node.right, node.common_files, shallow=False)
        assert not mismatch and not errors, (node.left, mismatch, errors)
        for child in node.subdirs.values():
            walk(child)

    walk(compare)
    first, second = (json.loads((f / "run.json").read_text()) for f in (reference, resumed))
    assert first["inputs"] == second["inputs"] and second["status"] == "complete" and second["resumed"]
    assert [s["options"] for s in first["stages"]] == [s["options"] for s in second["stages"]]


def test_killed_between_any_two_writes_then_resumed_gives_the_same_outputs(images, tmp_path):
    reference = tmp_path / "reference"
    done = _bootseg(tmp_path, 0, "run", images, "--out", reference, "--chain", CHAIN, "--save-proba", "-q")
    assert done.returncode == 0, done.stderr
    writes = int(done.stderr.split("writes")[-1])
    assert writes > 40  # run.json, chain state, 2 × 8 stage masks, the model, 8 masks, probas, overlays, report
    for kill_after in (3, writes // 2, writes - 1):  # during the first stage, after training, before the end
        out = tmp_path / f"killed-{kill_after}"
        killed = _bootseg(tmp_path, kill_after, "run", images, "--out", out, "--chain", CHAIN, "--save-proba", "-q")
        assert killed.returncode == 9
        assert json.loads((out / "run.json").read_text())["status"] == "running"
        refused = _bootseg(tmp_path, 0, "run", images, "--out", out, "--chain", CHAIN, "-q")
        assert refused.returncode == 2 and "is not empty" in refused.stderr
        resumed = _bootseg(tmp_path, 0, "run", "--resume", out, "-q")
        assert resumed.returncode == 0, resumed.stderr
        assert int(resumed.stderr.split("writes")[-1]) < writes  # finished work was kept, not redone
        _same_outputs(reference, out)
        assert not list(out.rglob(".*.tmp"))  # no temporary file left behind


def test_ctrl_c_says_how_to_resume_and_resume_finishes(images, tmp_path):
    out = tmp_path / "out"
    chain = "otsu,unet(size=32,epochs=150,patience=150,base_channels=4,batch_size=4)"  # long enough to interrupt
    # Ctrl-C's handler set in the child itself: a test run started in the background by a shell inherits SIGINT
    # ignored, and so would bootseg (Python keeps an inherited "ignore" instead of raising KeyboardInterrupt)
    launcher = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from bootseg.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    command = [sys.executable, "-c", launcher, "run", str(images), "--out", str(out), "--chain", chain, "-q"]
    log = tmp_path / "stderr.txt"
    with log.open("w") as sink:
        process = subprocess.Popen(command, stderr=sink, text=True)
    deadline, lost = time.monotonic() + 120, 0
    while not (out / "stages" / "0-otsu" / "cell 07.png").exists():  # the first stage is done: training now
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    # CPython drops a KeyboardInterrupt raised inside a weakref callback (an import's module lock holds one) and
    # says so on stderr: that Ctrl-C is lost, as it would be for a user, who presses it again
    deadline = time.monotonic() + 120
    while process.poll() is None:
        assert time.monotonic() < deadline, log.read_text()
        if log.read_text().count("Exception ignored") > lost:
            lost += 1
            process.send_signal(signal.SIGINT)
        time.sleep(0.05)
    stderr = log.read_text()
    assert process.returncode in (130, -signal.SIGINT), stderr  # a shell shows both as status 130
    assert "bootseg: interrupted" in stderr and f"bootseg run --resume {out}" in stderr
    assert not (out / "masks").exists()
    kept = (out / "stages" / "0-otsu" / "cell 00.png").stat().st_mtime_ns
    assert main(["run", "--resume", str(out), "-q"]) == 0
    assert (out / "stages" / "0-otsu" / "cell 00.png").stat().st_mtime_ns == kept  # kept, not written again
    assert len(list((out / "masks").iterdir())) == 8
    assert main(["run", "--resume", str(out)]) == 0  # complete: nothing to do


def test_resume_refusals(images, tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "no run.json there, so no run to resume" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path), "--seed", "3", "--chain", "otsu"]) == 2
    assert "leave out --chain, --seed" in capsys.readouterr().err
    assert main(["run", str(images), "--resume", str(tmp_path)]) == 2
    assert "leave out IMAGES" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path), "--proba-format", "tiff", "--no-overlays"]) == 2
    assert "leave out --proba-format, --no-overlays" in capsys.readouterr().err


def test_resume_refuses_changed_inputs(tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    arrays, _ = synthetic_spheroids(3, size=24, seed=1)
    for i, array in enumerate(arrays):
        write_image(folder / f"{i}.png", array)
    out = tmp_path / "out"
    assert main(["run", str(folder), "--out", str(out), "--chain", "otsu", "-q"]) == 0
    record = json.loads((out / "run.json").read_text())
    record["status"] = "running"  # as if it had been interrupted
    (out / "run.json").write_text(json.dumps(record))
    write_image(folder / "1.png", arrays[0])
    assert main(["run", "--resume", str(out), "-q"]) == 1
    assert "holds the work of a different run: image '1' has other pixels than before" in capsys.readouterr().err


def test_checkpoint_dir_in_python_reloads_trained_networks(tmp_path, monkeypatch):
    images, _ = synthetic_spheroids(6, size=32, seed=2)
    chain = BootstrapChain(["otsu", ("unet", {"size": 32, "epochs": 1, "base_channels": 4})], progress=False)
    first = chain.run(images, checkpoint_dir=tmp_path)
    assert (tmp_path / "model-1-unet.pt").is_file() and (tmp_path / "stages" / "1-unet" / "image-0005.png").is_file()

    def no_training(self, *args, **kwargs):
        raise AssertionError("a kept network must not be trained again")

    monkeypatch.setattr(UNetRefiner, "fit", no_training)
    again = BootstrapChain(["otsu", ("unet", {"size": 32, "epochs": 1, "base_channels": 4})], progress=False)
    second = again.run(images, checkpoint_dir=tmp_path)
    for a, b in zip(first.stages["unet"].proba, second.stages["unet"].proba):
        np.testing.assert_array_equal(a, b)
    other = BootstrapChain(["otsu", ("unet", {"size": 32, "epochs": 2, "base_channels": 4})], progress=False)
    with pytest.raises(ValueError, match=r"holds the work of a different run: stage 1 was unet\(.*epochs=1"):
        other.run(images, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match=r"image name '\.\./x' cannot be a file name"):
        chain.run(images[:1], names=["../x"], checkpoint_dir=tmp_path / "new")


def test_a_damaged_chain_state_is_named_with_what_to_do(tmp_path, capsys):
    from bootseg.resume import StageStore

    folder = tmp_path / "images"
    folder.mkdir()
    arrays, _ = synthetic_spheroids(2, size=24, seed=1)
    for i, array in enumerate(arrays):
        write_image(folder / f"{i}.png", array)
    out = tmp_path / "out"
    assert main(["run", str(folder), "--out", str(out), "--chain", "otsu", "-q"]) == 0
    record = json.loads((out / "run.json").read_text())
    record["status"] = "running"  # as if it had been interrupted
    (out / "run.json").write_text(json.dumps(record))
    (out / "chain-state.json").write_text('{"format": 1, "stages": [')
    assert main(["run", "--resume", str(out), "-q"]) == 1
    message = capsys.readouterr().err
    assert f"'{out / 'chain-state.json'}' is damaged" in message and "--overwrite" in message
    with pytest.raises(ValueError, match=r"chain-state\.json' is damaged \(not valid JSON"):
        StageStore(out, ["0", "1"], {"seed": 0})


def test_a_full_disk_names_the_file_and_says_to_resume(images, tmp_path, monkeypatch, capsys):
    import errno

    real, calls = os.fsync, [0]

    def fsync(fd):
        calls[0] += 1
        if calls[0] > 4:  # the manifest, run.json and the chain state are written; then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    out = tmp_path / "out"
    assert main(["run", str(images), "--out", str(out), "--chain", "otsu", "-q"]) == 1
    message = capsys.readouterr().err
    assert "No space left on device" in message and f"'{out}" in message
    assert f"bootseg run --resume {out}" in message
    assert not list(out.rglob("*.tmp"))


@pytest.mark.parametrize("use", ["", ",corrections=train,trusted_epochs=2"])  # default: validate on them
def test_a_killed_run_with_corrections_resumes_to_the_same_outputs(images, tmp_path, use):
    from bootseg.io import write_mask

    fixes = tmp_path / "fixes"
    fixes.mkdir()
    _, truths = synthetic_spheroids(8, size=40, seed=3)
    for i in (2, 5):
        write_mask(fixes / f"cell {i:02d}.png", truths[i])
    chain = f"auto,unet(size=32,epochs=2,base_channels=4,batch_size=4{use})"
    common = ["--chain", chain, "--corrections", fixes, "-q"]
    reference = tmp_path / "reference"
    done = _bootseg(tmp_path, 0, "run", images, "--out", reference, *common)
    assert done.returncode == 0, done.stderr
    writes = int(done.stderr.split("writes")[-1])
    out = tmp_path / "killed"
    assert _bootseg(tmp_path, writes // 2, "run", images, "--out", out, *common).returncode == 9
    resumed = _bootseg(tmp_path, 0, "run", "--resume", out, "-q")
    assert resumed.returncode == 0, resumed.stderr
    _same_outputs(reference, out)
    assert json.loads((out / "run.json").read_text())["corrections"]["images"] == ["cell 02", "cell 05"]
    trusted = [
        json.loads((folder / "run.json").read_text())["stages"][1]["choices"]["trusted"] for folder in (reference, out)
    ]
    assert trusted[0] == trusted[1] and trusted[0]["use"] == ("train" if use else "validate")
    assert ("confident" in trusted[0]) == (not use)  # the level chosen on the held-out corrections, kept
