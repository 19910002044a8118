"""Launch choices of the cross-modal attention kernels: dot precision, tile sizes, and the
``num_warps``/``maxnreg`` options per GPU architecture.

``_interpreting`` is looked up here by :func:`dot_precision` and :func:`_block_sizes`: a test or
the kernel lab that wants the GPU's choices on the CPU patches it in this module.
"""

import os
from typing import Dict, Tuple

import torch

from .cross_modal_jit import PREC_BF16, PREC_FP16, PREC_IEEE, PREC_TF32
from .cross_modal_plan import _pad_dim

# Q, K and V are stored in the dots' operand dtype: a 16-bit dot would round them anyway.
PROJECTION_DTYPES = {PREC_BF16: torch.bfloat16, PREC_FP16: torch.float16}


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def dot_precision(dtype: torch.dtype) -> int:
    """The operand precision (``PREC_*``) of the kernels' dots for inputs of ``dtype``.

    bf16/fp16 inputs: 16-bit operands on the tensor cores, fp32 accumulation (autocast's
    choice). fp32 inputs: ``torch.get_float32_matmul_precision()`` as for PyTorch's matmuls,
    "highest" exact fp32, "high"/"medium" TF32 (10 mantissa bits). The interpreter cannot
    multiply bf16 (it multiplies the bit patterns), so there bf16 inputs use exact dots;
    bf16 tensor-core dots are checked by compiling for the GPU (test_gpu_compile.py).
    """
    if dtype == torch.float16:
        return PREC_FP16
    if dtype == torch.bfloat16:
        return PREC_IEEE if _interpreting() else PREC_BF16
    return PREC_IEEE if torch.get_float32_matmul_precision() == "highest" else PREC_TF32


def _block_sizes(T: int, prec: int = PREC_BF16) -> Tuple[int, int]:
    """(BLOCK_M, BLOCK_N): query rows per program / per step of the key kernel's query loop,
    and keys per step of the query-side loops / per program of the key kernel.

    16 keeps the interpreter fast. On a GPU 32 query rows keep the (32, 64) fp32 epilogue tiles
    in registers while still giving B * T / 32 programs; keys go 16 at a time, which pads
    T = 204 to 208 keys instead of 224 (every attention product is (rows x keys) so this is
    7% less executed work than 32, for twice the loop trips). Exact fp32 dots (``prec`` =
    PREC_IEEE, FFMA) take 16 query rows too: Triton's FMA dot holds each thread's operand
    slices over the whole reduction in registers, and 32-row tiles spilled 1-4.6 KB per thread
    (1 head, sm_87) where 16 rows spill 0-0.7 KB. SLR_FUSED_CMA_BLOCK overrides both for tuning.
    """
    override = os.environ.get("SLR_FUSED_CMA_BLOCK")
    if override:
        return int(override), int(override)
    if _interpreting() or T <= 16 or prec == PREC_IEEE:
        return 16, 16
    return 32, 16


def head_chunk(dhp: int, prec: int) -> int:
    """DC: the width in which the forward reduces the head dim of its score (Q K^T) and output
    (O Wo^T) dots; DHP = one dot each.

    Exact fp32 (FFMA) dots over a head dim wider than 32 (1 head: 42 -> 64) go 32 at a time:
    Triton's FMA dot holds each thread's operand slices over the whole reduction in registers,
    and the 64-wide output dot spilled 120 B per thread on sm_90 (32 B on sm_87) at 255
    registers; in 32-wide chunks the forward needs 218-222 registers and spills nothing
    (16-wide chunks spilled again: 72 B on sm_90). Tensor-core dots keep one dot.
    """
    return 32 if prec == PREC_IEEE and dhp > 32 else dhp


