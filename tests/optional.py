"""Skip a whole test module when an optional dependency (an extra) is missing.

One helper instead of the import-or-skip loop each module wrote; the reason is printed as well,
so a skipped module says why even without ``-rs``.
"""

import importlib

import pytest


def require(*modules: str, install: str) -> None:
    """Import each module or skip the calling test module: ``require("onnx", install="...")``.

    Args:
        modules: import names, checked in order (the first missing one is named).
        install: the command that provides them, for the reason.
    """
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            reason = f"{name} not installed ({install})"
            print(f"SKIP: {reason}")
            pytest.skip(reason, allow_module_level=True)
