from __future__ import annotations

import numpy as np

from bootseg.io import write_image
from bootseg.report import render_report, write_report


def _run(names, confidences):
    return {
        "command_name": "run",
        "command": "bootseg run <images> --out x",
        "input": "/data/<images>",
        "stages": [
            {"key": "0-otsu", "kind": "annotator", "options": {"polarity": "auto"}},
            {
                "key": "1-unet",
                "kind": "refiner",
                "options": {"epochs": 3},
                "training": {"best_epoch": 2, "epochs_run": 3, "best_val_loss": 0.2},
            },
        ],
        "overlay_first_stage": True,
        "confidence": {"stage": "1-unet", "definition": "mean |2p-1|"},
        "inputs": [{"name": n, "confidence": c} for n, c in zip(names, confidences, strict=True)],
    }


def test_report_sorts_least_confident_first_and_escapes_text(tmp_path):
    (tmp_path / "overlays").mkdir()
    names = ["a", "b<script>", "c"]
    for name in names:
        write_image(tmp_path / "overlays" / f"{name}.png", np.zeros((8, 8, 3), np.uint8))
    path = write_report(_run(names, [0.9, 0.1, 0.5]), tmp_path)
    text = path.read_text()
    assert "<script>" not in text and "b&lt;script&gt;" in text and "&lt;images&gt;" in text
    positions = [text.index(f'alt="{n}"') for n in ("b&lt;script&gt;", "c", "a")]
    assert positions == sorted(positions)
    assert "least confident first" in text and "best epoch 2 of 3" in text


def test_report_limit_and_missing_overlays(tmp_path):
    (tmp_path / "overlays").mkdir()
    names = [f"n{i}" for i in range(5)]
    for name in names[:4]:
        write_image(tmp_path / "overlays" / f"{name}.png", np.zeros((600, 300, 3), np.uint8))
    text = render_report(_run(names, [None] * 5), tmp_path, limit=3)
    assert text.count("data:image/png;base64,") == 3 and "Showing 3 of 5" in text
    assert "by name" in text


def test_report_says_first_what_each_stage_chose(tmp_path):
    run = _run(["a"], [0.5])
    run["stages"][0]["choices"] = {"polarity": "dark", "summary": "grey, 2 classes <weak>"}
    text = render_report(run, tmp_path)
    line = '<p class="choice"><b>0-otsu chose</b> grey, 2 classes &lt;weak&gt;</p>'
    assert line in text and text.index(line) < text.index("Masks to check")
    assert 'class="choice"' not in render_report(_run(["a"], [0.5]), tmp_path)


def test_auto_summary_names_the_choice_the_runner_up_and_what_was_passed_over():
    from bootseg.annotators import candidates as thr

    summary = thr.summary(
        (2, "grey"),
        {"grey, 2 classes": 0.40, "lab_a, 2 classes": 0.9, "grey, 3 classes": 0.35},
        {"grey, 2 classes": 0.6, "lab_a, 2 classes": 0.2},
        "dark",
    )
    assert summary.startswith("grey, 2 classes, dark objects (objectness 0.40); runner-up grey, 3 classes (0.35)")
    assert "weak: candidates close" in summary and "lab_a, 2 classes (0.90, agreement 0.20)" in summary
