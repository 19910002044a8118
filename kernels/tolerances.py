"""One tolerance table and one correctness check for the fused cross-modal kernels.

Everything that judges the fused block judges it the same way, here: the kernel tests, the
one-time self-check behind ``backend="auto"`` (:mod:`.self_check`), the GPU acceptance step
(``python -m slr_fused.bench.gpu_check correctness``) and the kernel benchmark
(``slr bench kernels``). The fused outputs and gradients are compared with
``CrossModalAttention.forward_reference`` run in float64 on the same weights and inputs; the
error of a tensor is ``max |got - want| / max |want|`` (scale-aware: a bound means the same at
any magnitude; NaN or inf never pass). A bound changed here changes for all of them at once.

The table is keyed by the operand precision of the kernels' dots
(``cross_modal_attention.dot_precision``): fp32 inputs run exact ("ieee") dots, or TF32 ones
under ``torch.set_float32_matmul_precision("high")``; 16-bit inputs run 16-bit dots with fp32
accumulation and also round the inputs and outputs.

This module imports without Triton (the tests read the table on any machine); the check itself
runs the kernels, so it imports them when called.
"""

import copy
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch

from slr_fused.data.joints import FEATURE_DIMS
from slr_fused.models.cross_modal import CrossModalAttention


class Bounds(NamedTuple):
    """Relative-error bounds of one dot precision against float64."""

    strict: float       # tests, benchmarks and the GPU check: what the kernels are held to
    self_check: float   # ``auto``'s one-time check: catches broken kernels, not last bits


TOLERANCES: Dict[str, Bounds] = {
    "ieee": Bounds(strict=1e-5, self_check=1e-4),
    # TF32 operands have 10 mantissa bits (unit roundoff ~5e-4); a few chained products.
    "tf32": Bounds(strict=5e-3, self_check=1e-2),
    "bf16": Bounds(strict=1e-2, self_check=3e-2),
    "fp16": Bounds(strict=1e-2, self_check=3e-2),
}

# The dtypes the benchmarks and the GPU check name, with the dot precision they run at by
# default (fp32: exact dots, torch's default float32 matmul precision "highest").
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DTYPE_PRECISION = {"fp32": "ieee", "bf16": "bf16", "fp16": "fp16"}
MODALITIES = ("lh", "rh", "body")


def strict_bound(dtype_name: str) -> float:
    """The bound a check at ``dtype_name`` (fp32, bf16, fp16) is held to."""
    if dtype_name not in DTYPE_PRECISION:
        raise ValueError(f"dtype must be one of {sorted(DTYPE_PRECISION)}, got {dtype_name!r}")
    return TOLERANCES[DTYPE_PRECISION[dtype_name]].strict


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """``max |got - want| / max |want|`` in float64; inf when ``got`` is not finite."""
    got, want = got.detach(), want.detach()
    if not torch.isfinite(got).all():
        return float("inf")
    want = want.double()
    scale = want.abs().max().clamp_min(1e-12)
    return float((got.double() - want).abs().max() / scale)


