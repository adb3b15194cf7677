"""The example plugin installs into a fresh environment, is discovered through its entry point and runs by name.

The environment is a new virtual environment that sees this one's packages (bootseg, torch) without reinstalling
them: a ``.pth`` file in it calls :func:`site.addsitedir` on this interpreter's site-packages (``venv
--system-site-packages`` alone would show the base interpreter's packages, not those of the venv running the
tests). The plugin is installed with this environment's pip (``pip --python``), offline, from a copy of its
source, so the build leaves nothing behind in ``examples/``.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "examples" / "bootseg-example-plugin"
DISTRIBUTION = "bootseg-example-plugin"


def _run(python: Path, *args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "BOOTSEG_DISABLE_PLUGINS", "PYTHONHOME"}}
    result = subprocess.run([str(python), *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def make_plugin_env(tmp_path_factory) -> Path:
    """A fresh virtual environment with the example plugin installed; returns its python (the session fixture
    ``plugin_env`` of ``conftest.py``, shared by every test module that needs it)."""
    base = tmp_path_factory.mktemp("plugin-env")
    env_dir = base / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=os.name != "nt").create(env_dir)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    parents = [p for p in {*site.getsitepackages(), sysconfig.get_paths()["purelib"]} if Path(p).is_dir()]
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in sorted(parents))
    (purelib / "_bootseg_parent_env.pth").write_text(lines)
    source = base / "src"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    _run(
        Path(sys.executable),
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--quiet",
        "--disable-pip-version-check",
        str(source),
    )
    return python


def test_environment_is_fresh(plugin_env):
    probe = "import bootseg, sys; print(sys.prefix); print(bootseg.__file__)"
    prefix, bootseg_file = _run(plugin_env, "-c", probe).stdout.split()
    assert Path(prefix) != Path(sys.prefix)
    assert Path(bootseg_file).resolve().is_relative_to(ROOT), "bootseg in the new environment is not this checkout"
    # The plugin is not importable from the environment running these tests.
    assert (
        _run(
            Path(sys.executable), "-c", "import importlib.util as u; print(u.find_spec('bootseg_example_plugin'))"
        ).stdout.strip()
        == "None"
    )


def test_plugin_is_discovered_with_its_distribution(plugin_env):
    script = textwrap.dedent(
        """
        import json, bootseg
        from bootseg.plugins import default_registry
        reg = default_registry()
        print(json.dumps({
            "annotators": bootseg.available_annotators(),
            "refiners": bootseg.available_refiners(),
            "a": [reg.info("annotator", "colour_distance").distribution,
                  reg.info("annotator", "colour_distance").plugin],
            "r": [reg.info("refiner", "morph_cleanup").distribution, reg.info("refiner", "morph_cleanup").version],
            "broken": [b.plugin for b in reg.broken],
        }))
        """
    )
    found = json.loads(_run(plugin_env, "-c", script).stdout)
    assert "colour_distance" in found["annotators"] and "otsu" in found["annotators"]
    assert found["refiners"] == ["morph_cleanup", "tiny_fcn", "unet"]
    assert found["a"] == [DISTRIBUTION, "example"]
    assert found["r"] == [DISTRIBUTION, "0.1.0"]
    assert found["broken"] == []


def test_disable_env_switches_the_plugin_off(plugin_env):
    script = "import bootseg; print(','.join(bootseg.available_refiners()))"
    env = {**os.environ, "BOOTSEG_DISABLE_PLUGINS": "example"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run([str(plugin_env), "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "unet"


def test_chain_runs_both_stages_by_name(plugin_env):
    script = textwrap.dedent(
        """
        import json
        import numpy as np
        from bootseg import BootstrapChain
        from bootseg.datasets import synthetic_spheroids
        from bootseg.metrics import dice

        images, truth = synthetic_spheroids(4, size=48, seed=2)
        images.append(np.dstack([images[0]] * 3))          # a colour image too
        truth.append(truth[0])
        chain = BootstrapChain(["colour_distance", ("morph_cleanup", {"largest_component": True})], progress=False)
        result = chain.run(images)
        print(json.dumps({
            "keys": list(result.stages),
            "shapes": [list(m.shape) for m in result.masks],
            "dtypes": sorted({str(m.dtype) for m in result.masks}),
            "objects": [int(m.any()) for m in result.masks],
            "dice": float(np.mean([dice(m, t) for m, t in zip(result.masks, truth)])),
        }))
        """
    )
    out = json.loads(_run(plugin_env, "-c", script).stdout)
    assert out["keys"] == ["0-colour_distance", "1-morph_cleanup"]
    assert out["shapes"] == [[48, 48]] * 5 and out["dtypes"] == ["bool"]
    assert all(out["objects"])
    assert 0.0 <= out["dice"] <= 1.0


def test_bootseg_plugins_command_lists_it(plugin_env):
    probe = (
        _run(plugin_env, "-m", "bootseg", "--help", timeout=120).stdout
        if (ROOT / "bootseg" / "__main__.py").exists()
        else ""
    )
    if "plugins" not in probe:
        pytest.skip("the `bootseg plugins` command is not there yet (python -m bootseg --help does not list it)")
    listing = _run(plugin_env, "-m", "bootseg", "plugins", timeout=120).stdout
    for name in ("colour_distance", "morph_cleanup"):
        line = next((ln for ln in listing.splitlines() if f" {name} " in f" {ln} "), None)
        assert line is not None, f"{name} is missing from `bootseg plugins`:\n{listing}"
        assert DISTRIBUTION in line


def test_plugin_passes_its_own_contract_tests(plugin_env, tmp_path):
    tests = tmp_path / "tests"
    shutil.copytree(PLUGIN / "tests", tests)
    result = _run(
        plugin_env, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests), "--rootdir", str(tmp_path), cwd=tmp_path
    )
    assert " passed" in result.stdout and "failed" not in result.stdout
