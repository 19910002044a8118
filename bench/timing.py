"""Timing statistics and the environment record every benchmark result carries."""

import datetime
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch

PERCENTILES = (20, 50, 80)


def summarize(samples: Sequence[float]) -> Dict[str, float]:
    """Median with 20th/80th percentiles, min, max and count (STYLE.md's benchmark statistics)."""
    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no timing samples to summarize")
    p20, p50, p80 = np.percentile(values, PERCENTILES)
    return {"median": float(p50), "p20": float(p20), "p80": float(p80),
            "min": float(values.min()), "max": float(values.max()), "n": int(values.size)}


def time_call(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one call (CPU: synchronous; CUDA: synchronised before and after)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def device_tag(device: Optional[torch.device] = None) -> str:
    """``cpu-<threads>c`` or the GPU name, for result file names (default: the GPU if any)."""
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        return torch.cuda.get_device_name(device).lower().replace(" ", "-")
    return f"cpu-{torch.get_num_threads()}c"


def bench_device(name: str = "auto") -> torch.device:
    """``auto`` (the GPU when there is one), ``cpu``, ``cuda`` or ``cuda:N``; ValueError otherwise."""
    try:
        device = torch.device("cuda" if name == "auto" and torch.cuda.is_available()
                              else "cpu" if name == "auto" else name)
    except RuntimeError:
        raise ValueError(f"--device {name}: not a device (auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available here")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {name}: benchmarks run on cpu or cuda")
    return device


def git_commit() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10)
        commit = out.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def check_kernel(kernel: str, device: torch.device) -> str:
    """The block backend a benchmark was asked for, validated against its device."""
    if kernel not in ("reference", "triton", "auto"):
        raise ValueError(f"kernel must be reference, triton or auto, got {kernel!r}")
    if kernel == "triton" and device.type != "cuda":
        raise ValueError("--kernel triton runs the fused kernels, which need --device cuda")
    return kernel


def environment(device: Optional[torch.device] = None) -> Dict[str, object]:
    """Device, versions, threads, git commit and date: what a number needs to be comparable.

    ``device`` is the one measured (its tag names the result file); default: the GPU if any.
    """
    from slr_fused import __version__
    from slr_fused.info import package_version
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "device": device_tag(device),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_num_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {"slr_fused": __version__, "torch": torch.__version__,
                     **{name: package_version(name) for name in
                        ("numpy", "fvcore", "onnx", "onnxruntime", "triton", "tensorrt")}},
        "git_commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def standalone_main(prog: str, doc: str, add_arguments, run_from_args, argv=None) -> int:
    """Entry point of ``python -m slr_fused.bench.<module>``: the same flags as ``slr bench``."""
    import argparse
    import sys
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        code = run_from_args(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return code if isinstance(code, int) else 0   # an exit status, or result paths (0)
