"""``--overwrite`` removes only what bootseg wrote in OUT (its manifest), never a user's file, input or truth."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bootseg.cli import main
from bootseg.datasets import synthetic_spheroids
from bootseg.io import write_image, write_mask

MANIFEST = "bootseg-manifest.json"
TINY = "otsu,unet(epochs=1,size=32,base_channels=4,depth=2,batch_size=4)"


def make_images(folder: Path, count: int = 2, size: int = 24, seed: int = 0) -> Path:
    """``count`` tiny images in ``folder`` (created), named img0.png, img1.png, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays, _ = synthetic_spheroids(count, size=size, seed=seed)
    for i, array in enumerate(arrays):
        write_image(folder / f"img{i}.png", array)
    return folder


def make_truth(folder: Path, count: int = 2, size: int = 24, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _, masks = synthetic_spheroids(count, size=size, seed=seed)
    for i, mask in enumerate(masks):
        write_mask(folder / f"img{i}.png", mask)
    return folder


def digests(*roots: Path) -> dict[str, str]:
    """The blake2b digest of every file under ``roots`` (a file root counts as itself), by path."""
    found = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            found[str(path)] = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    return found


def run(*args) -> int:
    return main(["run", *map(str, args), "-q"])


def test_overwrite_keeps_user_files_in_an_out_without_manifest(tmp_path, caplog):
    images = make_images(tmp_path / "good")
    out = tmp_path / "o"
    (out / "masks" / "manual").mkdir(parents=True)
    (out / "stages").mkdir()
    (out / "masks" / "manual" / "cell1.txt").write_text("k")
    (out / "model-final.pt").write_text("m")
    before = digests(out)
    assert main(["run", str(images), "--out", str(out), "--overwrite", "--chain", "otsu"]) == 0
    assert all(digests(out)[path] == digest for path, digest in before.items())
    assert sorted(p.name for p in (out / "masks").glob("*.png")) == ["img0.png", "img1.png"]
    assert (out / MANIFEST).is_file()


def test_overwrite_in_an_out_without_manifest_says_it_removed_nothing(tmp_path, capsys):
    images = make_images(tmp_path / "good")
    out = tmp_path / "o"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["run", str(images), "--out", str(out), "--overwrite", "--chain", "otsu"]) == 0
    err = capsys.readouterr().err
    assert "has no bootseg-manifest.json" in err and "nothing there was removed" in err


def test_overwrite_removes_only_what_the_earlier_run_wrote(tmp_path):
    images = make_images(tmp_path / "good", count=3)
    out = tmp_path / "o"
    assert run(images, "--out", out, "--chain", "otsu") == 0
    assert (out / "masks" / "img2.png").is_file()
    (out / "masks" / "manual").mkdir()
    (out / "masks" / "manual" / "cell1.txt").write_text("k")
    (out / "model-final.pt").write_text("m")
    (out / "stages" / "0-otsu" / "edited.png").write_text("e")
    user = digests(out / "masks" / "manual", out / "model-final.pt", out / "stages" / "0-otsu" / "edited.png")
    (images / "img2.png").unlink()
    assert run(images, "--out", out, "--chain", "otsu", "--overwrite") == 0
    assert not (out / "masks" / "img2.png").exists()  # the earlier run's mask of an input that is gone
    assert not (out / "stages" / "0-otsu" / "img2.png").exists()
    assert digests(*(Path(p) for p in user)) == user
    listed = json.loads((out / MANIFEST).read_text())["files"]
    assert "masks/img0.png" in listed and "masks/img2.png" not in listed and "model-final.pt" not in listed


def test_overwrite_removes_the_empty_folders_it_created_and_no_other(tmp_path):
    images = make_images(tmp_path / "good")
    out = tmp_path / "o"
    assert run(images, "--out", out, "--chain", "otsu", "--save-proba") == 0
    assert not (out / "proba").exists()  # otsu gives no probabilities
    (out / "empty-of-mine").mkdir()
    assert run(images, "--out", out, "--chain", "otsu", "--overwrite", "--no-overlays") == 0
    assert not (out / "overlays").exists() and (out / "empty-of-mine").is_dir()


def test_inputs_inside_out_are_refused_and_kept(tmp_path, capsys):
    out = tmp_path / "v2"
    images = make_images(out / "stages", count=3)
    before = digests(images)
    assert run(images, "--out", out, "--overwrite", "--chain", "otsu") == 2
    assert "holds the input" in capsys.readouterr().err
    assert digests(images) == before
    files = [str(p) for p in sorted(images.glob("*.png"))]
    assert main(["run", *files, "--out", str(out), "--overwrite", "--chain", "otsu", "-q"]) == 2
    assert "holds the input" in capsys.readouterr().err
    assert digests(images) == before


