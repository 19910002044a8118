"""A one-time check that the fused kernels agree with the reference before ``auto`` uses them.

``backend="auto"`` is what ``slr train`` uses by default, so on a GPU the fused kernels carry
every default run. The first time a block configuration meets a device and dtype, its fused
forward and input gradients are compared on a tiny random batch (B=2, T=7, one padded sample)
with the float64 reference. If they disagree, or Triton fails to compile or launch there (an
unusual GPU, a Triton release with a regression), ``auto`` falls back to the reference with one
warning saying why, instead of training on wrong numbers or crashing; ``backend="triton"``
still forces the kernels. The cost is one small compile-and-compare per configuration and
process, paid when the kernels would compile anyway.
"""

import copy
import warnings
from typing import Dict, Optional, Tuple

import torch

from slr_fused.errors import describe_error

# Looser than the tests' bounds: this catches broken kernels, not last-bit differences. Keyed
# by the dots' operand precision (cross_modal_attention.dot_precision): fp32 inputs run TF32
# dots under torch.set_float32_matmul_precision("high"), as PyTorch's own matmuls do.
BOUNDS = {"ieee": 1e-4, "tf32": 1e-2, "bf16": 3e-2, "fp16": 3e-2}
_VERDICTS: Dict[Tuple[object, str, torch.dtype], Optional[str]] = {}


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    got, want = got.detach(), want.detach()
    if not torch.isfinite(got).all():
        return float("inf")
    scale = want.abs().max().clamp_min(1e-12)
    return float((got.double() - want).abs().max() / scale)


def run_self_check(module, device: torch.device, dtype: torch.dtype) -> Optional[str]:
    """None when the fused block matches the reference here, else the reason (one line)."""
    from .cross_modal_attention import (PRECISION_NAMES, cross_modal_attention_triton,
                                        dot_precision)

    bound = BOUNDS[PRECISION_NAMES[dot_precision(dtype)]]
    if dtype == torch.bfloat16:  # bf16 inputs are rounded, whatever the dots do
        bound = max(bound, BOUNDS["bf16"])
    generator = torch.Generator().manual_seed(0)
    dims = module.dims
    feats = {m: torch.randn(2, 7, dims[m], generator=generator) for m in ("lh", "rh", "body")}
    mask = torch.zeros(2, 7, dtype=torch.bool)
    mask[1, 4:] = True
    fused = copy.deepcopy(module).eval().to(device)
    reference = copy.deepcopy(module).eval().double().to(device)
    try:
        with torch.autocast(device.type, enabled=False), torch.enable_grad():
            leaves = [x.to(device, dtype).requires_grad_(True) for x in feats.values()]
            ref_leaves = [x.to(device, dtype).double().requires_grad_(True) for x in feats.values()]
            outs = cross_modal_attention_triton(fused, *leaves, mask.to(device))
            want = reference.forward_reference(*ref_leaves, mask.to(device))
            upstream = [torch.randn(o.shape, generator=generator, dtype=torch.float64).to(device)
                        for o in want]
            got_grads = torch.autograd.grad(
                sum((o.double() * u).sum() for o, u in zip(outs, upstream)), leaves,
                allow_unused=True)
            want_grads = torch.autograd.grad(
                sum((o * u).sum() for o, u in zip(want, upstream)), ref_leaves, allow_unused=True)
    except Exception as error:   # any compile or launch failure is what this check is for
        return describe_error(error)
    pairs = [(f"{m} output", o, w) for m, o, w in zip(dims, outs, want)]
    pairs += [(f"{m} gradient", g, w) for m, g, w in zip(dims, got_grads, want_grads)
              if g is not None and w is not None]
    for name, got, wanted in pairs:
        error = _relative_error(got, wanted)
        if not error <= bound:
            return f"{name} differs from the float64 reference by {error:.2e} (bound {bound:g})"
    return None


def fused_kernels_verified(module, example: torch.Tensor) -> bool:
    """Whether ``auto`` may use the fused kernels for ``module`` on ``example``'s device/dtype.

    Cached per (configuration, device, dtype); warns once when the answer is no. Under
    ``torch.compile`` tracing no check can run: an unchecked configuration is trusted there.
    """
    from .cross_modal_attention import SUPPORTED_DTYPES, dot_precision, make_plan

    if example.dtype not in SUPPORTED_DTYPES:
        return False
    # plans are hashable; the precision follows torch's fp32 matmul setting, which may change
    key = (make_plan(module), str(example.device), example.dtype, dot_precision(example.dtype))
    if key not in _VERDICTS:
        if torch.compiler.is_compiling():
            return True
        _VERDICTS[key] = run_self_check(module, example.device, example.dtype)
        if _VERDICTS[key] is not None:
            warnings.warn(f"cross-modal attention: the fused Triton kernels failed their self-check "
                          f"on {example.device} ({example.dtype}): {_VERDICTS[key]}. Using the "
                          f"PyTorch reference instead (backend='auto'); backend='triton' forces "
                          f"the kernels. Please report this with `slr info`.", stacklevel=3)
    return _VERDICTS[key] is None
