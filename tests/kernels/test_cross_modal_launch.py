"""cross_modal_launch: dot precision per dtype and float32 matmul setting, tile sizes and
widths, launch options per architecture."""

import pytest
import torch

import slr_fused.kernels.cross_modal_launch as cross_modal_launch
from slr_fused.kernels.cross_modal_jit import PREC_BF16, PREC_FP16, PREC_IEEE, PREC_TF32
from slr_fused.kernels.cross_modal_launch import (_DEFAULT_OPTIONS, LAUNCH_OPTIONS,
                                                  PROJECTION_DTYPES, _block_sizes, _tile_widths,
                                                  head_chunk, launch_options, projection_rows)
from slr_fused.kernels.cross_modal_plan import make_plan
from slr_fused.models.cross_modal import CrossModalAttention


@pytest.mark.parametrize("dtype,setting,expected", [
    (torch.float32, "highest", PREC_IEEE), (torch.float32, "high", PREC_TF32),
    (torch.float32, "medium", PREC_TF32), (torch.float16, "highest", PREC_FP16),
    (torch.float16, "high", PREC_FP16)])
def test_dot_precision_follows_dtype_and_torch_setting(dtype, setting, expected):
    old = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(setting)
    try:
        assert cross_modal_launch.dot_precision(dtype) == expected
    finally:
        torch.set_float32_matmul_precision(old)


def test_bfloat16_dots_use_bfloat16_operands_on_the_gpu(monkeypatch):
    monkeypatch.setattr(cross_modal_launch, "_interpreting", lambda: False)
    assert cross_modal_launch.dot_precision(torch.bfloat16) == PREC_BF16
    monkeypatch.setattr(cross_modal_launch, "_interpreting", lambda: True)  # bit patterns there: exact dots
    assert cross_modal_launch.dot_precision(torch.bfloat16) == PREC_IEEE


def test_projections_are_stored_in_the_16_bit_operand_dtype():
    assert PROJECTION_DTYPES == {PREC_BF16: torch.bfloat16, PREC_FP16: torch.float16}
    assert PREC_IEEE not in PROJECTION_DTYPES and PREC_TF32 not in PROJECTION_DTYPES


def test_block_sizes_on_the_interpreter_and_on_a_gpu(monkeypatch):
    monkeypatch.delenv("SLR_FUSED_CMA_BLOCK", raising=False)
    monkeypatch.setattr(cross_modal_launch, "_interpreting", lambda: True)
    assert _block_sizes(204) == (16, 16)
    monkeypatch.setattr(cross_modal_launch, "_interpreting", lambda: False)
    assert _block_sizes(204) == (32, 16)              # 16-bit and TF32 dots: 32 query rows
    assert _block_sizes(204, PREC_TF32) == (32, 16)
    assert _block_sizes(204, PREC_IEEE) == (16, 16)   # exact fp32 dots spill at 32 rows
    assert _block_sizes(16) == (16, 16)               # short sequences
    monkeypatch.setenv("SLR_FUSED_CMA_BLOCK", "64")
    assert _block_sizes(204) == (64, 64)


def test_head_chunk_splits_only_wide_exact_fp32_heads():
    assert head_chunk(64, PREC_IEEE) == 32            # 1 head: FFMA dots in 32-wide chunks
    assert head_chunk(32, PREC_IEEE) == 32 and head_chunk(16, PREC_IEEE) == 16
    for prec in (PREC_TF32, PREC_BF16, PREC_FP16):    # tensor-core dots: one dot
        assert head_chunk(64, prec) == 64


def test_projection_rows_per_precision_and_architecture(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(cross_modal_launch, "_interpreting", lambda: True)
    assert projection_rows(16, 64, PREC_BF16, cpu) == 16          # the interpreter: attention rows
    monkeypatch.setattr(cross_modal_launch, "_interpreting", lambda: False)
    monkeypatch.setattr(cross_modal_launch, "_CAPABILITY", {("cpu", None): 9})
    assert projection_rows(16, 64, PREC_IEEE, cpu) == 16          # FFMA: attention rows
    assert projection_rows(32, 16, PREC_BF16, cpu) == 128         # tensor cores: 128 rows
    assert projection_rows(32, 64, PREC_TF32, cpu) == 64          # one head's 64-wide tiles
    monkeypatch.setattr(cross_modal_launch, "_CAPABILITY", {("cpu", None): 8})
    assert projection_rows(32, 64, PREC_TF32, cpu) == 32          # TF32 on sm_8x: no spills
    assert projection_rows(32, 64, PREC_BF16, cpu) == 64


@pytest.mark.parametrize("directions,narrow,flags", [
    ("all", 32, {"lh": 0, "rh": 0, "body": 1}),       # body 24 -> 32 tiles, hands 42 -> 64
    ("hands", 64, {"lh": 0, "rh": 0, "body": 0}),     # no body: every tile is 64 wide
])
def test_tile_widths_follow_each_modality_padding(directions, narrow, flags):
    plan = make_plan(CrossModalAttention(num_heads=3, directions=directions))
    assert _tile_widths(plan) == (64, narrow, flags)


def test_launch_options_per_architecture(monkeypatch):
    monkeypatch.setattr(cross_modal_launch, "_CAPABILITY", {})
    kernels = ("forward", "maps", "backward_query", "backward_key", "projection",
               "backward_input")
    for major in (8, 9):
        for kernel in kernels:
            assert LAUNCH_OPTIONS[(major, kernel)] == {"num_warps": 8, "maxnreg": 255}
        # the packing kernel unpipelined: its 3-stage loop spilled at 2 heads on sm_87
        assert LAUNCH_OPTIONS[(major, "pack")] == {"num_warps": 8, "maxnreg": 255, "num_stages": 1}
    # the CPU (interpreter) reads sm_90's options; an unknown kernel gets the default
    assert launch_options("forward", torch.device("cpu")) == LAUNCH_OPTIONS[(9, "forward")]
    assert launch_options("no such kernel", torch.device("cpu")) == _DEFAULT_OPTIONS
    assert cross_modal_launch._CAPABILITY == {("cpu", None): 9}   # cached per device
    # another architecture family falls back to the default options
    cross_modal_launch._CAPABILITY[("cuda", 0)] = 7
    assert launch_options("forward", torch.device("cuda", 0)) == _DEFAULT_OPTIONS