def test_truth_inside_or_around_out_is_refused_and_kept(tmp_path, capsys):
    images = make_images(tmp_path / "good")
    out = tmp_path / "v3"
    assert run(images, "--out", out, "--chain", "otsu") == 0
    truth = make_truth(out / "masks")  # the user's ground truth, put where bootseg writes its masks
    before = digests(truth)
    assert run(images, "--out", out, "--overwrite", "--truth", truth, "--chain", "otsu") == 2
    assert "holds --truth" in capsys.readouterr().err
    assert digests(truth) == before
    outer = make_truth(tmp_path / "gt")
    assert run(images, "--out", outer / "results", "--truth", outer, "--chain", "otsu") == 2
    assert "inside --truth" in capsys.readouterr().err


def test_predict_refuses_an_out_that_holds_its_model(tmp_path, capsys):
    images = make_images(tmp_path / "good", count=4, size=32)
    runs = tmp_path / "runcopy"
    assert run(images, "--out", runs, "--chain", TINY, "--device", "cpu") == 0
    model = runs / "model-1-unet.pt"
    before = digests(model)
    status = main(["predict", str(runs), str(images), "--out", str(runs), "--overwrite", "--device", "cpu", "-q"])
    assert status == 2
    assert "holds the model" in capsys.readouterr().err
    assert digests(model) == before


def test_a_file_bootseg_did_not_write_where_the_run_would_write_is_refused(tmp_path, capsys):
    images = make_images(tmp_path / "good")
    out = tmp_path / "o"
    assert run(images, "--out", out, "--chain", "otsu") == 0
    (out / "masks" / "img0.png").write_bytes(b"hand-corrected")  # replaced by the user: still listed, so ours
    (out / "masks" / "img1.png").unlink()
    write_mask(out / "masks" / "img1.png", np.ones((24, 24), bool))
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"].remove("masks/img1.png")  # as if the user had put it there
    (out / MANIFEST).write_text(json.dumps(manifest))
    before = digests(out)
    assert run(images, "--out", out, "--chain", "otsu", "--overwrite") == 2
    message = capsys.readouterr().err
    assert "masks/img1.png" in message and "did not write" in message
    assert digests(out) == before  # refused before anything was removed


def test_a_damaged_manifest_is_refused_naming_it(tmp_path, capsys):
    images = make_images(tmp_path / "good")
    out = tmp_path / "o"
    assert run(images, "--out", out, "--chain", "otsu") == 0
    (out / MANIFEST).write_text("{not json")
    before = digests(out)
    assert run(images, "--out", out, "--chain", "otsu", "--overwrite") == 1
    assert f"'{out / MANIFEST}'" in capsys.readouterr().err
    assert digests(out) == before


def test_a_manifest_entry_leading_out_of_out_is_never_followed(tmp_path):
    images = make_images(tmp_path / "good")
    out = tmp_path / "o"
    assert run(images, "--out", out, "--chain", "otsu") == 0
    outside = tmp_path / "precious.txt"
    outside.write_text("p")
    (out / "link").symlink_to(tmp_path)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"] += ["../precious.txt", str(outside), "link/precious.txt"]
    (out / MANIFEST).write_text(json.dumps(manifest))
    assert run(images, "--out", out, "--chain", "otsu", "--overwrite") == 0
    assert outside.read_text() == "p"


# ------------------------------------------------------------------------------------------ the property

_FOLDERS = ("", "masks", "masks/manual", "stages", "stages/0-otsu", "overlays", "proba", "sub")
_NAMES = ("a.png", "notes.txt", "model-final.pt", "x.tmp", "img9.png", "img0.png", "model-0-otsu.pt", "run.json")

