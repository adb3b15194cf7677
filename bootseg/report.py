"""``report.html``: one self-contained page that shows a person how good a run's masks are, and where to look first.

The page holds the run's options and timings, the per-stage table when ground truth was given, and a contact sheet
of the overlays, least confident first. Thumbnails are PNGs inlined as base64 and the style sheet is inline, so the
file opens offline, can be mailed, and needs nothing beside it (links to the full-size overlays work when it stays
in its run folder).
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .io import atomic_write, read_image
from .overlay import FINAL_COLOUR, FIRST_COLOUR

__all__ = ["REPORT", "render_report", "thumbnail_png", "write_report"]

#: The file name inside an output folder.
REPORT = "report.html"
#: The longest side of an inlined thumbnail, in pixels (larger overlays are shrunk).
THUMB_SIDE = 256

_CSS = """
:root { --fg: #1d1d1f; --muted: #6e6e73; --line: #d2d2d7; --bg: #fff; --card: #f5f5f7; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0 auto; padding: 24px; max-width: 1400px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.muted, .note { color: var(--muted); } .note { font-size: 12px; max-width: 900px; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: var(--card); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--card);
       padding: 1px 4px; border-radius: 3px; word-break: break-all; }
.kv td:first-child { color: var(--muted); white-space: nowrap; }
.legend span { display: inline-block; width: 22px; height: 4px; vertical-align: middle; margin: 0 6px 0 14px; }
.sheet { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 10px; margin-top: 10px; }
.card { background: var(--card); border-radius: 6px; padding: 6px; text-align: center; }
.card img { width: 100%; max-width: 256px; height: auto; image-rendering: pixelated; display: block;
            margin: 0 auto 4px; border-radius: 3px; }
