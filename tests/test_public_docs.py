"""Every public name and every hook is documented (the API reference is generated from these docstrings)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap

import pytest

import bootseg
from bootseg import hookspecs
from bootseg.plugins import make_plugin_manager

PUBLIC_MODULES = [
    "bootseg",
    "bootseg.chain",
    "bootseg.inputs",
    "bootseg.resume",
    "bootseg.manifest",
    "bootseg.plugins",
    "bootseg.protocols",
    "bootseg.hookspecs",
    "bootseg.errors",
    "bootseg.metrics",
    "bootseg.confidence",
    "bootseg.io",
    "bootseg.datasets",
    "bootseg.images",
    "bootseg.annotators",
    "bootseg.refiners",
    "bootseg.refiners.refiner",
    "bootseg.refiners.config",
    "bootseg.refiners.stopping",
    "bootseg.threads",
    "bootseg.testing",
    "bootseg.overlay",
    "bootseg.report",
    "bootseg.runfile",
    "bootseg.objects",
]


def _public_names():
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            yield pytest.param(module_name, name, id=f"{module_name}.{name}")


def _documented_data(module, name: str) -> bool:
    """A module-level constant is documented by a ``#:`` comment above it or a string literal below it."""
    source = inspect.getsource(module)
    lines = source.splitlines()
    body = ast.parse(source).body
    for index, node in enumerate(body):
        targets = []
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        if name not in targets:
            continue
        above = lines[node.lineno - 2].strip() if node.lineno >= 2 else ""
        following = body[index + 1] if index + 1 < len(body) else None
        string_below = (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        )
        return above.startswith("#:") or string_below
    return False


def _submodules(module) -> list[str]:
    """A package's own modules, where the names it re-exports are defined."""
    path = getattr(module, "__path__", None)
    return [f"{module.__name__}.{info.name}" for info in pkgutil.iter_modules(path)] if path else []


def _own_doc(obj) -> str | None:
    if inspect.isclass(obj):
        return obj.__dict__.get("__doc__")
    return getattr(obj, "__doc__", None)


@pytest.mark.parametrize(("module_name", "name"), list(_public_names()))
def test_public_name_has_a_docstring(module_name, name):
    module = importlib.import_module(module_name)
    obj = getattr(module, name)
    if name == "__version__":
        return
    if inspect.ismodule(obj) or inspect.isclass(obj) or callable(obj):
        doc = _own_doc(obj)
        if isinstance(obj, type(hookspecs.hookimpl)):  # pluggy markers: documented in bootseg.hookspecs
            doc = hookspecs.__doc__
        assert doc and doc.strip(), f"{module_name}.{name} has no docstring"
        return
    defining = module
    if not _documented_data(defining, name):
        home = next(
            (
                m
                for m in map(importlib.import_module, [*PUBLIC_MODULES, *_submodules(module)])
                if _documented_data(m, name)
            ),
            None,
        )
        assert home is not None, f"{module_name}.{name} (a constant) has no '#:' comment or docstring"


def test_dir_of_bootseg_lists_the_public_names_and_no_helper():
    names = dir(bootseg)
    assert set(bootseg.__all__) <= set(names)
    assert {"BootstrapChain", "datasets", "metrics", "io"} <= set(names)
    assert not {"Any", "TYPE_CHECKING", "import_module", "annotations", "_LAZY", "_SUBMODULES"} & set(names)
    for name in names:
        getattr(bootseg, name)  # every listed name resolves


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_module_has_a_docstring(module_name):
    doc = importlib.import_module(module_name).__doc__
    assert doc and len(doc.strip()) > 20


def _hook_specs() -> dict[str, object]:
    pm = make_plugin_manager(load_entrypoints=False)
    return {name: caller.spec for name, caller in vars(pm.hook).items() if getattr(caller, "spec", None)}


def test_every_registered_hook_has_a_documented_spec():
    specs = _hook_specs()
    assert set(specs) == {"register_annotators", "register_refiners"}
    for name, spec in specs.items():
        doc = textwrap.dedent(spec.function.__doc__ or "")
        assert "Parameters" in doc and "register" in doc, f"hook {name} has no documented parameters"
        assert "Examples" in doc, f"hook {name} has no example"
        assert spec.argnames == ("register",)


def test_every_builtin_hook_implementation_has_a_spec():
    pm = make_plugin_manager(load_entrypoints=False)
    pm.check_pending()  # raises PluginValidationError for an implementation of an unknown hook
    for plugin in pm.get_plugins():
        for impl in pm.get_hookcallers(plugin) or []:
            assert impl.name in _hook_specs()


def test_hookspecs_module_lists_every_hook():
    assert {"register_annotators", "register_refiners"} <= {
        name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
    }
    assert bootseg.hookimpl is hookspecs.hookimpl


def _public_methods():
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            cls = getattr(module, name)
            if not inspect.isclass(cls) or cls.__module__ != module_name:
                continue
            for attr, value in vars(cls).items():
                if attr.startswith("_"):
                    continue
                func = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
                if inspect.isfunction(func):
                    yield pytest.param(func, id=f"{module_name}.{name}.{attr}")


@pytest.mark.parametrize("func", list(_public_methods()))
def test_public_method_has_a_docstring(func):
    assert (func.__doc__ or "").strip(), f"{func.__qualname__} has no docstring"


@pytest.mark.parametrize(("module_name", "name"), list(_public_names()))
def test_public_functions_and_classes_show_an_example(module_name, name):
    obj = getattr(importlib.import_module(module_name), name)
    if inspect.ismodule(obj) or not (inspect.isclass(obj) or inspect.isfunction(obj)):
        return
    doc = _own_doc(obj) or ""
    assert ">>>" in doc, f"{module_name}.{name} has no example in its docstring"
