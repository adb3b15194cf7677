"""The plugin manager and the registry of stages.

Nothing happens at import time: :func:`make_plugin_manager` builds a manager (built-ins plus, unless switched off,
every module named in the ``bootseg`` entry-point group), and :class:`Registry` asks its hooks for stages. The
module-level functions (:func:`get_annotator`, ...) use one default registry, built on first use.

Third-party loading is switched off by setting the environment variable ``BOOTSEG_DISABLE_PLUGINS`` to ``1``
(or ``true``/``all``), or to a comma-separated list of entry-point names to skip only those.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import import_module, metadata
from typing import Any, Literal

import pluggy

from . import hookspecs
from .errors import DuplicateStageError, UnknownStageError
from .protocols import Annotator, Refiner, satisfies

__all__ = [
    "BUILTIN_PLUGINS",
    "DISABLE_ENV",
    "ENTRY_POINT_GROUP",
    "BrokenPlugin",
    "PluginManager",
    "Registry",
    "StageInfo",
    "available_annotators",
    "available_refiners",
    "default_registry",
    "get_annotator",
    "get_refiner",
    "make_plugin_manager",
    "reset_registry",
    "source_text",
]

log = logging.getLogger(__name__)

#: The entry-point group bootseg loads plugins from (``"bootseg"``).
ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME
#: Environment variable that switches third-party plugins off (``1``/``true``/``all``, or a comma list of names).
DISABLE_ENV = "BOOTSEG_DISABLE_PLUGINS"
#: Modules that provide the built-in stages, registered through the same hooks as any third-party plugin.
BUILTIN_PLUGINS = ("bootseg.annotators", "bootseg.refiners")

Kind = Literal["annotator", "refiner"]
_PROTOCOLS: dict[str, type] = {"annotator": Annotator, "refiner": Refiner}
_HOOKS: dict[str, str] = {"annotator": "register_annotators", "refiner": "register_refiners"}


def source_text(plugin: str, distribution: str | None, version: str | None) -> str:
    """``plugin (distribution version)``: where a stage comes from, as messages and ``bootseg plugins`` say it.

    >>> source_text("example", "bootseg-example-plugin", "0.1.0"), source_text("here", None, None)
    ('example (bootseg-example-plugin 0.1.0)', 'here')
    """
    if distribution is None:
        return plugin
    return f"{plugin} ({distribution} {version or '?'})"


@dataclass(frozen=True)
class StageInfo:
    """One registered stage: its name, kind, factory and where it comes from.

    Examples
    --------
    >>> info = StageInfo("otsu", "annotator", object, "bootseg.annotators", "bootseg", "0.1.0")
    >>> info.source
    'bootseg.annotators (bootseg 0.1.0)'
    """

    name: str
    kind: Kind
    factory: Callable[..., Any]
    plugin: str
    distribution: str | None = None
    version: str | None = None

    @property
    def source(self) -> str:
        """``plugin (distribution version)``, as error messages and ``bootseg plugins`` show it."""
        return source_text(self.plugin, self.distribution, self.version)


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that failed to import or to register; kept so that it can be shown, not silently dropped.

    Examples
    --------
    >>> broken = BrokenPlugin("acme", "acme-seg", "1.0", phase="import", error="ImportError: needs libfoo")
    >>> f"{broken.plugin} ({broken.distribution}) failed at {broken.phase}"
    'acme (acme-seg) failed at import'
    """

    plugin: str
    distribution: str | None
    version: str | None
    phase: str
    error: str


class PluginManager(pluggy.PluginManager):
    """A :class:`pluggy.PluginManager` that remembers each plugin's distribution and the plugins that failed.

    Examples
    --------
    >>> pm = PluginManager()
    >>> pm.register_plugin(object(), name="empty", distribution=("my-dist", "1.0"))
    'empty'
    >>> pm.distributions["empty"], pm.broken
    (('my-dist', '1.0'), [])
    """

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.distributions: dict[str, tuple[str | None, str | None]] = {}
        self.broken: list[BrokenPlugin] = []

    def register_plugin(
        self,
        plugin: object,
        name: str | None = None,
        distribution: tuple[str | None, str | None] = (None, None),
    ) -> str:
        """Register ``plugin`` (a module or object with ``@hookimpl`` functions) and return its name."""
        registered = self.register(plugin, name=name)
        if registered is None:
            raise ValueError(f"plugin {name or plugin!r} is blocked or already registered")
        self.distributions[registered] = distribution
        return registered


def _bootseg_version() -> str | None:
    try:
        return metadata.version("bootseg")
    except metadata.PackageNotFoundError:
        return None


