"""The environment record a run's config.json and every benchmark result carry.

One definition, so a training run and a benchmark measured on the same machine describe it with
the same keys: device (a short tag that also names benchmark result files), the torch device,
CPU, threads, GPU, versions of the packages that change numbers, the git commit and the date.
"""

import datetime
import importlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Dict, Optional

import torch

# Packages whose versions change results (speed or numerics); recorded with every result.
RECORDED_PACKAGES = ("numpy", "fvcore", "onnx", "onnxruntime", "triton", "tensorrt")


def package_version(name: str) -> str:
    """``__version__`` of an importable package, "not installed", or "broken (<error>)"."""
    try:
        module = importlib.import_module(name)
    except Exception as error:  # not installed, or broken (a message is more useful than a crash)
        return "not installed" if isinstance(error, ImportError) else f"broken ({type(error).__name__})"
    return str(getattr(module, "__version__", "installed"))


def git_commit() -> str:
    """The commit of the slr-fused checkout in use (``-dirty`` with uncommitted changes to
    tracked files), or "unknown" outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = result.stdout.strip()
    return (commit + ("-dirty" if dirty else "")) if result.returncode == 0 and commit else "unknown"


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_tag(device: Optional[torch.device] = None) -> str:
    """``cpu-<threads>c`` or the GPU name, for result file names (default: the GPU if any)."""
    device = default_device() if device is None else torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device).lower().replace(" ", "-")
    return f"cpu-{torch.get_num_threads()}c"


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, or what ``platform`` knows elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: Optional[torch.device] = None) -> Dict[str, object]:
    """Device, versions, threads, git commit and date: what a number needs to be comparable.

    ``device`` is the one used (its tag names benchmark result files); default: the GPU if any.
    """
    from . import __version__
    device = default_device() if device is None else torch.device(device)
    has_cuda = torch.cuda.is_available()
    return {
        "device": device_tag(device),
        "torch_device": str(device),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_num_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(device if device.type == "cuda" else 0) if has_cuda else None,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {"slr_fused": __version__, "torch": torch.__version__,
                     **{name: package_version(name) for name in RECORDED_PACKAGES}},
        "git_commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
