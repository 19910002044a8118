"""Attention dropout inside the fused kernels, against float64 given the kernels' own mask.

The kernels draw the keep mask with a counter-based RNG (``tl.rand(seed, offset)``), so
``dropout_keep_mask`` reproduces it exactly; the float64 reference then runs
``forward_reference`` with ``nn.MultiheadAttention``'s dropout replaced by that mask.
"""

import copy
import math
import os

import pytest
import torch
import torch.nn.functional as F

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

triton = pytest.importorskip("triton", reason="Triton is not installed: the fused kernels "
                                              "cannot be tested (pip install -e .[kernels])")

import slr_fused.kernels.cross_modal_attention as cma  # noqa: E402
from slr_fused.models.cross_modal import CrossModalAttention  # noqa: E402

from test_cross_modal_attention import (DEVICE, FP32_RTOL, MODES, assert_close,  # noqa: E402
                                         make_inputs, run_block, scalar_loss, upstream)


def make_dropout_module(mode, heads, p, seed=1):
    torch.manual_seed(seed)
    module = CrossModalAttention(num_heads=heads, backend="triton", dropout=p,
                                 **MODES[mode]).to(DEVICE)
    with torch.no_grad():
        for name, prm in module.named_parameters():
            if name.endswith("bias"):
                prm.normal_(0.0, 0.5)
            elif "norms" in name:
                prm.normal_(1.0, 0.3)
    return module.train()


def masked_reference(monkeypatch, keep, p):
    """Patch torch's attention dropout so that direction e (in call order) uses keep[e]."""
    calls = []

    def scale(shape):
        e = len(calls)
        calls.append(e)
        return keep[e].to(torch.float64).reshape(shape) / (1.0 - p)

    def dropout(x, p=0.5, training=True, inplace=False):  # the need_weights path: (B*H, T, S)
        return x * scale(x.shape)

    def sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale_=None, **kw):
        s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if attn_mask is not None:
            s = s.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool \
                else s + attn_mask
        w = torch.softmax(s, -1)
        if dropout_p > 0:
            w = w * scale(w.shape)
        return w @ v

    monkeypatch.setattr(F, "dropout", dropout)
    monkeypatch.setattr(F, "scaled_dot_product_attention", sdpa)
    return calls


def kernel_forward(module, via_op):
    if via_op:
        return lambda lh, rh, body, mask, extras: cma.cross_modal_attention_op(
            module, lh, rh, body, mask, extras)
    return lambda lh, rh, body, mask, extras: cma.cross_modal_attention_triton(
        module, lh, rh, body, mask, extras)


@pytest.mark.parametrize("mode,heads,B,T,mask_kind,extras,via_op", [
    ("bidirectional", 3, 2, 7, "end", True, False),
    ("hands-body", 2, 1, 20, "start", False, False),
    ("hands", 1, 1, 6, None, True, True),
])
def test_dropout_matches_float64_reference_given_the_mask(monkeypatch, mode, heads, B, T,
                                                         mask_kind, extras, via_op):
    p = 0.3
    module = make_dropout_module(mode, heads, p)
    ref_module = copy.deepcopy(module).double()
    feats, mask = make_inputs(B, T, mask_kind)
    plan = cma.make_plan(module)
    torch.manual_seed(123)
    dp, seed = cma.dropout_arguments(module)
    assert dp == p
    keep = cma.dropout_keep_mask(seed, p, len(plan.directions), B, heads, T).cpu()
    assert 0 < keep.float().mean() < 1

    leaves = {m: x.clone().requires_grad_(True) for m, x in feats.items()}
    ref_leaves = {m: x.double().requires_grad_(True) for m, x in feats.items()}
    torch.manual_seed(123)  # the call draws the same seed
    outs, maps, _ = run_block(module, leaves, mask, extras, kernel_forward(module, via_op))
    calls = masked_reference(monkeypatch, keep, p)
    ref_outs, ref_maps, _ = run_block(ref_module, ref_leaves, mask, extras,
                                      ref_module.forward_reference)
    assert len(calls) == len(plan.directions)
    for m, o, r in zip(("lh", "rh", "body"), outs, ref_outs):
        assert_close(f"{m}_out", o, r, FP32_RTOL)
    assert sorted(maps) == sorted(ref_maps)
    for n in ref_maps:
        assert_close(f"attention[{n}]", maps[n], ref_maps[n], FP32_RTOL)

    grads, map_grads = upstream(ref_outs, ref_maps)
    names = ("lh", "rh", "body")
    got = torch.autograd.grad(scalar_loss(outs, maps, grads, map_grads),
                              [leaves[m] for m in names] + list(module.parameters()),
                              allow_unused=True)
    want = torch.autograd.grad(scalar_loss(ref_outs, ref_maps, grads, map_grads),
                               [ref_leaves[m] for m in names] + list(ref_module.parameters()),
                               allow_unused=True)
    labels = [f"d{m}" for m in names] + [f"d{n}" for n, _ in module.named_parameters()]
    for label, g, w in zip(labels, got, want):
        if w is None:
            assert g is None, f"{label}: the reference has no gradient, the kernel has one"
            continue
        assert_close(label, g, w, FP32_RTOL)


