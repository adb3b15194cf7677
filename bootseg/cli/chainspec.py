"""The chain a user asks for: ``--chain "kmeans(k=3),unet(epochs=30)"`` or a TOML file given to ``--config``.

Both give a list of ``(name, options)`` pairs for :class:`bootseg.BootstrapChain`. The shared command-line options
(``--preset``, ``--epochs``, ``--size``, ``--seed``) are then filled into every stage that takes them and did not
set them itself.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .common import UsageError

__all__ = ["StageSpec", "apply_shared_options", "load_config", "parse_chain", "parse_value"]

StageSpec = tuple[str, dict[str, Any]]

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?|[+-]?(inf|nan)", re.IGNORECASE)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_value(text: str) -> Any:
    """A stage option's value: ``true``/``false``, ``none``, an integer, a float, or a (quoted or bare) string.

    >>> [parse_value(v) for v in ("3", "0.5", "true", "none", "'dark'", "dark", "1e-3")]
    [3, 0.5, True, None, 'dark', 'dark', 0.001]
    """
    text = text.strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _split_top(text: str, separator: str, spec: str) -> list[str]:
    """Split at ``separator`` outside parentheses and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise UsageError(f"--chain {spec!r}: unmatched ')' at position {i + 1}")
        elif char == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if quote:
        raise UsageError(f"--chain {spec!r}: a quote ({quote}) is not closed")
    if depth:
        raise UsageError(f"--chain {spec!r}: a '(' is not closed")
    parts.append(text[start:])
    return parts


def _parse_stage(item: str, spec: str) -> StageSpec:
    item = item.strip()
    if not item:
        raise UsageError(f"--chain {spec!r}: an empty stage (two commas in a row, or a comma at an end)")
    name, _, rest = item.partition("(")
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise UsageError(f"--chain {spec!r}: {name!r} is not a stage name; write e.g. otsu or kmeans(k=3)")
    if not rest:
        return name, {}
    if not rest.rstrip().endswith(")"):
        raise UsageError(f"--chain {spec!r}: stage {name!r} has text after its ')': {item!r}")
    body = rest.rstrip()[:-1]
    options: dict[str, Any] = {}
    if not body.strip():
        return name, options
    for pair in _split_top(body, ",", spec):
        key, equals, value = pair.partition("=")
        key = key.strip()
        if not equals or not _NAME.fullmatch(key) or not value.strip():
            raise UsageError(
                f"--chain {spec!r}: stage {name!r} option {pair.strip()!r} is not key=value (e.g. epochs=30)"
            )
        if key in options:
            raise UsageError(f"--chain {spec!r}: stage {name!r} sets {key!r} twice")
        options[key] = parse_value(value)
    return name, options


def parse_chain(spec: str) -> list[StageSpec]:
    """Parse a ``--chain`` string into ``(name, options)`` pairs.

    Stages are separated by commas; each is a name with optional ``(key=value, ...)`` options.

    >>> parse_chain("kmeans(k=3, color=true), unet(epochs=30, loss='dice')")
    [('kmeans', {'k': 3, 'color': True}), ('unet', {'epochs': 30, 'loss': 'dice'})]
    """
    if not spec.strip():
        raise UsageError("--chain is empty; give stages such as 'otsu,unet'")
    return [_parse_stage(item, spec) for item in _split_top(spec, ",", spec)]


def _toml_loads(text: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise UsageError(
                "--config needs Python 3.11+ (tomllib) or the 'tomli' package on Python 3.10: pip install tomli; "
                "or give the stages with --chain"
            ) from None
    return tomllib.loads(text)


def load_config(path: str) -> list[StageSpec]:
    """Read a chain from a TOML file: one ``[[stage]]`` table per stage, its ``name`` plus its options.

    .. code-block:: toml

        [[stage]]
        name = "otsu"
        polarity = "dark"

        [[stage]]
        name = "unet"
        epochs = 30
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"--config file '{path}' does not exist")
    try:
        data = _toml_loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"--config '{path}' is not a UTF-8 text file ({exc})") from exc
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise UsageError(f"--config '{path}' is not valid TOML: {exc}") from exc
    extra = sorted(set(data) - {"stage"})
    if extra:
        raise UsageError(
            f"--config '{path}': unknown top-level key(s) {', '.join(extra)}; the file holds only [[stage]] tables"
        )
    stages = data.get("stage")
    if not isinstance(stages, list) or not stages:
        raise UsageError(f"--config '{path}' has no [[stage]] table; add one per stage, e.g. [[stage]] name = \"otsu\"")
    specs: list[StageSpec] = []
    for i, table in enumerate(stages):
        options = dict(table)
        name = options.pop("name", None)
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise UsageError(f"--config '{path}': [[stage]] number {i + 1} needs name = \"...\" (got {name!r})")
        specs.append((name, options))
    return specs


def _accepts(factory: Any, keyword: str) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == keyword for p in params) or (
        keyword in _known_fields(factory) and any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    )


def _known_fields(factory: Any) -> set[str]:
    """Options a ``**options`` factory documents through a ``config`` dataclass (the built-in unet)."""
    from ..refiners import UNetRefiner

    if factory is UNetRefiner:
        from dataclasses import fields

        from ..refiners.config import UNetConfig

        return {f.name for f in fields(UNetConfig)}
    return set()


def apply_shared_options(
    specs: list[StageSpec], registry: Any, shared: Mapping[str, Any], *, annotator_shared: Mapping[str, Any]
) -> list[StageSpec]:
    """Fill shared options into stages that take them and did not set them.

    ``shared`` (``preset``, ``epochs``, ``size``...) goes to the later stages (networks), ``annotator_shared``
    (``seed``) to the first stage; a value of None is not passed. Names are checked against the registry here, so
    an unknown name is reported before any image is read.
    """
    filled: list[StageSpec] = []
    for index, (name, options) in enumerate(specs):
        kind = "annotator" if index == 0 else "refiner"
        factory = _factory(registry, kind, name, index)
        given = shared if kind == "refiner" else annotator_shared
        options = dict(options)
        for key, value in given.items():
            if value is not None and key not in options and _accepts(factory, key):
                options[key] = value
        filled.append((name, options))
    return filled


def _factory(registry: Any, kind: str, name: str, index: int) -> Any:
    from ..errors import UnknownStageError

    try:
        return registry.info(kind, name).factory
    except UnknownStageError as exc:
        other = "refiner" if kind == "annotator" else "annotator"
        if name in registry.names(other):
            where = (
                "the first stage must be an annotator"
                if index == 0
                else ("only the first stage is an annotator; later stages are networks (refiners)")
            )
            raise UsageError(
                f"stage {index + 1} {name!r} is {'an' if other == 'annotator' else 'a'} {other}, but {where}; "
                f"known {kind}s: {', '.join(registry.names(kind)) or 'none'}"
            ) from exc
        raise UsageError(f"stage {index + 1}: {exc}") from exc
