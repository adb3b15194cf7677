from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import bootseg
from bootseg import hookimpl, hookspecs
from bootseg.errors import DuplicateStageError, UnknownStageError
from bootseg.plugins import DISABLE_ENV, Registry, make_plugin_manager


class Brighter:
    def __init__(self, offset: float = 0.0):
        self.offset = offset

    def annotate(self, image):
        return image > image.mean() + self.offset


class NoMethod:
    pass


@pytest.fixture
def registry():
    return Registry(make_plugin_manager(load_entrypoints=False))


def test_builtins_are_registered_through_the_hooks(registry):
    assert {"otsu", "kmeans", "li", "yen", "triangle"} <= set(registry.names("annotator"))
    assert registry.names("refiner") == ["unet"]
    assert registry.info("annotator", "otsu").plugin == "bootseg.annotators"
    assert registry.info("refiner", "unet").distribution == "bootseg"


def test_public_functions_list_sorted_names():
    names = bootseg.available_annotators()
    assert names == sorted(names) and "otsu" in names
    assert bootseg.available_refiners() == sorted(bootseg.available_refiners())
    assert hasattr(bootseg.get_annotator("otsu"), "annotate")
    assert hasattr(bootseg.get_refiner("unet", epochs=1), "refine")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownStageError, match=r"unknown annotator 'otsuu'; known annotators: .*otsu"):
        bootseg.get_annotator("otsuu")
    with pytest.raises(UnknownStageError, match=r"'unet' is a refiner"):
        bootseg.get_annotator("unet")
    with pytest.raises(UnknownStageError, match=r"known refiners: unet"):
        bootseg.get_refiner("resnet")


def test_bad_options_name_the_stage():
    with pytest.raises(TypeError, match=r"cannot build refiner 'unet'.*unknown unet option\(s\) epoch"):
        bootseg.get_refiner("unet", epoch=3)


def test_plugin_registered_for_one_test(registry):
    class Plugin:
        @hookimpl
        def register_annotators(self, register):
            register("brighter", Brighter)

    name = registry.register_plugin(Plugin(), name="test-plugin")
    try:
        stage = registry.create("annotator", "brighter", offset=1.0)
        image = np.arange(16, dtype=float).reshape(4, 4)
        np.testing.assert_array_equal(stage.annotate(image), image > image.mean() + 1.0)
        assert registry.info("annotator", "brighter").plugin == "test-plugin"
    finally:
        registry.unregister_plugin(name)
    assert "brighter" not in registry.names("annotator")


def test_registration_rejects_non_protocol_classes(registry):
    class Plugin:
        @hookimpl
        def register_annotators(self, register):
            register("nothing", NoMethod)

    with pytest.raises(TypeError, match=r"plugin bad-plugin registered annotator 'nothing'.*Annotator protocol"):
        registry.register_plugin(Plugin(), name="bad-plugin")
    assert "nothing" not in registry.names("annotator")
    assert not registry.pm.has_plugin("bad-plugin")


def test_registration_rejects_non_callables_and_bad_names(registry):
    class NotCallable:
        @hookimpl
        def register_refiners(self, register):
            register("thing", 42)

    with pytest.raises(TypeError, match=r"registered refiner 'thing' with 42, which is not callable"):
        registry.register_plugin(NotCallable(), name="p1")

    class BadName:
        @hookimpl
        def register_annotators(self, register):
            register("my stage", Brighter)

    with pytest.raises(ValueError, match=r"name 'my stage'; a name must be a Python identifier"):
        registry.register_plugin(BadName(), name="p2")


def test_duplicate_names_name_both_sources(registry):
    class Plugin:
        @hookimpl
        def register_annotators(self, register):
            register("otsu", Brighter)

    with pytest.raises(DuplicateStageError, match=r"'otsu' is registered twice: by bootseg.annotators .* and by dupe"):
        registry.register_plugin(Plugin(), name="dupe")
    assert registry.info("annotator", "otsu").plugin == "bootseg.annotators"


def test_registration_is_all_or_nothing(registry):
    class Plugin:
        @hookimpl
        def register_annotators(self, register):
            register("first_ok", Brighter)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        registry.register_plugin(Plugin(), name="half")
    assert "first_ok" not in registry.names("annotator")


def test_factory_returning_a_non_stage_is_refused_when_built(registry):
    class Plugin:
        @hookimpl
        def register_annotators(self, register):
            register("liar", lambda **kw: object())

    name = registry.register_plugin(Plugin(), name="liar-plugin")
    try:
        with pytest.raises(TypeError, match=r"annotator 'liar' from plugin liar-plugin built object.*Annotator"):
            registry.create("annotator", "liar")
    finally:
        registry.unregister_plugin(name)


def _make_distribution(root, *, module_body: str, dist="bootseg_tiny", ep_name="tiny"):
    (root / f"{dist}_mod.py").write_text(textwrap.dedent(module_body))
    info = root / f"{dist}-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[bootseg]\n{ep_name} = {dist}_mod\n")


TINY = """
import numpy as np
import bootseg

class Tiny:
    def annotate(self, image):
        return np.asarray(image) > 0

@bootseg.hookimpl
def register_annotators(register):
    register("tiny", Tiny)
"""


