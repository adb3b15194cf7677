"""The hooks through which plugins (built-in or third-party) add stages to bootseg.

A plugin package declares an entry point in the ``bootseg`` group::

    [project.entry-points.bootseg]
    mything = "mything"

and implements one or both hooks in that module::

    import bootseg

    @bootseg.hookimpl
    def register_annotators(register):
        register("mything", MyThing)

``register(name, factory)`` takes a class, or any callable that builds the stage from keyword options.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

#: The one name of the project, the pluggy markers and the entry-point group.
PROJECT_NAME = "bootseg"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

Register = Callable[[str, Callable[..., Any]], None]


@hookspec
def register_annotators(register: Register) -> None:
    """Register first stages (objects satisfying :class:`bootseg.protocols.Annotator`).

    Parameters
    ----------
    register : callable
        ``register(name, factory)``: ``name`` is the stage name users type (``"otsu"``); ``factory`` is a class or
        callable that builds the stage from keyword options (``factory(**options)``).

    Examples
    --------
    >>> @hookimpl
    ... def register_annotators(register):
    ...     register("brighter", Brighter)  # doctest: +SKIP
    """


@hookspec
def register_refiners(register: Register) -> None:
    """Register later stages (objects satisfying :class:`bootseg.protocols.Refiner`).

    Parameters
    ----------
    register : callable
        ``register(name, factory)``, as for :func:`register_annotators`.

    Examples
    --------
    >>> @hookimpl
    ... def register_refiners(register):
    ...     register("mynet", MyNetRefiner)  # doctest: +SKIP
    """
