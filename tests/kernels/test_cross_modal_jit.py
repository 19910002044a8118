"""cross_modal_jit: the precision codes and names, and the row-tile and dot helpers in one
16 x 16 program on the Triton interpreter (tests/conftest.py sets TRITON_INTERPRET=1)."""

import os

import pytest
import torch

triton = pytest.importorskip("triton")
import triton.language as tl  # noqa: E402

from slr_fused.kernels.cross_modal_jit import (PREC_BF16, PREC_FP16, PREC_IEEE,  # noqa: E402
                                               PREC_TF32, PRECISION_NAMES, _load_rows, _mm,
                                               _pick3, _store_rows)

interpreter_only = pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1",
                                      reason="runs one program on the Triton interpreter")


def test_precision_codes_and_names():
    assert (PREC_IEEE, PREC_TF32, PREC_BF16, PREC_FP16) == (0, 1, 2, 3)
    assert PRECISION_NAMES == {0: "ieee", 1: "tf32", 2: "bf16", 3: "fp16"}


@triton.jit
def _rows_mm_kernel(x_ptr, w_ptr, y_ptr, k, T, D, DP: tl.constexpr, PREC: tl.constexpr):
    rows = tl.arange(0, DP)
    x = _load_rows(x_ptr, 1, rows, T, D, DP)          # batch 1 of (2, T, D), zero-padded
    offs = tl.arange(0, DP)
    w = tl.load(w_ptr + offs[:, None] * DP + offs[None, :])
    y = _mm(x, w, PREC) * _pick3(k, 1.0, 2.0, 3.0)
    _store_rows(y_ptr, y, 1, rows, T, D, DP)


@interpreter_only
def test_rows_are_loaded_padded_multiplied_and_stored_masked():
    T, D, DP = 5, 7, 16
    x = torch.randn(2, T, D)
    w = torch.randn(DP, DP)
    y = torch.full((2, T, D), -1.0)
    _rows_mm_kernel[(1,)](x, w, y, 2, T, D, DP=DP, PREC=PREC_IEEE)
    want = (x[1] @ w[:D, :D]) * 3.0                   # slot 2 of _pick3; padding adds nothing
    torch.testing.assert_close(y[1], want, rtol=1e-5, atol=1e-5)
    assert torch.all(y[0] == -1.0)                    # the other batch row is not written
