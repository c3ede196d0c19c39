"""Atomic writes: a file or folder appears complete under its final name, or not at all.

tempfile creates files 0600 and folders 0700; outputs are meant to be shared like any file a user
makes, so both get the permissions the umask allows before they are renamed into place.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write `data` to `path` through a temp file in the same folder and os.replace."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def temp_dir_beside(path: str | Path) -> Path:
    """An empty folder next to `path` (same filesystem, so it can be renamed onto it), mode per umask."""
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


def make_shareable(path: str | Path) -> None:
    """Give a file made by tempfile (0600) the mode the umask allows, as any other output file."""
    os.chmod(path, 0o666 & ~_umask())


def missing_dirs(path: str | Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, outermost first: what a later
    mkdir(parents=True) creates, so a command that ends with nothing to show can remove them again."""
    path = Path(path)
    return [d for d in (*reversed(path.parents), path) if not d.exists()]
