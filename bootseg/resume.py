"""A folder that keeps each stage's finished work, so that an interrupted run goes on where it stopped.

:meth:`bootseg.BootstrapChain.run` with ``checkpoint_dir=FOLDER`` writes, as soon as each piece is done:

- ``FOLDER/stages/<k>-<stage>/<name>.png``: each stage's mask of each image (the first stage's one by one);
- ``FOLDER/model-<k>-<stage>.pt``: each trained network, right after its training and before it predicts;
- ``FOLDER/chain-state.json``: what the work depends on (the stages and their options, the seed, a digest of
  every image), written first.

A later run with the same folder, chain and images reloads what is there (masks are read back, trained networks
are loaded instead of retrained) and computes only the rest; the results are the same as those of a run that was
never interrupted. A different chain, seed or set of images is refused with a message saying what differs.
Every file is written atomically, so a run killed at any moment leaves only complete files.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .runfolder import RunFolder

__all__ = ["STATE_FILE", "StageStore", "image_digest"]

#: The file in a checkpoint folder that records what its work depends on.
STATE_FILE = RunFolder.STATE
_FORMAT = 1


def image_digest(image: np.ndarray) -> str:
    """A short digest of an image's pixels, shape and dtype.

    >>> image_digest(np.zeros((2, 2), np.uint8)) == image_digest(np.zeros((2, 2), np.uint8))
    True
    >>> image_digest(np.zeros((2, 2), np.uint8)) == image_digest(np.zeros((2, 2), np.uint16))
    False
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{image.shape}{image.dtype.str}".encode())
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


def stages_state(stages: Sequence[Any]) -> list[dict[str, Any]]:
    """Each stage of a chain as its state records it: name, source and options (not the device, the threads or
    the progress bars: a run may go on elsewhere); a stage given as an object, by the options it describes."""
    from .description import describe_stage

    records = []
    for stage in stages:
        options = {k: v for k, v in stage.options.items() if k not in ("device", "threads", "progress")}
        if stage.spec is None:  # an object: its class and the options it describes, else its repr
            options = dict(describe_stage(stage.obj, {"repr": repr(stage.obj)}).options)
        records.append({"name": stage.name, "source": stage.source, "options": options})
    return records


def chain_state(
    seed: int,
    stages: list[dict[str, Any]],
    images: Sequence[np.ndarray],
    names: Sequence[str],
    corrections: dict[int, np.ndarray],
) -> dict[str, Any]:
    """The state a checkpoint folder's work depends on: the seed, the stages, each image's name and digest, and
    the corrections' (absent without any, so that folders written before corrections existed still resume)."""
    state: dict[str, Any] = {
        "seed": seed,
        "stages": stages,
        "images": [{"name": n, "digest": image_digest(a)} for a, n in zip(images, names, strict=True)],
    }
    if corrections:
        state["corrections"] = [{"name": names[i], "digest": image_digest(m)} for i, m in corrections.items()]
    return state


def _check_file_name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name or name != name.strip():
        raise ValueError(
            f"image name {name!r} cannot be a file name in a checkpoint folder; give names without path "
            "separators or surrounding spaces (names=...)"
        )
    return name


