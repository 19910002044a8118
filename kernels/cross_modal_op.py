"""torch.library registration of the cross-modal attention kernels: one op for torch.compile
and the profiler.

The eager path (``cross_modal_attention_triton``) uses the autograd.Function, the cheapest Python
boundary. Under torch.compile the block goes through these ops instead, so Dynamo sees one opaque
op with a fake (meta) implementation rather than tracing into Triton launches. The plan travels
as a string; O, the log-sum-exp and Q/K/V are extra outputs because register_autograd can only
save inputs and outputs.

The launchers live in ``cross_modal_attention``, which imports this module to register the ops;
they are looked up there at call time (no import cycle at load, and a patched launcher or
``_validate`` is the one called).
"""

from typing import List, Optional

import torch

from .cross_modal_launch import PROJECTION_DTYPES, dot_precision
from .cross_modal_plan import (MODALITY_CODES, make_plan, pack_parameters, plan_from_config,
                               plan_to_config)


def _kernels():
    from . import cross_modal_attention
    return cross_modal_attention


# inputs and outputs.


@torch.library.custom_op("slr_fused::cross_modal_attention", mutates_args=())
def _cma_op(lh: torch.Tensor, rh: torch.Tensor, body: torch.Tensor,
            key_padding_mask: Optional[torch.Tensor], params: List[torch.Tensor], config: str,
            want_maps: bool, dropout_p: float, seed: int) -> List[torch.Tensor]:
    plan = plan_from_config(config)
    feats = {"lh": lh.contiguous(), "rh": rh.contiguous(), "body": body.contiguous()}
    mask8 = None if key_padding_mask is None else key_padding_mask.to(torch.int8).contiguous()
    outputs, maps, o, lse, qkv = _kernels().cross_modal_attention_forward(plan, feats, mask8, params,
                                                               want_maps, dropout_p, seed)
    return [*outputs, maps, o, lse, qkv]


@_cma_op.register_fake
def _cma_op_fake(lh, rh, body, key_padding_mask, params, config, want_maps, dropout_p, seed):
    plan = plan_from_config(config)
    feats = {"lh": lh, "rh": rh, "body": body}
    B, T = lh.shape[:2]
    E, H = len(plan.directions), plan.heads
    nmap = len(plan.maps) if want_maps else 0
    return ([feats[m].new_empty(feats[m].shape) for m, _ in plan.targets]
            + [lh.new_empty(nmap, B, T, T), lh.new_empty(E, B, T, H, plan.dhp, dtype=torch.float32),
               lh.new_empty(E, B, H, T, dtype=torch.float32),
               lh.new_empty(E, 3, B, H, T, plan.dhp, dtype=PROJECTION_DTYPES.get(
                   dot_precision(lh.dtype), torch.float32))])


@torch.library.custom_op("slr_fused::cross_modal_attention_backward", mutates_args=())
def _cma_backward_op(lh: torch.Tensor, rh: torch.Tensor, body: torch.Tensor,
                     key_padding_mask: Optional[torch.Tensor], params: List[torch.Tensor],
                     o: torch.Tensor, lse: torch.Tensor, qkv: torch.Tensor,
                     grad_outputs: List[torch.Tensor],
                     grad_maps: Optional[torch.Tensor], config: str, dropout_p: float,
                     seed: int) -> List[torch.Tensor]:
    plan = plan_from_config(config)
    feats = {"lh": lh.contiguous(), "rh": rh.contiguous(), "body": body.contiguous()}
    mask8 = None if key_padding_mask is None else key_padding_mask.to(torch.int8).contiguous()
    grad_feats, grad_params = _kernels().cross_modal_attention_backward(
        plan, feats, mask8, params, o, lse, qkv, list(grad_outputs), grad_maps,
        dropout_p, seed)
    dfeats = [grad_feats.get(m, torch.zeros_like(feats[m])) for m in MODALITY_CODES]
    return dfeats + [torch.zeros_like(p) if g is None else g for p, g in zip(params, grad_params)]


@_cma_backward_op.register_fake
def _cma_backward_op_fake(lh, rh, body, key_padding_mask, params, o, lse, qkv, grad_outputs,
                          grad_maps, config, dropout_p, seed):
    return [x.new_empty(x.shape) for x in (lh, rh, body)] + [p.new_empty(p.shape) for p in params]


def _cma_op_setup_context(ctx, inputs, output):
    lh, rh, body, mask, params, config, want_maps, dropout_p, seed = inputs
    ctx.dropout_p, ctx.seed = dropout_p, seed
    plan = plan_from_config(config)
    ctx.config, ctx.want_maps, ctx.n_targets = config, want_maps, len(plan.targets)
    ctx.has_maps = want_maps and bool(plan.maps)
    ctx.mask = mask
    ctx.save_for_backward(lh, rh, body, output[-3], output[-2], output[-1], *params)


def _cma_op_backward(ctx, grads):
    lh, rh, body, o, lse, qkv, *params = ctx.saved_tensors
    feats = {"lh": lh, "rh": rh, "body": body}
    plan = plan_from_config(ctx.config)
    K = ctx.n_targets
    grad_outputs = [g if g is not None else torch.zeros_like(feats[m])
                    for g, (m, _) in zip(grads[:K], plan.targets)]
    grad_maps = grads[K] if ctx.has_maps else None
    res = _cma_backward_op(lh, rh, body, ctx.mask, params, o, lse, qkv, grad_outputs, grad_maps,
                           ctx.config, ctx.dropout_p, ctx.seed)
    return res[0], res[1], res[2], None, list(res[3:]), None, None, None, None


torch.library.register_autograd("slr_fused::cross_modal_attention", _cma_op_backward,
                                setup_context=_cma_op_setup_context)


def op_arguments(module, lh, rh, body, key_padding_mask=None, want_maps=False):
    """Positional arguments of ``torch.ops.slr_fused.cross_modal_attention`` for a module."""
    plan = make_plan(module)
    dropout_p, seed = _kernels().dropout_arguments(module)
    return (lh, rh, body, key_padding_mask, pack_parameters(module, plan), plan_to_config(plan),
            bool(want_maps) and bool(plan.maps), dropout_p, seed)


def cross_modal_attention_op(module, lh, rh, body, key_padding_mask=None, return_extras=False):
    """:func:`cross_modal_attention_triton` through the registered op (what torch.compile sees)."""
    from slr_fused.models.cross_modal import CrossModalExtras

    kernels = _kernels()
    kernels._validate(module, lh, rh, body, key_padding_mask)
    plan = make_plan(module)
    args = op_arguments(module, lh, rh, body, key_padding_mask, return_extras)
    results = torch.ops.slr_fused.cross_modal_attention(*args)
    return kernels._assemble(plan, results, {"lh": lh, "rh": rh, "body": body}, module,
                             return_extras, CrossModalExtras)
