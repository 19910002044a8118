"""cross_modal_op: the torch.library ops are registered, their fake (meta) implementations give
the shapes the kernels return, and op_arguments carries the plan as its string form.

The ops' real values against the reference are checked in test_cross_modal_attention.py
(test_registered_op_matches_float64_reference, opcheck); here nothing launches a kernel."""

import torch

from slr_fused.kernels import cross_modal_op
from slr_fused.kernels.cross_modal_plan import (make_plan, pack_parameters, plan_from_config,
                                                plan_to_config)
from slr_fused.models.cross_modal import CrossModalAttention


def meta_inputs(B, T):
    return [torch.empty(B, T, d, device="meta") for d in (42, 42, 24)]


def test_both_ops_are_registered():
    assert hasattr(torch.ops.slr_fused, "cross_modal_attention")
    assert hasattr(torch.ops.slr_fused, "cross_modal_attention_backward")


def test_fake_forward_shapes():
    module = CrossModalAttention(num_heads=3)
    plan = make_plan(module)
    params = [p.detach().to("meta") for p in pack_parameters(module, plan)]
    B, T, E, H = 2, 5, 6, 3
    out = torch.ops.slr_fused.cross_modal_attention(*meta_inputs(B, T), None, params,
                                                    plan_to_config(plan), True, 0.0, 0)
    assert [tuple(o.shape) for o in out] == [
        (B, T, 42), (B, T, 42), (B, T, 24),            # one output per target
        (2, B, T, T),                                  # the two hand <- hand maps
        (E, B, T, H, 16), (E, B, H, T),                # O and the log-sum-exp
        (E, 3, B, H, T, 16)]                           # Q, K, V
    assert all(o.device.type == "meta" for o in out)
    assert out[4].dtype == out[5].dtype == out[6].dtype == torch.float32  # fp32 inputs


def test_fake_forward_without_maps_and_with_fp16_projections():
    module = CrossModalAttention(num_heads=2, mode="unidirectional")
    plan = make_plan(module)
    params = [p.detach().to("meta") for p in pack_parameters(module, plan)]
    lh, rh, body = (x.half() for x in meta_inputs(1, 4))
    out = torch.ops.slr_fused.cross_modal_attention(lh, rh, body, None, params,
                                                    plan_to_config(plan), True, 0.0, 0)
    assert len(out) == 2 + 4                           # targets lh, rh; no map direction
    assert tuple(out[2].shape) == (0, 1, 4, 4)
    assert out[0].dtype == torch.float16 and out[5].dtype == torch.float16


def test_fake_backward_shapes():
    module = CrossModalAttention(num_heads=3)
    plan = make_plan(module)
    params = [p.detach().to("meta") for p in pack_parameters(module, plan)]
    lh, rh, body = meta_inputs(2, 5)
    config = plan_to_config(plan)
    *outputs, maps, o, lse, qkv = torch.ops.slr_fused.cross_modal_attention(
        lh, rh, body, None, params, config, True, 0.0, 0)
    grads = torch.ops.slr_fused.cross_modal_attention_backward(
        lh, rh, body, None, params, o, lse, qkv, outputs, maps, config, 0.0, 0)
    assert [g.shape for g in grads] == [lh.shape, rh.shape, body.shape] + [p.shape
                                                                            for p in params]


def test_op_arguments_carry_the_plan_and_the_packed_parameters():
    module = CrossModalAttention(num_heads=3, directions="hands")
    lh, rh, body = (torch.zeros(1, 4, d) for d in (42, 42, 24))
    args = cross_modal_op.op_arguments(module, lh, rh, body, want_maps=True)
    assert len(args) == 9 and args[0] is lh and args[3] is None
    assert plan_from_config(args[5]) == make_plan(module)
    assert len(args[4]) == 12 and args[6] is True     # the hands preset has both maps
    assert args[7] == 0.0                             # no dropout configured