def _disabled_names() -> tuple[bool, set[str]]:
    value = os.environ.get(DISABLE_ENV, "").strip()
    if value.lower() in {"1", "true", "yes", "all"}:
        return True, set()
    return False, {part.strip() for part in value.split(",") if part.strip()}


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def make_plugin_manager(*, load_entrypoints: bool | None = None) -> PluginManager:
    """Build a plugin manager with the built-in stages and, unless switched off, third-party plugins.

    Parameters
    ----------
    load_entrypoints : bool, optional
        Load modules from the ``bootseg`` entry-point group. ``None`` (default) loads them unless the
        environment variable ``BOOTSEG_DISABLE_PLUGINS`` switches them off.

    Returns
    -------
    PluginManager
        A plugin that fails to import (or calls ``sys.exit`` when imported), or whose entry-point name is
        already taken (by another distribution, or a built-in module), is recorded in ``pm.broken`` (with its
        distribution and the error) and logged; it never stops the others from loading.

    Examples
    --------
    >>> pm = make_plugin_manager(load_entrypoints=False)
    >>> sorted(pm.distributions)[:1]
    ['bootseg.annotators']
    """
    pm = PluginManager()
    version = _bootseg_version()
    for module_name in BUILTIN_PLUGINS:
        pm.register_plugin(import_module(module_name), name=module_name, distribution=("bootseg", version))
    all_off, skipped = _disabled_names()
    if load_entrypoints is None:
        load_entrypoints = not all_off
    if not load_entrypoints:
        return pm
    for ep in _entry_points():
        dist = getattr(ep, "dist", None)
        dist_info = (dist.name, dist.version) if dist is not None else (None, None)
        if ep.name in skipped:
            log.info("plugin %r skipped by %s", ep.name, DISABLE_ENV)
            continue
        clash = _name_taken(pm, ep.name)
        if clash is not None:
            log.warning("plugin %r from %s not loaded: %s", ep.name, dist_info[0] or "?", clash)
            pm.broken.append(BrokenPlugin(ep.name, *dist_info, phase="import", error=clash))
            continue
        try:
            pm.register_plugin(ep.load(), name=ep.name, distribution=dist_info)
        except (Exception, SystemExit) as exc:  # a broken plugin (even one that exits) must not take the rest down
            message = f"{type(exc).__name__}: {exc}"
            log.warning("plugin %r from %s failed to load: %s", ep.name, dist_info[0] or "?", message)
            pm.broken.append(BrokenPlugin(ep.name, *dist_info, phase="import", error=message))
    return pm


def _name_taken(pm: PluginManager, name: str) -> str | None:
    """Why entry-point ``name`` cannot be loaded because a plugin of that name is already there, or ``None``."""
    if not pm.has_plugin(name):
        return None
    if name in BUILTIN_PLUGINS:
        return f"entry-point name {name!r} is the name of a built-in module of bootseg; rename the entry point"
    first, version = pm.distributions.get(name, (None, None))
    return (
        f"entry-point name {name!r} is already taken by the plugin from {first or '?'} {version or ''}".rstrip()
        + "; two distributions cannot share one entry-point name: rename one of them, or uninstall one"
    )


