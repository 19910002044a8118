"""The one place that decides whether ``slr convert`` may write an output file.

Kept separate and tiny so it can be swapped for the project-wide output guard.
"""

from pathlib import Path
from typing import Iterable


def check_output(path, inputs: Iterable, overwrite: bool) -> None:
    """Raise ValueError when ``path`` is one of the inputs (even with ``overwrite``), or exists
    already and ``overwrite`` is not set."""
    target = Path(path).resolve()
    for entry in inputs:
        source = Path(entry).resolve()
        if target == source:
            raise ValueError(f"{path}: this is one of the inputs; choose another output name")
    if target.exists() and not overwrite:
        raise ValueError(f"{path} exists already; pass --overwrite to replace it")