def test_keep_rate_is_one_minus_p_and_the_mask_follows_the_seed():
    a = cma.dropout_keep_mask(7, 0.25, 2, 2, 3, 40)
    # 19,200 draws: the standard error of the rate is ~0.003.
    assert abs(a.float().mean().item() - 0.75) < 0.02
    assert torch.equal(a, cma.dropout_keep_mask(7, 0.25, 2, 2, 3, 40))
    b = cma.dropout_keep_mask(8, 0.25, 2, 2, 3, 40)
    assert 0.5 < (a == b).float().mean().item() < 0.75  # independent masks agree ~62.5%
    # Heads and directions get different masks.
    assert not torch.equal(a[0, 0, 0], a[0, 0, 1]) and not torch.equal(a[0], a[1])
    assert cma.dropout_keep_mask(7, 0.0, 1, 1, 1, 20).all()


def test_dropout_zero_in_training_is_identical_to_eval():
    module = make_dropout_module("bidirectional", 2, 0.0)
    feats, mask = make_inputs(2, 9, "end")
    assert cma.dropout_arguments(module) == (0.0, 0)
    train = cma.cross_modal_attention_triton(module, feats["lh"], feats["rh"], feats["body"], mask)
    evald = cma.cross_modal_attention_triton(module.eval(), feats["lh"], feats["rh"],
                                             feats["body"], mask)
    for a, b in zip(train, evald):
        assert torch.equal(a, b)


def test_eval_mode_applies_no_dropout():
    module = make_dropout_module("bidirectional", 3, 0.5).eval()
    feats, mask = make_inputs(1, 8, "end")
    assert cma.dropout_arguments(module) == (0.0, 0)
    got = cma.cross_modal_attention_triton(module, feats["lh"], feats["rh"], feats["body"], mask)
    ref = copy.deepcopy(module).double()
    want = ref.forward_reference(*(feats[m].double() for m in ("lh", "rh", "body")), mask)
    for m, a, w in zip(("lh", "rh", "body"), got, want):
        assert_close(m, a, w, FP32_RTOL)


def test_each_training_call_draws_a_new_mask_from_torchs_generator():
    module = make_dropout_module("hands", 1, 0.5)
    feats, _ = make_inputs(1, 8, None)
    args = (feats["lh"], feats["rh"], feats["body"])
    torch.manual_seed(5)
    first = cma.cross_modal_attention_triton(module, *args)[0]
    second = cma.cross_modal_attention_triton(module, *args)[0]
    torch.manual_seed(5)
    again = cma.cross_modal_attention_triton(module, *args)[0]
    assert not torch.equal(first, second)
    assert torch.equal(first, again)