class Registry:
    """The stages that the hooks of a plugin manager provide, by kind and name.

    Parameters
    ----------
    pm : PluginManager, optional
        The manager to ask; a new one from :func:`make_plugin_manager` by default.

    Examples
    --------
    >>> reg = Registry(make_plugin_manager(load_entrypoints=False))
    >>> "otsu" in reg.names("annotator")
    True
    """

    def __init__(self, pm: PluginManager | None = None) -> None:
        self.pm = pm if pm is not None else make_plugin_manager()
        self.stages: dict[str, dict[str, StageInfo]] = {}
        self.broken: list[BrokenPlugin] = []
        self.refresh()

    def refresh(self) -> None:
        """Ask every hook again (after a plugin was registered or unregistered)."""
        self.stages = {"annotator": {}, "refiner": {}}
        self.broken = list(self.pm.broken)
        self._errors: dict[str, Exception] = {}
        for kind in ("annotator", "refiner"):
            self._collect(kind)

    def register_plugin(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object or module at run time (tests, notebooks) and refresh the tables.

        Unlike discovery, which records a failing plugin and goes on, this raises the plugin's error (after
        unregistering it), since the caller is the one who can fix it.
        """
        registered = self.pm.register_plugin(plugin, name=name)
        self.refresh()
        failure = self._errors.get(registered)
        if failure is not None:
            self.unregister_plugin(registered)
            raise failure
        return registered

    def unregister_plugin(self, name: str) -> None:
        """Remove a plugin registered with :meth:`register_plugin` and refresh the tables."""
        self.pm.unregister(name=name)
        self.pm.distributions.pop(name, None)
        self.refresh()

    def _collect(self, kind: Kind) -> None:
        hook = getattr(self.pm.hook, _HOOKS[kind])
        # get_hookimpls() lists the oldest first: the built-ins own their names, a later duplicate is reported.
        for impl in hook.get_hookimpls():
            plugin = impl.plugin_name
            dist, version = self.pm.distributions.get(plugin, (None, None))
            pending: list[StageInfo] = []

            def register(
                name: str, factory: Callable[..., Any], *, _p=plugin, _d=dist, _v=version, _pending=pending
            ) -> None:
                info = StageInfo(name, kind, factory, _p, _d, _v)
                self._check(info, _pending)
                _pending.append(info)

            try:
                impl.function(register=register)
            except (Exception, SystemExit) as exc:  # a plugin's registration is all or nothing
                if plugin in BUILTIN_PLUGINS:
                    raise
                message = f"{type(exc).__name__}: {exc}"
                log.warning("plugin %r failed in %s: %s", plugin, _HOOKS[kind], message)
                self.broken.append(BrokenPlugin(plugin, dist, version, phase=_HOOKS[kind], error=message))
                self._errors.setdefault(plugin, exc)
                continue
            for info in pending:
                self.stages[kind][info.name] = info

    def _check(self, info: StageInfo, pending: list[StageInfo]) -> None:
        protocol = _PROTOCOLS[info.kind]
        if not isinstance(info.name, str) or not info.name.isidentifier():
            raise ValueError(
                f"plugin {info.source} registered {info.kind} name {info.name!r}; a name must be a Python "
                "identifier such as 'otsu' or 'my_unet'"
            )
        if not callable(info.factory):
            raise TypeError(
                f"plugin {info.source} registered {info.kind} {info.name!r} with {info.factory!r}, which is not "
                f"callable; register a class or a function that returns a {protocol.__name__}"
            )
        if isinstance(info.factory, type) and not satisfies(info.factory, protocol):
            method = "annotate" if protocol is Annotator else "refine"
            raise TypeError(
                f"plugin {info.source} registered {info.kind} {info.name!r} as {info.factory.__qualname__}, "
                f"which does not satisfy the {protocol.__name__} protocol: it has no {method}() method"
            )
        earlier = self.stages[info.kind].get(info.name) or next((p for p in pending if p.name == info.name), None)
        if earlier is not None:
            raise DuplicateStageError(
                f"{info.kind} name {info.name!r} is registered twice: by {earlier.source} and by "
                f"{info.source}; rename one of them"
            )

    def names(self, kind: Kind) -> list[str]:
        """Sorted names of the registered stages of ``kind`` (``"annotator"`` or ``"refiner"``)."""
        return sorted(self._table(kind))

    def info(self, kind: Kind, name: str) -> StageInfo:
        """The :class:`StageInfo` registered under ``name``; unknown names list the known ones."""
        table = self._table(kind)
        if name not in table:
            other = "refiner" if kind == "annotator" else "annotator"
            hint = f" ({name!r} is a {other})" if name in self.stages[other] else ""
            raise UnknownStageError(
                f"unknown {kind} {name!r}{hint}; known {kind}s: {', '.join(sorted(table)) or 'none'}"
            )
        return table[name]

    def create(self, kind: Kind, name: str, /, **options: Any) -> Any:
        """Build the stage ``name`` with ``options`` and check that it satisfies its protocol."""
        info = self.info(kind, name)
        try:
            stage = info.factory(**options)
        except TypeError as exc:
            raise TypeError(f"cannot build {kind} {name!r} from {info.source} with {options!r}: {exc}") from exc
        protocol = _PROTOCOLS[kind]
        if not satisfies(stage, protocol):
            raise TypeError(
                f"{kind} {name!r} from plugin {info.source} built {type(stage).__qualname__}, which does not "
                f"satisfy the {protocol.__name__} protocol"
            )
        return stage

    def _table(self, kind: str) -> dict[str, StageInfo]:
        if kind not in self.stages:
            raise ValueError(f"kind must be 'annotator' or 'refiner', got {kind!r}")
        return self.stages[kind]


_default: Registry | None = None


def default_registry() -> Registry:
    """The registry behind :func:`get_annotator` and friends, built on first use.

    >>> default_registry() is default_registry()
    True
    """
    global _default
    if _default is None:
        _default = Registry()
    return _default


def reset_registry() -> None:
    """Forget the default registry, so the next use discovers plugins again.

    >>> before = default_registry()
    >>> reset_registry()
    >>> default_registry() is before
    False
    """
    global _default
    _default = None


def get_annotator(name: str, /, **options: Any) -> Annotator:
    """Build the annotator registered as ``name``.

    >>> otsu = get_annotator("otsu", polarity="bright")
    >>> hasattr(otsu, "annotate")
    True
    """
    return default_registry().create("annotator", name, **options)


def get_refiner(name: str, /, **options: Any) -> Refiner:
    """Build the refiner registered as ``name``.

    >>> unet = get_refiner("unet", epochs=10, size=64)
    >>> unet.config.epochs, unet.config.size
    (10, 64)
    """
    return default_registry().create("refiner", name, **options)


def available_annotators() -> list[str]:
    """Sorted names of every registered annotator.

    >>> "otsu" in available_annotators()
    True
    """
    return default_registry().names("annotator")


def available_refiners() -> list[str]:
    """Sorted names of every registered refiner.

    >>> "unet" in available_refiners()
    True
    """
    return default_registry().names("refiner")
