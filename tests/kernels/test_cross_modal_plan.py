"""cross_modal_plan: the plan per mode and head count, its string form, padding, tile checks
and the packed parameter shapes."""

import pytest
import torch

from slr_fused.kernels.cross_modal_launch import _block_sizes
from slr_fused.kernels.cross_modal_plan import (_check_dot_dim, _check_tiles, _pad_dim, make_plan,
                                                pack_parameters, plan_from_config, plan_to_config)
from slr_fused.models.cross_modal import VALID_HEADS, CrossModalAttention

triton = pytest.importorskip("triton")

DIMS = {"lh": 42, "rh": 42, "body": 24}


def test_pad_dim_is_a_power_of_two_of_at_least_16():
    assert [_pad_dim(d) for d in (1, 7, 16, 17, 24, 42, 64, 65)] == [16, 16, 16, 32, 32, 64, 64,
                                                                      128]


def test_bidirectional_plan():
    plan = make_plan(CrossModalAttention(num_heads=3))
    assert plan.dims == (("lh", 42), ("rh", 42), ("body", 24))
    assert len(plan.directions) == 6 and plan.heads == 3 and plan.gating
    assert plan.targets[0] == ("lh", ((0, "rh"), (1, "body")))
    assert [m for m, _ in plan.targets] == ["lh", "rh", "body"]
    assert plan.maps == (("lh_from_rh", 0), ("rh_from_lh", 2))
    assert plan.map_slot(2) == 1 and plan.map_slot(1) == -1
    assert (plan.dp, plan.dhp) == (64, 16)            # head width 42 // 3 = 14 -> 16
    assert plan.dim("body") == 24 and plan.eps_of("lh") == 1e-5
    assert make_plan(CrossModalAttention(num_heads=3)) is plan  # cached on the configuration


def test_unidirectional_plan():
    plan = make_plan(CrossModalAttention(num_heads=2, mode="unidirectional"))
    assert plan.directions == (("lh", "body"), ("rh", "body"))
    assert [m for m, _ in plan.targets] == ["lh", "rh"]
    assert plan.sources[2] == ("body", False, ((0, "lh"), (1, "rh")))  # a source only
    assert plan.maps == ()                            # no hand <- hand attention to map
    assert (plan.dp, plan.dhp) == (64, 32)            # head width 21 -> 32


@pytest.mark.parametrize("heads,dhp", [(1, 64), (2, 32), (3, 16), (6, 16)])
def test_head_padding_per_head_count(heads, dhp):
    assert make_plan(CrossModalAttention(num_heads=heads)).dhp == dhp


@pytest.mark.parametrize("kwargs", [{}, {"mode": "unidirectional", "use_gating": False},
                                    {"directions": "hands", "num_heads": 1}])
def test_plan_config_round_trip(kwargs):
    plan = make_plan(CrossModalAttention(**kwargs))
    config = plan_to_config(plan)
    assert isinstance(config, str)
    assert plan_from_config(config) == plan


def test_pack_parameters_shapes():
    module = CrossModalAttention(num_heads=3)
    plan = make_plan(module)
    packed = pack_parameters(module, plan)
    E, H, K = 6, 3, 3
    shapes = [tuple(p.shape) for p in packed]
    assert shapes == [(E, H, 16, 64), (E, H, 16), (E, H, 16, 64), (E, H, 16), (E, H, 16, 64),
                      (E, H, 16), (E, H, 16, 64), (E, 64), (K, 3, 64, 64), (K, 64), (K, 64),
                      (K, 64)]
    assert all(p.dtype == torch.float32 for p in packed)
    # gradients reach the module's parameters through the packing
    packed[0].sum().backward()
    assert module.attentions["lh_from_rh"].in_proj_weight.grad is not None
    # padding is zero: body's LayerNorm weight is 24 wide of 64
    assert torch.all(packed[10][2, 24:] == 0) and torch.all(packed[10][2, :24] == 1)


@pytest.mark.parametrize("heads", VALID_HEADS)
def test_every_dot_dimension_is_gpu_legal(heads):
    plan = make_plan(CrossModalAttention(num_heads=heads))
    head_dim = max(DIMS[t] // heads for t, _ in plan.directions)
    assert plan.dp == 64 and plan.dhp == max(16, triton.next_power_of_2(head_dim))
    for block in _block_sizes(7) + _block_sizes(204):
        assert block >= 16 and block & (block - 1) == 0
    _check_tiles(plan, *_block_sizes(30))


@pytest.mark.parametrize("padded,actual", [(8, 8), (24, 24), (32, 42), (14, 14)])
def test_illegal_dot_dimensions_are_caught(padded, actual):
    with pytest.raises(AssertionError, match="tl.dot dimension"):
        _check_dot_dim("x", padded, actual)