.card .name { font-weight: 600; word-break: break-all; } .card .score { color: var(--muted); font-size: 12px; }
.low { color: #b3261e; font-weight: 600; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def thumbnail_png(image: np.ndarray, side: int = THUMB_SIDE) -> bytes:
    """PNG bytes of an RGB uint8 image, shrunk so that its longest side is at most ``side`` pixels.

    >>> data = thumbnail_png(np.zeros((400, 200, 3), np.uint8), side=100)
    >>> cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape
    (100, 50, 3)
    """
    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale < 1:
        image = cv2.resize(
            image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
        )
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, encoded = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:  # pragma: no cover - any uint8 image encodes
        raise ValueError("OpenCV could not encode a thumbnail")
    return encoded.tobytes()


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _kv_table(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><td>{_e(k)}</td><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _options_text(options: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in options.items()) or "-"


def _summary_section(run: Mapping[str, Any]) -> str:
    versions = run.get("versions", {})
    timings = run.get("timings", {})
    rows = [
        ("command", f"<code>{_e(run.get('command', ''))}</code>"),
        ("input", f"<code>{_e(run.get('input', ''))}</code> ({len(run.get('inputs', []))} images)"),
        ("chain", _e(" → ".join(s["key"] for s in run.get("stages", [])))),
        ("device", _e(run.get("device_used") or run.get("options", {}).get("device", "-"))),
        ("time", _e(", ".join(f"{k} {v:.1f} s" for k, v in timings.items() if isinstance(v, (int, float))))),
        ("versions", _e(", ".join(f"{k} {v}" for k, v in versions.items() if v and k != "platform"))),
        ("written", _e(run.get("created", ""))),
    ]
    return _kv_table(rows)


def _stages_section(run: Mapping[str, Any]) -> str:
    head = (
        "<tr><th>stage</th><th>kind</th><th>from</th><th>options (after presets)</th><th class=num>seconds</th>"
        "<th>training or choices</th><th>model</th></tr>"
    )
    rows = []
    for stage in run.get("stages", []):
        training = stage.get("training")
        train_text = "-"
        if training:
            train_text = (
                f"best epoch {training.get('best_epoch')} of {training.get('epochs_run')}, "
                f"val loss {_fmt(training.get('best_val_loss'), 4)}, "
                f"{_fmt(training.get('images_per_second'), 1)} images/s, "
                f"{training.get('train_images')} train / {training.get('val_images')} val images"
            )
        choices = {k: v for k, v in (stage.get("choices") or {}).items() if not isinstance(v, Mapping)}
        if choices:
            train_text = "chose " + _options_text(choices)
        seconds = stage.get("seconds")
        rows.append(
            f"<tr><td><b>{_e(stage.get('key'))}</b></td><td>{_e(stage.get('kind'))}</td>"
            f"<td>{_e(stage.get('source', ''))}</td><td><code>{_e(_options_text(stage.get('options', {})))}</code></td>"
            f"<td class=num>{_e(_fmt(seconds, 1))}</td><td>{_e(train_text)}</td>"
            f"<td>{_e(stage.get('model') or '-')}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _evaluation_section(evaluation: Mapping[str, Any]) -> str:
    columns = evaluation["columns"]
    head = (
        f"<tr><th>metric (n={_e(evaluation['n'])})</th>"
        + "".join(f"<th class=num>{_e(c['label'])}</th>" for c in columns)
        + "</tr>"
    )
    rows = []
    for label, metric in (("DSC", "dice"), ("IoU", "iou"), ("PA", "accuracy")):
        cells = "".join(f"<td class=num>{_fmt(c[f'{metric}_mean'])} ± {_fmt(c[f'{metric}_std'])}</td>" for c in columns)
        rows.append(f"<tr><td>{label}, mean ± std</td>{cells}</tr>")
    rows.append(
        "<tr><td>DSC, pooled</td>" + "".join(f"<td class=num>{_fmt(c['pooled_dice'])}</td>" for c in columns) + "</tr>"
    )
    rows.append(
        "<tr><td>DSC, pooled soft</td>"
        + "".join(f"<td class=num>{_fmt(c['pooled_soft_dice'])}</td>" for c in columns)
        + "</tr>"
    )
    note = f'<p class="note">{_e(evaluation.get("footnote", ""))}</p>'
    return f"<table>{head}{''.join(rows)}</table>{note}"


def _legend(run: Mapping[str, Any]) -> str:
    stages = run.get("stages", [])
    if not stages:
        return ""
    final_colour = "rgb({},{},{})".format(*FINAL_COLOUR)
    first_colour = "rgb({},{},{})".format(*FIRST_COLOUR)
    parts = [f'<span style="background:{final_colour}"></span>final: {_e(stages[-1]["key"])}']
    if run.get("overlay_first_stage") and len(stages) > 1:
        parts.append(f'<span style="background:{first_colour}"></span>first stage: {_e(stages[0]["key"])}')
    return f'<p class="legend">outlines:{"".join(parts)}</p>'


def _per_image_scores(evaluation: Mapping[str, Any] | None) -> dict[str, float]:
    if not evaluation:
        return {}
    final = evaluation["columns"][-1]
    return {name: scores["dice"] for name, scores in final.get("per_image", {}).items()}


def _sheet_section(run: Mapping[str, Any], folder: Path, evaluation: Mapping[str, Any] | None, limit: int) -> str:
    inputs = list(run.get("inputs", []))
    has_confidence = any(item.get("confidence") is not None for item in inputs)
    if has_confidence:
        inputs.sort(key=lambda item: (item.get("confidence") is None, item.get("confidence") or 0.0, item["name"]))
    order = "least confident first" if has_confidence else "by name (no network stage gave a confidence score)"
    dice_by_name = _per_image_scores(evaluation)
    shown = inputs[:limit]
    cards = []
    for item in shown:
        name = item["name"]
        path = folder / "overlays" / f"{name}.png"
        if not path.is_file():
            continue
        data = base64.b64encode(thumbnail_png(read_image(path))).decode("ascii")
        scores = []
        conf = item.get("confidence")
        if conf is not None:
            css = ' class="low"' if conf < 0.5 else ""
            scores.append(f"<span{css}>confidence {conf:.2f}</span>")
        if name in dice_by_name:
            scores.append(f"DSC {dice_by_name[name]:.3f}")
        if item.get("objects") is not None:
            scores.append(_objects_text(item["objects"]))
        if item.get("corrected"):
            scores.append("corrected")
        cards.append(
            f'<div class="card"><a href="overlays/{_e(name)}.png"><img alt="{_e(name)}" '
            f'src="data:image/png;base64,{data}"></a><div class="name">{_e(name)}</div>'
            f'<div class="score">{" · ".join(scores)}</div></div>'
        )
    more = ""
    if len(inputs) > len(shown):
        more = f" Showing {len(shown)} of {len(inputs)}; every overlay is in <code>overlays/</code>."
    definition = run.get("confidence", {}).get("definition") if has_confidence else None
    judged = run.get("confidence", {}).get("judged")
    if definition and judged:
        definition += f" (this run: judged on the {judged})"
    note = f"Sorted {order}.{more}" + (f" Confidence: {_e(definition)}." if definition else "")
    return f'{_legend(run)}<p class="note">{note}</p><div class="sheet">{"".join(cards)}</div>'


def _objects_text(count: int) -> str:
    return f"{count} object{'' if count == 1 else 's'}"


def _objects_section(run: Mapping[str, Any], limit: int) -> str:
    """The objects counted in the final masks (``--labels``, ``--objects``, ``--rois``): how many, how split, in
    which files, and per image."""
    entry = run["objects"]
    inputs = [item for item in run.get("inputs", []) if item.get("objects") is not None]
    files = [
        f"<code>{_e(entry[key])}{'' if key == 'table' else '/'}</code>"
        for key in ("labels", "rois", "table")
        if entry.get(key)
    ]
    counts = [int(item["objects"]) for item in inputs]
    spread = f" (per image {min(counts)} to {max(counts)}, median {float(np.median(counts)):g})" if counts else ""
    lead = (
        f"<p>{_e(_objects_text(int(entry.get('count', sum(counts)))))} in {len(inputs)} images{_e(spread)}, from "
        f"the masks of {_e(entry.get('stage', '-'))}, split: {_e(entry.get('split', '-'))}; written to "
        f"{', '.join(files)}.</p>"
    )
    rows = "".join(
        f"<tr><td>{_e(item['name'])}</td><td class=num>{int(item['objects'])}</td></tr>"
        for item in sorted(inputs, key=lambda item: item["name"])[:limit]
    )
    more = f" (the first {limit} of {len(inputs)})" if len(inputs) > limit else ""
    table = f"<table><tr><th>image</th><th class=num>objects</th></tr>{rows}</table>"
    return f'{lead}<details class="objects"><summary>objects per image{more}</summary>{table}</details>'


def _choice_lines(run: Mapping[str, Any], folder: str | os.PathLike | None = None) -> list[str]:
    """One line per stage that says what it chose over the set and how clear the choice was (its choices'
    ``summary``), so that a person sees first what the run decided without labels."""
    lines = []
    corrections = run.get("corrections")
    if corrections:
        chosen = (corrections.get("first_stage") or {}).get("summary")
        text = f"{len(corrections.get('images', []))} corrected image(s) from {corrections.get('folder', '')}"
        text += f"; the first stage {chosen}" if chosen else ""
        lines.append(f'<p class="choice"><b>Corrections:</b> {_e(text)}</p>')
    from .runfolder import RunFolder

    listed = Path(folder) / RunFolder.TO_CORRECT if folder is not None else None
    if listed is not None and listed.is_file():  # the run's own order (confidence at full precision)
        waiting = listed.read_text(encoding="utf-8").split("\n")
    else:
        scored = [i for i in run.get("inputs", []) if i.get("confidence") is not None and not i.get("corrected")]
        waiting = [item["name"] for item in sorted(scored, key=lambda item: (item["confidence"], item["name"]))]
    waiting = [name for name in waiting if name]
    if waiting:
        names = ", ".join(waiting[:5])
        lines.append(
            f'<p class="next"><b>To correct next</b> (least confident first; all in to-correct.txt): {_e(names)}</p>'
        )
    rounds = run.get("rounds")
    if rounds:
        lines.append(f'<p class="choice"><b>Rounds:</b> {_e(rounds.get("summary", ""))}</p>')
    for stage in run.get("stages", []):
        summary = (stage.get("choices") or {}).get("summary")
        if summary:
            lines.append(f'<p class="choice"><b>{_e(stage.get("key", ""))} chose</b> {_e(summary)}</p>')
    return lines


def render_report(
    run: Mapping[str, Any],
    folder: str | os.PathLike,
    *,
    evaluation: Mapping[str, Any] | None = None,
    limit: int = 300,
) -> str:
    """The report page as a string.

    >>> import tempfile
    >>> page = render_report({"inputs": []}, tempfile.mkdtemp())
    >>> page.startswith("<!DOCTYPE html>") and "<h1>bootseg run: images</h1>" in page
    True

    Parameters
    ----------
    run : mapping
        The content of the run's ``run.json``.
    folder : path
        The run folder (overlays are read from ``folder/overlays``).
    evaluation : mapping, optional
        Scores against ground truth (``Evaluation.as_dict(per_image=True)``); adds the per-stage table and a
        DSC under each thumbnail.
    limit : int
        At most this many thumbnails (the least confident ones).
    """
    folder = Path(folder)
    source = Path(str(run.get("input", "")).split(", ")[0])
    where = "/".join(part for part in (source.parent.name, source.name) if part) or "images"
    title = f"bootseg {run.get('command_name', 'run')}: {where}"
    stacks = run.get("stacks") or []
    planes = f" ({sum(s.get('planes', 0) for s in stacks)} planes of {len(stacks)} stacks)" if stacks else ""
    parts = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">{len(run.get("inputs", []))} images{planes} · written {_e(run.get("created", ""))}</p>',
    ]
    warnings = run.get("warnings") or []
    if warnings:  # first: a run that segmented nothing must not look like a result
        items = "".join(f"<li>{_e(w)}</li>" for w in warnings)
        parts += [f'<h2 class="low">Warnings ({len(warnings)})</h2>', f'<ul class="warnings low">{items}</ul>']
    parts += _choice_lines(run, folder)
    skipped = run.get("skipped") or []
    if skipped:
        items = "".join(f"<li><code>{_e(i.get('source', ''))}</code>: {_e(i.get('reason', ''))}</li>" for i in skipped)
        parts += [f"<h2>Skipped inputs ({len(skipped)})</h2>", f'<ul class="skipped">{items}</ul>']
    if stacks:
        items = "".join(
            f"<li><code>{_e(s.get('source', ''))}</code>: {s.get('planes')} planes (axes {_e(s.get('axes', ''))}), "
            f"<code>{_e(s.get('first', ''))}</code> to <code>{_e(s.get('last', ''))}</code>; masks as one stack in "
            f"<code>{_e(s.get('masks', ''))}</code></li>"
            for s in stacks
        )
        parts += [f"<h2>Stacks ({len(stacks)})</h2>", f'<ul class="stacks">{items}</ul>']
    if evaluation:
        parts += ["<h2>Scores against the ground truth</h2>", _evaluation_section(evaluation)]
    parts += ["<h2>Masks to check</h2>", _sheet_section(run, folder, evaluation, limit)]
    if run.get("objects"):
        parts += ["<h2>Objects</h2>", _objects_section(run, limit)]
    parts += ["<h2>Stages</h2>", _stages_section(run), "<h2>Run</h2>", _summary_section(run)]
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def write_report(
    run: Mapping[str, Any],
    folder: str | os.PathLike,
    *,
    evaluation: Mapping[str, Any] | None = None,
    limit: int = 300,
) -> Path:
    """Write :func:`render_report` to ``folder/report.html`` atomically and return the path.

    >>> import tempfile
    >>> write_report({"inputs": []}, tempfile.mkdtemp()).name
    'report.html'
    """
    path = Path(folder) / REPORT
    with atomic_write(path, "w") as handle:
        handle.write(render_report(run, folder, evaluation=evaluation, limit=limit))
    return path
