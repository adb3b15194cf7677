"""Built-in first stages, registered through the same ``register_annotators`` hook as any plugin."""

from __future__ import annotations

from ..hookspecs import hookimpl


@hookimpl
def register_annotators(register):
    """Register the built-in annotators."""