def projection_rows(block_m: int, dhp: int, prec: int, device: torch.device) -> int:
    """BLOCK_M of the projection kernel.

    Tensor-core dots take 128-row tiles: with the attention's 32 rows, a (32, 16) head's output
    is 4 MMA tiles for 8 warps, and the SASS showed each warp repeating its share 4 times (4x
    the tensor work asked). Exact fp32 (FFMA) keeps the attention's rows: 128 would spill 3 KB
    per thread. One head's (rows, 64) tiles are 4 MMA tiles per warp at 64 rows already (128
    spilled); TF32 on sm_8x (HMMA, no wgmma) spilled 24 B per thread at 64 rows on sm_87: 32.
    """
    if _interpreting() or prec == PREC_IEEE:
        return block_m
    if dhp < 64:
        return 128
    return 32 if prec == PREC_TF32 and _capability_major(device) == 8 else 64


def _tile_widths(plan) -> Tuple[int, int, Dict[str, int]]:
    """(WIDE, NARROW, narrow flag per modality): the feature-tile widths of the kernels.

    The packed weights keep one padded width DP (= WIDE) for every modality, but each modality's
    tiles are only as wide as its own padding (body 24 -> 32, hands 42 -> 64), so no product
    multiplies a row of zeros 64 wide for the body. Kernels hold one copy of their program per
    distinct width (two at most: a modality whose padded width is neither is given WIDE).
    """
    used = {m for pair in plan.directions for m in pair}
    pads = {m: _pad_dim(d) for m, d in plan.dims}
    narrow = min(pads[m] for m in used)
    return plan.dp, narrow, {m: int(pads[m] == narrow < plan.dp) for m in pads}


# Launch options per architecture family, read off ptxas for every kernel, head count and
# precision (B=32, T=204; tests/kernels/test_gpu_compile.py compiles them). Without an explicit
# ``maxnreg`` ptxas settled on its 32-register default for 1 and 2 heads and spilled 30-95 KB per
# thread; 8 warps halve each thread's share of the (32, 64) tiles, which removed most spills
# (e.g. forward, 1 head, fp16 on sm_90: 344 B of stack at 4 warps, 64 B at 8). 8 warps x 255
# registers fill one SM's 64K registers: one CTA of 8 warps per SM on H100 and on Orin.
# Key: (major compute capability, kernel) -> options; None: any other architecture.
LAUNCH_OPTIONS = {
    (9, "forward"): dict(num_warps=8, maxnreg=255),
    (9, "maps"): dict(num_warps=8, maxnreg=255),
    (9, "backward_query"): dict(num_warps=8, maxnreg=255),
    (9, "backward_key"): dict(num_warps=8, maxnreg=255),
    (8, "forward"): dict(num_warps=8, maxnreg=255),
    (8, "maps"): dict(num_warps=8, maxnreg=255),
    (8, "backward_query"): dict(num_warps=8, maxnreg=255),
    (8, "backward_key"): dict(num_warps=8, maxnreg=255),
}
_DEFAULT_OPTIONS = dict(num_warps=8, maxnreg=255)
for _major in (8, 9):
    LAUNCH_OPTIONS[(_major, "projection")] = dict(num_warps=8, maxnreg=255)
    LAUNCH_OPTIONS[(_major, "backward_input")] = dict(num_warps=8, maxnreg=255)
    # The parameter packing's loop over head rows, software-pipelined (Triton's default 3
    # stages), spilled 192 B per thread at 2 heads on sm_87 (fp32); unpipelined it takes
    # 232-246 registers and spills nothing at any head count, dtype or arch.
    LAUNCH_OPTIONS[(_major, "pack")] = dict(num_warps=8, maxnreg=255, num_stages=1)
_CAPABILITY = {}


def launch_options(kernel: str, device: torch.device) -> dict:
    """``num_warps``/``maxnreg`` for a launch of ``kernel`` on ``device`` (the interpreter
    ignores them). Capabilities are cached per device: no driver call per launch."""
    return LAUNCH_OPTIONS.get((_capability_major(device), kernel), _DEFAULT_OPTIONS)


def _capability_major(device: torch.device) -> int:
    key = (device.type, device.index)  # hashing a torch.device costs microseconds
    major = _CAPABILITY.get(key)
    if major is None:
        major = torch.cuda.get_device_capability(device)[0] if device.type == "cuda" else 9
        _CAPABILITY[key] = major
    return major
