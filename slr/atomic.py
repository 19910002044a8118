"""Atomic file writes: a temporary file in the same folder, flushed, then renamed over the target.

Readers see the old file or the new one, never half of either; a crash or SIGKILL mid-write leaves
the previous version intact. Every writer of results, caches and checkpoints goes through here.
"""

import os
import tempfile
from pathlib import Path
from typing import IO, Callable, Optional


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, write: Callable[[IO], None], binary: bool = True,
                 mode: Optional[int] = None) -> Path:
    """Call ``write(handle)`` on a temporary file, then move it to ``path``.

    ``mode``: the file's permission bits (e.g. a cache copies its source's); default: the umask's.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, (0o666 & ~_umask()) if mode is None else mode)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text_atomic(path, text: str) -> Path:
    return atomic_write(path, lambda handle: handle.write(text), binary=False)
