"""Writing a file in one step: a temporary file in the target's folder, flushed to disk, then ``os.replace``, so
a crash or an error leaves the old file or the new one, never a truncated one."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import IO, Any

from .formats import PathLike, _as_path

__all__ = ["atomic_write", "write_bytes_atomic"]


@cache
def _umask() -> int:
    """The process umask (read once; ``os.umask`` can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where folders cannot be opened."""
    if os.name != "posix":
        return
    with suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


@contextmanager
def atomic_write(path: PathLike, mode: str = "wb", *, encoding: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` only when the ``with`` block ends without error.

    The temporary file lives in the target's folder (so the final ``os.replace`` is atomic on one file
    system), is flushed and fsync'ed before the replace, and is removed if anything fails, so ``path`` holds
    either its old content or the complete new one. The new file gets the usual permissions (0o666 minus the
    umask), not the private ones of a temporary file.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder must exist.
    mode : {"wb", "w"}, optional
        Binary (default) or text.
    encoding : str, optional
        Text encoding for ``mode="w"`` (default UTF-8).

    Yields
    ------
    file object
        Write to it inside the ``with`` block.

    Raises
    ------
    FileNotFoundError
        If the target's folder does not exist.
    ValueError
        For a ``mode`` other than ``"wb"`` or ``"w"``, or ``encoding`` with ``"wb"``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_write(target, "w") as handle:
    ...     _ = handle.write("done")
    >>> target.read_text()
    'done'
    """
    path = _as_path(path)
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got mode={mode!r}")
    if mode == "wb" and encoding is not None:
        raise ValueError(f"encoding={encoding!r} needs text mode 'w', got mode='wb'")
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write '{path}': folder '{folder}' does not exist")
    handle_number, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    text = {"encoding": encoding or "utf-8", "newline": ""} if mode == "w" else {}
    try:
        with os.fdopen(handle_number, mode, **text) as handle:
            os.chmod(temporary, 0o666 & ~_umask())
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as exc:
        with suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC and not exc.filename:  # name the file
            raise OSError(
                errno.ENOSPC, f"{exc.strerror or 'No space left on device'} while writing", str(path)
            ) from exc
        raise
    _fsync_folder(folder)


def write_bytes_atomic(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`).

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder must exist.
    data : bytes or bytearray or memoryview
        The complete content.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "blob.bin"
    >>> write_bytes_atomic(target, b"abc").read_bytes()
    b'abc'
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    path = _as_path(path)
    with atomic_write(path, "wb") as handle:
        handle.write(data)
    return path
