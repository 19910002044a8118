"""The one rule every command that writes a file follows: never over an input, never over an
existing file unless asked (``--overwrite``).

Same-file detection uses ``os.path.samefile`` where both exist (hard links, symlinks, ``./x``
vs ``x``) and the resolved path otherwise, so ``-o model.pt`` for input ``model.pt`` is caught
however it is spelled.
"""

import os
from pathlib import Path
from typing import Iterable, Optional


class OutputError(ValueError):
    """An output that would destroy an input or an existing file."""


def same_file(a, b) -> bool:
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def check_output(path, inputs: Iterable = (), overwrite: bool = False,
                 flag: Optional[str] = "--output") -> None:
    """Raise OutputError when ``path`` is one of ``inputs`` (always, even with ``overwrite``),
    is a folder, or exists already without ``overwrite``."""
    name = f"{flag} {path}" if flag else str(path)
    for source in inputs:
        if source is not None and str(source) != "" and same_file(path, source):
            raise OutputError(f"{name}: this is one of the inputs ({source}); writing it would "
                              f"replace an input: choose another output name")
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{name}: is a folder; give a file name")
    if target.exists() and not overwrite:
        raise OutputError(f"{name} exists already; pass --overwrite to replace it")
