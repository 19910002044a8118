"""Which model files may run native code here: the ones slr-fused exported on this machine.

A ``.pt`` checkpoint is plain data loaded without unpickling code, so any source is safe. An
AOTInductor ``.pt2`` package carries a shared library that is loaded (its constructors run) and
a TensorRT ``.engine`` is deserialized by TensorRT's native runtime: either can run code from
whoever made the file. ``slr export aoti``/``slr export tensorrt`` record the sha256 of each file
they write in ``$SLR_CACHE_DIR/trusted-models.json`` (default ``~/.cache/slr-fused``); loading a
.pt2/.engine that is not there (or was changed since) needs an explicit ``trust=True``
(``--trust-model``), and the check runs before any native code is loaded.
"""

import fcntl
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict

from .hashing import sha256_file

REGISTRY_NAME = "trusted-models.json"
CODE_FORMATS = {".pt2": "an AOTInductor package loads and runs its shared library",
                ".engine": "a TensorRT engine is deserialized by TensorRT's native runtime",
                ".trt": "a TensorRT engine is deserialized by TensorRT's native runtime",
                ".plan": "a TensorRT engine is deserialized by TensorRT's native runtime"}


class UntrustedModelError(ValueError):
    """A model file that would run native code and was not produced on this machine."""


def registry_path() -> Path:
    root = Path(os.environ.get("SLR_CACHE_DIR", Path.home() / ".cache" / "slr-fused"))
    return root / REGISTRY_NAME


def _read(path: Path) -> Dict[str, Dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_trusted(path) -> str:
    """Remember ``path``'s content as produced here; returns its sha256."""
    from .atomic import write_text_atomic
    sha = sha256_file(path)
    registry = registry_path()
    registry.parent.mkdir(parents=True, exist_ok=True)
    with open(registry.with_name(REGISTRY_NAME + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # two exports at once must not drop each other's entry
        entries = _read(registry)
        entries[sha] = {"path": os.path.realpath(path),
                        "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        write_text_atomic(registry, json.dumps(entries, indent=1, sort_keys=True) + "\n")
    os.chmod(registry, 0o600)
    return sha


def check_trusted(path, trust: bool = False) -> None:
    """Raise UntrustedModelError unless ``path`` is not code, was exported here, or ``trust``."""
    path = Path(path)
    reason = CODE_FORMATS.get(path.suffix.lower())
    if reason is None or trust or not path.is_file():
        return
    entries = _read(registry_path())
    sha = sha256_file(path)
    if sha in entries:
        return
    real = os.path.realpath(path)
    changed = any(entry.get("path") == real for entry in entries.values())
    origin = ("was changed after `slr export` wrote it on this machine (sha256 mismatch)" if changed
              else "was not produced by `slr export` on this machine")
    raise UntrustedModelError(f"{path} {origin}, and {reason} when loaded: load it only if you trust "
                              f"its source, with --trust-model (trust=True)")