layouts = st.fixed_dictionaries(
    {
        "user": st.lists(
            st.tuples(st.sampled_from(_FOLDERS), st.sampled_from(_NAMES), st.binary(max_size=8)), max_size=4
        ),
        "earlier_run": st.booleans(),
        "user_first": st.booleans(),
        "inputs": st.sampled_from(["outside"] * 6 + ["in-out", "out-inside"]),
        "truth": st.sampled_from(["none"] * 3 + ["outside"] * 3 + ["in-out", "is-masks", "out-inside"]),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layout=layouts)
def test_overwrite_removes_nothing_the_run_did_not_write(layout):
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        out = root / "out"
        images = {"outside": root / "images", "in-out": out / "sub" / "images", "out-inside": out.parent / "x"}
        truths = {"outside": root / "gt", "in-out": out / "gt", "is-masks": out / "masks", "out-inside": root}
        source = make_images(images[layout["inputs"]], size=16)
        if layout["inputs"] == "out-inside":  # OUT inside the input folder
            out = source / "out"
        truth = None if layout["truth"] == "none" else make_truth(truths[layout["truth"]], size=16)

        def add_user_files() -> None:
            for folder, name, content in layout["user"]:
                path = out / folder / name
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(content)

        if layout["user_first"]:
            add_user_files()
        present = set(digests(out)) if out.exists() else set()
        if layout["earlier_run"]:
            run(source, "--out", out, "--chain", "otsu", "--overwrite")
        ours = (set(digests(out)) if out.exists() else set()) - present  # what the earlier run wrote
        if not layout["user_first"]:
            add_user_files()
        roots = [r for r in (out, source, truth) if r and r.exists()]
        kept = {p: d for p, d in digests(*roots).items() if p not in ours}
        args = [source, "--out", out, "--chain", "otsu", "--overwrite"]
        status = run(*args, *(["--truth", truth] if truth else []))
        event(f"exit status {status}")
        after = digests(*(r for r in (out, source, truth) if r and r.exists()))
        assert {p: after.get(p) for p in kept} == kept
        if status == 0:
            assert (out / "masks" / "img0.png").is_file() and (out / MANIFEST).is_file()
        shutil.rmtree(root, ignore_errors=True)


def test_demo_overwrite_keeps_user_files_in_its_folders(tmp_path):
    demo = tmp_path / "demo"
    (demo / "images").mkdir(parents=True)
    (demo / "images" / "mine.txt").write_text("m")
    (demo / "run" / "masks").mkdir(parents=True)
    (demo / "run" / "masks" / "hand.png").write_text("h")
    args = ["demo", "--out", str(demo), "--n", "4", "--epochs", "1", "--device", "cpu", "-q", "--overwrite"]
    assert main(args) == 0
    assert (demo / "images" / "mine.txt").read_text() == "m" and (demo / "run" / "masks" / "hand.png").is_file()
    assert main([*args[:4], "3", *args[5:]]) == 0  # again, with fewer images: the earlier fourth is removed
    assert not (demo / "images" / "0003.png").exists() and (demo / "images" / "mine.txt").read_text() == "m"


def _leftovers(out: Path) -> list[Path]:
    """Temporary files as an atomic write killed midway leaves them, next to bootseg's files, and two of a user."""
    made = [out / ".run.json.ab12cd34.tmp", out / "masks" / ".img0.png.zz99xx11.tmp", out / f".{MANIFEST}.q1w2e3r4.tmp"]
    for path in made:
        path.write_bytes(b"half")
    (out / "masks" / ".mine.png.abcdefgh.tmp").write_bytes(b"user")
    (out / "x.tmp").write_bytes(b"user")
    return made


def test_leftover_temporary_files_are_removed_by_overwrite_and_resume(tmp_path):
    images = make_images(tmp_path / "good")
    out = tmp_path / "o"
    assert run(images, "--out", out, "--chain", "otsu") == 0
    made = _leftovers(out)
    assert run(images, "--out", out, "--chain", "otsu", "--overwrite") == 0
    assert not any(p.exists() for p in made)
    assert (out / "masks" / ".mine.png.abcdefgh.tmp").read_bytes() == b"user" and (out / "x.tmp").is_file()
    record = json.loads((out / "run.json").read_text())
    record["status"] = "running"  # as if it had been interrupted
    (out / "run.json").write_text(json.dumps(record))
    made = _leftovers(out)
    assert main(["run", "--resume", str(out), "-q"]) == 0
    assert not any(p.exists() for p in made) and (out / "x.tmp").is_file()


def test_a_run_killed_in_its_first_record_says_how_to_start_again(tmp_path, capsys):
    images = make_images(tmp_path / "good")
    out = tmp_path / "o"
    assert run(images, "--out", out, "--chain", "otsu") == 0
    for path in out.rglob("*"):  # what a kill during the first write of run.json leaves: the manifest alone
        if path.is_file() and path.name != MANIFEST:
            path.unlink()
    (out / ".run.json.ab12cd34.tmp").write_bytes(b"{")
    assert main(["run", "--resume", str(out), "-q"]) == 2
    message = capsys.readouterr().err
    assert "stopped before it recorded its settings" in message and "--overwrite" in message
    assert run(images, "--out", out, "--chain", "otsu", "--overwrite") == 0
    assert not list(out.rglob("*.tmp"))
