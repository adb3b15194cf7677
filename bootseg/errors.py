"""The small family of bootseg's own errors.

Bad values raise :class:`ValueError` and bad types :class:`TypeError`, as everywhere in Python. The classes here
cover what is neither; several also derive from the built-in a caller would naturally catch.
"""

from __future__ import annotations

__all__ = [
    "BootsegError",
    "DuplicateStageError",
    "PluginError",
    "TrainingDivergedError",
    "UnknownStageError",
]


class BootsegError(Exception):
    """Base class of every error that bootseg raises on its own account.

    >>> issubclass(UnknownStageError, BootsegError)
    True
    """


class UnknownStageError(BootsegError, LookupError):
    """A stage name that no registered plugin provides; the message lists the known names.

    >>> import bootseg
    >>> try:
    ...     bootseg.get_annotator("otsuu")
    ... except UnknownStageError as exc:
    ...     print(str(exc).split(";")[0])
    unknown annotator 'otsuu'
    """


class DuplicateStageError(BootsegError, ValueError):
    """Two plugins registered the same stage name; the message names both sources.

    >>> issubclass(DuplicateStageError, ValueError)
    True
    """


class PluginError(BootsegError):
    """A plugin failed to import, to register, or inside one of its stages; the message names the plugin.

    >>> str(PluginError("annotator 'x' from acme (acme-seg 1.0) failed on img-1: ZeroDivisionError: ..."))[:26]
    "annotator 'x' from acme (a"
    """


class TrainingDivergedError(BootsegError, ArithmeticError):
    """A network's training diverged (its loss or weights are not finite); the message says what to change.

    >>> issubclass(TrainingDivergedError, ArithmeticError)
    True
    """
