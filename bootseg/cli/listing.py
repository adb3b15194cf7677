"""``bootseg plugins``: every registered stage with the plugin and distribution that provide it."""

from __future__ import annotations

import argparse

from .common import add_verbosity

__all__ = ["add_parser"]

DESCRIPTION = """\
List every stage a chain can use: the annotators (first stages) and the refiners (networks), each with the
plugin module that registers it and the distribution (package) and version that provide that plugin. Plugins that
failed to load are listed as broken, with their error. Third-party plugins are not loaded when the environment
variable BOOTSEG_DISABLE_PLUGINS is 1 (or a comma-separated list of entry-point names to skip)."""

EPILOG = """\
examples:
  bootseg plugins
  BOOTSEG_DISABLE_PLUGINS=1 bootseg plugins    # the built-ins only"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``plugins`` sub-command to ``subparsers`` and return its parser."""
    parser = subparsers.add_parser(
        "plugins",
        help="list the available stages and the plugins that provide them",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_verbosity(parser)
    parser.set_defaults(handler=command)
    return parser


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def command(args: argparse.Namespace) -> int:
    from ..plugins import default_registry

    registry = default_registry()
    rows = [("kind", "name", "plugin", "distribution", "version")]
    for kind in ("annotator", "refiner"):
        for name in registry.names(kind):
            info = registry.info(kind, name)
            rows.append((kind, name, info.plugin, info.distribution or "-", info.version or "-"))
    print(_table(rows))
    if registry.broken:
        print()
        broken = [("broken plugin", "distribution", "version", "failed in", "error")]
        for item in registry.broken:
            broken.append((item.plugin, item.distribution or "-", item.version or "-", item.phase, item.error))
        print(_table(broken))
    return 0