class StageStore:
    """Each stage's masks and trained network, kept in ``folder`` (see the module's description).

    Parameters
    ----------
    folder : str or os.PathLike
        Created if missing.
    names : sequence of str
        One per image; each becomes a file name, so it must not hold a path separator.
    state : dict
        What the work depends on (JSON-able). A folder whose recorded state differs is refused.

    Examples
    --------
    >>> import tempfile
    >>> store = StageStore(tempfile.mkdtemp(), ["a", "b"], {"seed": 0})
    >>> store.load_mask("0-otsu", 0, (2, 2)) is None
    True
    >>> _ = store.save_mask("0-otsu", 0, np.eye(2, dtype=bool))
    >>> store.load_mask("0-otsu", 0, (2, 2)).tolist()
    [[True, False], [False, True]]
    """

    def __init__(self, folder: str | os.PathLike, names: Sequence[str], state: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.layout = RunFolder(self.folder)
        self.names = [_check_file_name(str(n)) for n in names]
        if len(set(self.names)) != len(self.names):
            raise ValueError("image names must be unique in a checkpoint folder; two images would share a file")
        state = {"format": _FORMAT, **json.loads(json.dumps(state, default=repr))}
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(f"checkpoint folder '{self.folder}' is a file; give a folder")
        path = self.layout.file(STATE_FILE)
        if path.exists():
            _compare(_read_state(path), state, self.folder)
        else:
            from .io import atomic_write

            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic_write(path, "w") as handle:
                json.dump(state, handle, indent=1)
        self.state = state

    def __repr__(self) -> str:
        return f"StageStore('{self.folder}', {len(self.names)} images)"

    def mask_path(self, key: str, index: int) -> Path:
        """Where the mask of image ``index`` by stage ``key`` (``"0-otsu"``) is kept."""
        return self.layout.stage_mask(key, self.names[index])

    def model_path(self, key: str) -> Path:
        """Where the trained network of stage ``key`` is kept."""
        return self.layout.model(key)

    def load_mask(self, key: str, index: int, shape: tuple[int, ...]) -> np.ndarray | None:
        """The kept mask, or ``None`` if there is none yet; a mask of the wrong size is an error."""
        from .io import read_mask

        path = self.mask_path(key, index)
        if not path.exists():
            return None
        mask = read_mask(path)
        if mask.shape != tuple(shape[:2]):
            raise ValueError(
                f"kept mask '{path}' is {mask.shape[1]} × {mask.shape[0]} pixels but its image is "
                f"{shape[1]} × {shape[0]}; the checkpoint folder does not belong to these images"
            )
        return mask

    def save_mask(self, key: str, index: int, mask: np.ndarray) -> Path:
        """Keep a mask (atomically); an existing one is left as it is."""
        from .io import write_mask

        path = self.mask_path(key, index)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_mask(path, mask)
        return path


def _read_state(path: Path) -> dict[str, Any]:
    """The recorded state in ``path``; a damaged file is a ``ValueError`` naming it and what to do."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"'{path}' is damaged (not valid JSON: {exc}), so the work kept beside it cannot be checked against "
            "this run; start the run again (bootseg run ... --out OUT --overwrite, or a new folder)"
        ) from exc
    if not isinstance(state, dict):
        raise ValueError(f"'{path}' is damaged (not a JSON object); start the run again with --overwrite")
    return state


def _compare(old: dict[str, Any], new: dict[str, Any], folder: Path) -> None:
    if old == new:
        return
    where = f"checkpoint folder '{folder}' holds the work of a different run"
    advice = "use a new folder, or remove it to start over"
    if old.get("format") != new.get("format"):
        raise ValueError(f"{where} (state format {old.get('format')}, expected {new.get('format')}); {advice}")
    if old.get("seed") != new.get("seed"):
        raise ValueError(f"{where}: seed {old.get('seed')} there, {new.get('seed')} now; {advice}")
    old_stages, new_stages = old.get("stages", []), new.get("stages", [])
    if old_stages != new_stages:
        for i, (a, b) in enumerate(zip(old_stages, new_stages, strict=False)):
            if a != b:
                raise ValueError(f"{where}: stage {i} was {_stage_text(a)}, now {_stage_text(b)}; {advice}")
        raise ValueError(f"{where}: {len(old_stages)} stages there, {len(new_stages)} now; {advice}")
    old_images, new_images = old.get("images", []), new.get("images", [])
    if len(old_images) != len(new_images):
        raise ValueError(f"{where}: {len(old_images)} images there, {len(new_images)} now; {advice}")
    for a, b in zip(old_images, new_images, strict=True):
        if a != b:
            what = "another name" if a.get("name") != b.get("name") else "other pixels"
            raise ValueError(f"{where}: image {b.get('name')!r} has {what} than before ({a.get('name')!r}); {advice}")
    if old.get("corrections") != new.get("corrections"):
        was = [c.get("name") for c in old.get("corrections", [])]
        now = [c.get("name") for c in new.get("corrections", [])]
        said = "the same images', with other masks" if was == now else f"{len(now)} now"
        raise ValueError(
            f"{where}: corrections of {len(was)} image(s) there ({', '.join(was[:5]) or 'none'}), {said}; {advice}"
        )
    raise ValueError(f"{where}; {advice}")


def _stage_text(stage: Any) -> str:
    if not isinstance(stage, dict):
        return repr(stage)
    options = ", ".join(f"{k}={v!r}" for k, v in sorted(stage.get("options", {}).items()))
    return f"{stage.get('name')}({options})"
