"""The thread rule, the cgroup and /proc/stat readers it uses, and --threads on the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bootseg import threads
from bootseg.chain import BootstrapChain
from bootseg.datasets import synthetic_spheroids
from bootseg.io import write_image
from bootseg.refiners.config import UNetConfig
from bootseg.threads import (
    busy_share,
    cgroup_cpu_limit,
    choose_threads,
    parse_cfs_quota,
    parse_cpu_max,
    parse_proc_stat,
    threads_for,
)


@pytest.mark.parametrize(
    ("allowed", "busy", "expected"),
    [
        (1, 0.0, 1),
        (1, 3.0, 1),
        (2, 0.0, 2),
        (2, 0.7, 2),  # less than three quarters of a core taken: still free
        (2, 0.8, 1),
        (2, 1.0, 1),
        (2, 2.0, 1),  # never below one
        (4, 1.0, 3),
        (4, 1.74, 3),
        (4, 1.76, 2),
        (16, 5.0, 11),
        (16, 40.0, 1),
    ],
)
def test_threads_for_takes_the_cores_others_hold(allowed, busy, expected):
    assert threads_for(allowed, busy) == expected


@pytest.mark.parametrize(
    ("text", "cores"),
    [("max 100000\n", None), ("200000 100000\n", 2.0), ("50000 100000", 0.5), ("max", None), ("", None)],
)
def test_parse_cpu_max(text, cores):
    assert parse_cpu_max(text) == cores


@pytest.mark.parametrize(
    ("quota", "period", "cores"), [("-1\n", "100000\n", None), ("150000\n", "100000\n", 1.5), ("0", "100000", None)]
)
def test_parse_cfs_quota(quota, period, cores):
    assert parse_cfs_quota(quota, period) == cores


def test_cgroup_v2_limit_is_read_from_the_process_own_group(tmp_path):
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "cpu.max").write_text("300000 100000\n")
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path, proc_cgroup="0::/job\n") == 3.0
    assert cgroup_cpu_limit(tmp_path, proc_cgroup="0::/\n") is None


def test_cgroup_v1_quota_and_no_files(tmp_path):
    (tmp_path / "cpu" / "docker").mkdir(parents=True)
    (tmp_path / "cpu" / "docker" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "docker" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(tmp_path, proc_cgroup="4:memory:/x\n3:cpu,cpuacct:/docker\n") == 1.0
    assert cgroup_cpu_limit(tmp_path / "nothing", proc_cgroup="0::/\n") is None


STAT_BEFORE = """cpu  300 0 30 700 0 0 0 0 0 0
cpu0 100 0 10 390 0 0 0 0 0 0
cpu1 200 0 20 310 0 0 0 0 0 0
intr 1 2 3
"""
# cpu0: 50 busy of 100 jiffies; cpu1: 95 busy (90 user, 5 system) of 100, 5 iowait counted as idle
STAT_AFTER = """cpu  445 0 35 720 5 0 0 0 0 0
cpu0 150 0 10 440 0 0 0 0 0 0
cpu1 290 0 25 310 5 0 0 0 0 0
intr 1 2 3
"""


def test_proc_stat_busy_cores_per_cpu():
    before, after = parse_proc_stat(STAT_BEFORE), parse_proc_stat(STAT_AFTER)
    assert before == {0: (110, 500), 1: (220, 530)}
    assert busy_share(before, after, [0, 1]) == pytest.approx(0.5 + 0.95)
    assert busy_share(before, after, [1]) == pytest.approx(0.95)  # only the cores this process may use
    assert busy_share(before, after, [7]) == 0.0


def test_choose_threads_given_environment_and_rule(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "allowed_cores", lambda: 2)
    monkeypatch.setattr(threads, "busy_cores", lambda window: 1.0)
    choice = choose_threads()
    assert (choice.threads, choice.allowed, choice.busy) == (1, 2, 1.0)
    assert "2 core(s)" in choice.reason and "using 1.0" in choice.reason
    monkeypatch.setattr(threads, "busy_cores", lambda window: 0.1)
    assert choose_threads().threads == 2
    monkeypatch.setattr(threads, "busy_cores", lambda window: None)  # no /proc/stat: every allowed core
    assert choose_threads().threads == 2
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    expected = {
        "threads": 3,
        "reason": "3 thread(s) asked for",
        "allowed": None,
        "busy": None,
        "wait_policy": "PASSIVE",
    }
    assert choose_threads(3).as_dict() == expected
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert choose_threads().reason == "OMP_NUM_THREADS=1 set in the environment"


def test_busy_cores_measures_this_machine():
    busy = threads.busy_cores(0.05)
    assert busy is None or 0.0 <= busy <= len(os.sched_getaffinity(0)) + 1e-9


@pytest.mark.parametrize("bad", [0, -2])
def test_bad_thread_counts_are_refused_everywhere(bad):
    with pytest.raises(ValueError, match=rf"threads must be an integer >= 1 or None .*got {bad}"):
        choose_threads(bad)
    with pytest.raises(ValueError, match=rf"threads must be an integer >= 1 .*got {bad}"):
        UNetConfig(threads=bad)
    with pytest.raises(ValueError, match=rf"threads must be an integer >= 1 .*got {bad}"):
        BootstrapChain(["otsu", "unet"], threads=bad)
    with pytest.raises(TypeError, match=r"threads must be an integer >= 1 or None .*got 1.5"):
        choose_threads(1.5)  # type: ignore[arg-type]


def test_chain_passes_threads_to_its_networks_and_they_record_it():
    images, _ = synthetic_spheroids(6, size=32)
    chain = BootstrapChain(["otsu", ("unet", {"size": 32, "base_channels": 2, "depth": 1, "epochs": 1})], threads=1)
    chain.run(images)
    assert chain.stages[1].config.threads == 1
    assert chain.stages[1].choices()["threads"] == 1
    assert chain.stages[1].choices()["threads_reason"] == "1 thread(s) asked for"


def _bootseg(*args: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "BOOTSEG_DISABLE_PLUGINS": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("OMP_NUM_THREADS", None)
    command = [sys.executable, "-m", "bootseg", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def test_run_records_the_threads_asked_for_and_refuses_zero(tmp_path: Path):
    folder = tmp_path / "images"
    folder.mkdir()
    images, _ = synthetic_spheroids(4, size=32)
    for i, image in enumerate(images):
        write_image(folder / f"{i}.png", np.ascontiguousarray(image))
    tiny = "otsu,unet(epochs=1,size=32,base_channels=2,depth=1,batch_size=2)"
    result = _bootseg("run", folder, "--out", tmp_path / "out", "--chain", tiny, "--device", "cpu", "--threads", "1")
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["options"]["threads"] == 1
    assert run["stages"][1]["choices"]["threads"] == 1
    assert run["stages"][1]["choices"]["threads_reason"] == "1 thread(s) asked for"

    result = _bootseg("run", folder, "--out", tmp_path / "other", "--chain", tiny, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "other" / "run.json").read_text())
    assert run["options"]["threads"] is None
    choices = run["stages"][1]["choices"]
    assert 1 <= choices["threads"] <= len(os.sched_getaffinity(0))
    assert "core(s) this process may use" in choices["threads_reason"]
    assert choices["omp_wait_policy"] == "PASSIVE"  # the command sets it before torch loads

    result = _bootseg("run", folder, "--out", tmp_path / "zero", "--threads", "0")
    assert result.returncode == 2
    assert "--threads: must be an integer >= 1, got '0'" in result.stderr


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_passive_wait_policy_is_set_before_torch_loads_unless_chosen(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    code = (
        "from bootseg.threads import prefer_passive_wait; prefer_passive_wait(); "
        "import os; print(os.environ['OMP_WAIT_POLICY'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == expected


def test_passive_wait_policy_is_not_set_once_torch_is_loaded(monkeypatch):
    import torch  # noqa: F401  (loaded: the variable would no longer count)

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    threads.prefer_passive_wait()
    assert "OMP_WAIT_POLICY" not in os.environ
