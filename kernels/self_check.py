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

from .tolerances import TOLERANCES, first_failure, fused_errors

_VERDICTS: Dict[Tuple[object, str, torch.dtype], Optional[str]] = {}


def run_self_check(module, device: torch.device, dtype: torch.dtype) -> Optional[str]:
    """None when the fused block matches the reference here, else the reason (one line).

    The bound is the table's ``self_check`` column (:mod:`.tolerances`), looser than the
    tests': this catches broken kernels, not last-bit differences. It is keyed by the dots'
    operand precision, so fp32 inputs under ``torch.set_float32_matmul_precision("high")``
    are judged as the TF32 dots they run, as PyTorch's own matmuls do.
    """
    from .cross_modal_attention import PRECISION_NAMES, dot_precision

    bound = TOLERANCES[PRECISION_NAMES[dot_precision(dtype)]].self_check
    if dtype == torch.bfloat16:  # bf16 inputs are rounded, whatever the dots do
        bound = max(bound, TOLERANCES["bf16"].self_check)
    generator = torch.Generator().manual_seed(0)
    dims = module.dims
    feats = {m: torch.randn(2, 7, dims[m], generator=generator) for m in ("lh", "rh", "body")}
    mask = torch.zeros(2, 7, dtype=torch.bool)
    mask[1, 4:] = True
    fused = copy.deepcopy(module).eval().to(device)
    try:
        errors = fused_errors(fused, [x.to(device, dtype) for x in feats.values()],
                              mask.to(device), generator)
    except Exception as error:   # any compile or launch failure is what this check is for
        return describe_error(error)
    return first_failure(errors, bound)


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
