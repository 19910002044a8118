"""fvcore FLOP handles against hand counts: nothing in attention may go uncounted.

Convention: one multiply-add = one flop, matrix products only (see slr_fused.bench.flops).
"""

import warnings

import pytest
import torch
from torch import nn

from slr_fused.bench.flops import (UncountedOpsError, _traceable_block_checks, count_flops,
                                   flop_analysis, siformer_flops_analytic)
from slr_fused.kernels.cross_modal_attention import cross_modal_attention_flops
from slr_fused.models.cross_modal import CrossModalAttention
from slr_fused.models.siformer import SiFormer, SiFormerConfig

BLOCK_CONFIGS = [
    dict(num_heads=1), dict(num_heads=3), dict(num_heads=6),
    dict(num_heads=2, mode="unidirectional"), dict(num_heads=3, use_gating=False),
    dict(num_heads=3, directions="hands"), dict(num_heads=3, directions="hands-body"),
]


class BlockOnly(nn.Module):
    def __init__(self, block):
        super().__init__()
        self.cross_modal = block

    def forward(self, lh, rh, body):
        return self.cross_modal(lh, rh, body)


def inputs(batch, length, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(batch, length, d, generator=g) for d in (42, 42, 24))


def fvcore_total(model, x, grad: bool) -> int:
    """Count in eval/no_grad (fused _native_multi_head_attention path) or with grad (SDPA)."""
    model.eval()
    with torch.set_grad_enabled(grad), _traceable_block_checks():
        analysis = flop_analysis(model, x)
        total = analysis.total()
        assert not analysis.unsupported_ops(), analysis.unsupported_ops()
        return total, analysis.by_operator()


@pytest.mark.parametrize("settings", BLOCK_CONFIGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
def test_block_fvcore_matches_analytic(settings, grad):
    block = CrossModalAttention(**settings)
    batch, length = 2, 7
    total, by_op = fvcore_total(BlockOnly(block), inputs(batch, length), grad)
    assert total == cross_modal_attention_flops(block, batch, length)
    # The attention itself must have been counted by one of our handles, whichever path ran.
    assert by_op.get("scaled_dot_product_attention", 0) + by_op.get("_native_multi_head_attention", 0) > 0


def test_native_multi_head_attention_path_is_counted():
    """Eval + no_grad + self-attention with an even head count takes the fused op (the body
    encoder's 2-head layers do, in the model); it must count like the SDPA path."""
    mha = nn.MultiheadAttention(42, 2, batch_first=True)

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, x):
            return self.mha(x, x, x, need_weights=False)[0]

    x = torch.randn(2, 9, 42)
    fused, fused_ops = fvcore_total(SelfAttention(), (x,), grad=False)
    plain, plain_ops = fvcore_total(SelfAttention(), (x,), grad=True)
    assert "_native_multi_head_attention" in fused_ops      # the path really was the fused one
    assert "scaled_dot_product_attention" in plain_ops
    hand = 2 * (4 * 9 * 42 * 42 + 2 * 9 * 9 * 42)           # projections + scores + P@V
    assert fused == plain == hand


def tiny_config(num_classes=5, **overrides):
    return SiFormerConfig(num_classes=num_classes, num_enc_layers=1, num_dec_layers=1, d_ff=16,
                          **overrides)


def hand_count_tiny(T: int, classes: int = 5) -> int:
    """The tiny SiFormer (1 encoder layer per modality, 1 decoder layer, d_ff 16), by hand."""
    F, W = 16, 108
    encoders = 0
    for E in (42, 42, 24):
        encoders += 4 * T * E * E          # Q, K, V and out projections
        encoders += 2 * T * T * E          # Q K^T and P V over all heads
        encoders += 2 * T * E * F          # feed-forward, two linears
    decoder = (4 * W * W + 2 * W)          # self-attention of the single class query
    decoder += 2 * W * W                   # cross-attention: Q and out projections (one query)
    decoder += 2 * T * W * W               # cross-attention: K and V of the memory
    decoder += 2 * T * W                   # cross-attention: scores and P V
    decoder += 2 * W * F                   # feed-forward
    return encoders + decoder + W * classes


@pytest.mark.parametrize("length", [1, 7, 30])
def test_tiny_baseline_matches_hand_count(length):
    model = SiFormer(tiny_config(use_cross_attention=False))
    result = count_flops(model, inputs(2, length))
    assert result["total"] == 2 * hand_count_tiny(length)
    assert siformer_flops_analytic(model.config, length, batch=2) == 2 * hand_count_tiny(length)
    assert result["unsupported"] == {}


@pytest.mark.parametrize("overrides", [dict(), dict(cross_attn_heads=6),
                                       dict(cross_attn_mode="unidirectional")])
def test_tiny_model_with_block_matches_hand_count(overrides):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SiFormer(tiny_config(**overrides))
    result = count_flops(model, inputs(1, 7))
    block = cross_modal_attention_flops(model.cross_modal, 1, 7)
    assert result["total"] == hand_count_tiny(7) + block
    assert result["by_module"]["cross_modal"] == block


def test_default_model_matches_analytic_count():
    """The full-size default model, as `slr bench` counts it (T = 30)."""
    model = SiFormer(SiFormerConfig(num_classes=100))
    assert count_flops(model, inputs(1, 30))["total"] == siformer_flops_analytic(
        model.config, 30, 1, model.cross_modal)


def test_registered_op_handle_matches_analytic():
    """``slr_fused::cross_modal_attention`` (Triton, interpreter on the CPU) counts as the block."""
    from slr_fused.kernels.cross_modal_attention import op_arguments
    block = CrossModalAttention(num_heads=2)
    lh, rh, body = inputs(1, 3)
    with torch.no_grad():   # packed weights become trace constants: they must not need grad
        args = op_arguments(block, lh, rh, body)

    class Op(nn.Module):
        def forward(self, lh, rh, body):
            return torch.ops.slr_fused.cross_modal_attention(lh, rh, body, *args[3:])[:3]

    with torch.no_grad(), _traceable_block_checks():
        analysis = flop_analysis(Op(), (lh, rh, body))
        assert analysis.total() == cross_modal_attention_flops(block, 1, 3)
        assert not analysis.unsupported_ops()


def test_unknown_op_is_refused_not_dropped():
    class Cumulative(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, 1)

    with pytest.raises(UncountedOpsError, match="cumsum"):
        count_flops(Cumulative(), (torch.randn(2, 3),))