@pytest.fixture
def tiny_dist(tmp_path, monkeypatch):
    _make_distribution(tmp_path, module_body=TINY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    yield tmp_path
    sys.modules.pop("bootseg_tiny_mod", None)


def test_entry_point_discovery_finds_a_real_distribution(tiny_dist):
    registry = Registry(make_plugin_manager())
    info = registry.info("annotator", "tiny")
    assert (info.plugin, info.distribution, info.version) == ("tiny", "bootseg_tiny", "0.3")
    mask = registry.create("annotator", "tiny").annotate(np.array([[0, 1], [2, 0]]))
    assert mask.tolist() == [[False, True], [True, False]]


def test_environment_variable_turns_third_party_loading_off(tiny_dist, monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "1")
    registry = Registry(make_plugin_manager())
    assert "tiny" not in registry.names("annotator")
    assert "otsu" in registry.names("annotator")
    monkeypatch.setenv(DISABLE_ENV, "other, tiny")
    assert "tiny" not in Registry(make_plugin_manager()).names("annotator")
    monkeypatch.setenv(DISABLE_ENV, "other")
    assert "tiny" in Registry(make_plugin_manager()).names("annotator")


def test_a_plugin_that_fails_to_import_is_reported_and_the_rest_work(tmp_path, monkeypatch):
    _make_distribution(
        tmp_path, module_body="raise ImportError('needs libfoo')", dist="bootseg_broken", ep_name="broken"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    registry = Registry(make_plugin_manager())
    [broken] = [b for b in registry.broken if b.plugin == "broken"]
    assert (broken.distribution, broken.phase) == ("bootseg_broken", "import")
    assert "needs libfoo" in broken.error
    assert "otsu" in registry.names("annotator")


def test_a_plugin_that_fails_to_register_is_reported_and_the_rest_work(tmp_path, monkeypatch):
    body = TINY.replace('register("tiny", Tiny)', 'register("tiny", Tiny)\n    raise KeyError("oops")')
    _make_distribution(tmp_path, module_body=body, dist="bootseg_flaky", ep_name="flaky")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    registry = Registry(make_plugin_manager())
    [broken] = [b for b in registry.broken if b.plugin == "flaky"]
    assert broken.phase == "register_annotators" and "oops" in broken.error
    assert "tiny" not in registry.names("annotator")
    assert "otsu" in registry.names("annotator")
    sys.modules.pop("bootseg_flaky_mod", None)


def test_import_bootseg_loads_no_plugin_and_not_torch():
    code = (
        "import sys, bootseg; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert bootseg.plugins._default is None, 'registry built at import'; "
        "bootseg.available_refiners(); "
        "assert 'torch' not in sys.modules, 'torch imported by the registry'; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_every_hook_is_documented_with_an_example():
    for name in ("register_annotators", "register_refiners"):
        doc = getattr(hookspecs, name).__doc__
        assert doc and "register" in doc and "Examples" in doc


def test_a_plugin_that_calls_sys_exit_at_import_is_reported_and_commands_still_run(tmp_path, monkeypatch, capsys):
    import bootseg.plugins
    from bootseg.cli import main

    _make_distribution(tmp_path, module_body="import sys\nsys.exit(3)", dist="bootseg_quitter", ep_name="quitter")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    registry = Registry(make_plugin_manager())
    [broken] = [b for b in registry.broken if b.plugin == "quitter"]
    assert (broken.distribution, broken.phase, broken.error) == ("bootseg_quitter", "import", "SystemExit: 3")
    assert "otsu" in registry.names("annotator")
    monkeypatch.setattr(bootseg.plugins, "_default", None)
    assert main(["plugins"]) == 0
    assert "quitter" in capsys.readouterr().out
    sys.modules.pop("bootseg_quitter_mod", None)


def test_a_plugin_that_calls_sys_exit_in_its_hook_is_reported(tmp_path, monkeypatch):
    body = TINY.replace('register("tiny", Tiny)', 'import sys\n    sys.exit("bye")')
    _make_distribution(tmp_path, module_body=body, dist="bootseg_hookexit", ep_name="hookexit")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    registry = Registry(make_plugin_manager())
    [broken] = [b for b in registry.broken if b.plugin == "hookexit"]
    assert broken.phase == "register_annotators" and broken.error == "SystemExit: bye"
    assert "otsu" in registry.names("annotator")
    sys.modules.pop("bootseg_hookexit_mod", None)


def test_two_distributions_with_one_entry_point_name_are_both_named(tmp_path, monkeypatch):
    for dist in ("bootseg_first", "bootseg_second"):
        _make_distribution(tmp_path, module_body=TINY.replace('"tiny"', f'"{dist}"'), dist=dist, ep_name="same")
    _make_distribution(tmp_path, module_body=TINY, dist="bootseg_shadow", ep_name="bootseg.annotators")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    registry = Registry(make_plugin_manager())
    [clash] = [b for b in registry.broken if b.plugin == "same"]
    assert clash.phase == "import"
    loaded = "bootseg_first" if "bootseg_first" in registry.names("annotator") else "bootseg_second"
    other = {"bootseg_first": "bootseg_second", "bootseg_second": "bootseg_first"}[loaded]
    assert clash.distribution == other and loaded in clash.error and "rename" in clash.error
    [shadow] = [b for b in registry.broken if b.distribution == "bootseg_shadow"]
    assert "built-in" in shadow.error and shadow.plugin == "bootseg.annotators"
    for dist in ("bootseg_first", "bootseg_second", "bootseg_shadow"):
        sys.modules.pop(f"{dist}_mod", None)
