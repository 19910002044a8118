"""Timing statistics and the environment record every benchmark result carries."""

import time
from typing import Callable, Dict, Sequence

import numpy as np
import torch

# One definition each, shared with training (slr_fused.devices, slr_fused.environment).
from slr_fused.devices import resolve_device as bench_device  # noqa: F401
from slr_fused.environment import device_tag, environment  # noqa: F401

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


def check_kernel(kernel: str, device: torch.device) -> str:
    """The block backend a benchmark was asked for, validated against its device."""
    if kernel not in ("reference", "triton", "auto"):
        raise ValueError(f"kernel must be reference, triton or auto, got {kernel!r}")
    if kernel == "triton" and device.type != "cuda":
        raise ValueError("--kernel triton runs the fused kernels, which need --device cuda")
    return kernel


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