def fused_errors(module: CrossModalAttention, feats: Sequence[torch.Tensor],
                 mask: Optional[torch.Tensor], generator: torch.Generator,
                 parameters: bool = False) -> Dict[str, float]:
    """Relative error of every fused output and gradient against the float64 reference.

    ``module`` is used as it is (its device, dtype and weights) and is not changed; ``feats``
    are the (lh, rh, body) inputs on that device and dtype. The upstream gradient is drawn
    from ``generator`` (a CPU generator). Gradients are taken with respect to the inputs, and
    the parameters too when ``parameters``. Keys, in order: ``"<m> output"``,
    ``"<m> gradient"`` per modality, then ``"<parameter> gradient"``. Raises whatever the
    kernels raise (a compile or launch failure is the caller's finding).
    """
    from .cross_modal_attention import cross_modal_attention_triton

    device = feats[0].device
    reference = copy.deepcopy(module).double()
    leaves = [x.detach().clone().requires_grad_(True) for x in feats]
    ref_leaves = [x.detach().double().requires_grad_(True) for x in feats]
    weights = list(module.parameters()) if parameters else []
    ref_weights = list(reference.parameters()) if parameters else []
    with torch.autocast(device.type, enabled=False), torch.enable_grad():
        outs = cross_modal_attention_triton(module, *leaves, mask)
        want = reference.forward_reference(*ref_leaves, mask)
        upstream = [torch.randn(o.shape, generator=generator, dtype=torch.float64).to(device)
                    for o in want]
        got_grads = torch.autograd.grad(
            sum((o.double() * u).sum() for o, u in zip(outs, upstream)), leaves + weights,
            allow_unused=True)
        want_grads = torch.autograd.grad(
            sum((o * u).sum() for o, u in zip(want, upstream)), ref_leaves + ref_weights,
            allow_unused=True)
    names = [f"{m} gradient" for m in MODALITIES]
    names += [f"{name} gradient" for name, _ in module.named_parameters()] if parameters else []
    errors = {f"{m} output": relative_error(o, w) for m, o, w in zip(MODALITIES, outs, want)}
    errors.update({name: relative_error(g, w) for name, g, w in zip(names, got_grads, want_grads)
                   if g is not None and w is not None})
    return errors


def first_failure(errors: Dict[str, float], bound: float) -> Optional[str]:
    """The first tensor over ``bound``, as one line; None when every one is within it."""
    for name, error in errors.items():
        if not error <= bound:
            return f"{name} differs from the float64 reference by {error:.2e} (bound {bound:g})"
    return None


# ----------------------------------------------------------------------------------------------
# The check at real sizes (GPU tests, gpu_check, slr bench kernels)
# ----------------------------------------------------------------------------------------------


def block_module(heads: int, dtype: torch.dtype, backend: str, device, seed: int = 1):
    """A seeded ``CrossModalAttention`` in eval mode on ``device``/``dtype``."""
    torch.manual_seed(seed)
    return CrossModalAttention(num_heads=heads, backend=backend).to(device, dtype).eval()


def block_inputs(B: int, T: int, dtype: torch.dtype, device, masked: bool = True,
                 seed: int = 0, dims: Optional[Dict[str, int]] = None
                 ) -> Tuple[List[torch.Tensor], Optional[torch.Tensor]]:
    """Random (lh, rh, body) of the block's widths and, when ``masked``, a padding mask.

    Real batches are padded to the longest sample: lengths between T/2 and T, the first full.
    """
    dims = dims or FEATURE_DIMS
    g = torch.Generator(device="cpu").manual_seed(seed)
    feats = [torch.randn(B, T, dims[m], generator=g).to(device, dtype) for m in MODALITIES]
    mask = None
    if masked:
        lengths = torch.randint(max(1, T // 2), T + 1, (B,), generator=g)
        lengths[0] = T
        mask = (torch.arange(T)[None, :] >= lengths[:, None]).to(device)
    return feats, mask


def check_correctness(heads: int, B: int, T: int, dtype_name: str, masked: bool = True,
                      device="cuda") -> dict:
    """Fused outputs and every gradient (inputs and weights) against float64 at (B, T).

    Returns the row the GPU check and the kernel benchmark record: dtype, B, T, bound,
    max_rel_error, worst (the tensor with the largest error), passed.
    """
    bound = strict_bound(dtype_name)
    dtype = DTYPES[dtype_name]
    module = block_module(heads, dtype, "triton", device)
    feats, mask = block_inputs(B, T, dtype, device, masked=masked)
    errors = fused_errors(module, feats, mask, torch.Generator(device="cpu").manual_seed(3),
                          parameters=True)
    worst = max(errors, key=errors.get)
    return {"dtype": dtype_name, "B": B, "T": T, "bound": bound, "max_rel_error": errors[worst],
            "worst": worst, "passed": errors[worst] <= bound}
