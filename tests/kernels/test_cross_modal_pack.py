"""The packing kernels (``kernels/cross_modal_pack.py``) against their torch definition.

``pack_parameters`` (plain torch ops, run in float64 here) defines the packed layout; the pack
kernel must give the same twelve tensors and the unpack kernel the same gradient of every
parameter, for every head count and mode, with 16-bit parameters cast inside the kernel, and
with the weight-gradient partial rows summed inside the unpack kernel. Then the host budgets of
the eager block: kernels dispatched by a training forward+backward and by a cached no-grad
call, and device-to-host syncs (counted, never timed).
"""

import copy

import pytest
import torch

pytest.importorskip("triton", reason="Triton is not installed (pip install -e .[kernels])")

import slr_fused.kernels.cross_modal_pack as pack  # noqa: E402
from slr_fused.kernels.cross_modal_plan import (_module_tensors, _pack_tensors,  # noqa: E402
                                               make_plan)
from slr_fused.models.cross_modal import VALID_HEADS, CrossModalAttention  # noqa: E402

MODES = {
    "bidirectional": dict(),
    "unidirectional": dict(mode="unidirectional"),
    "gating-off": dict(use_gating=False),
    "hands": dict(directions="hands"),
    "body-from-hands": dict(directions="body_from_lh,body_from_rh"),
}
# Odd widths: the padding masks must not assume the default 42/42/24.
ODD_DIMS = {"lh": 30, "rh": 18, "body": 6}


def make_module(heads, mode, dims=None, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    module = CrossModalAttention(num_heads=heads, dims=dims, backend="triton", **MODES[mode])
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()
    return module.to(dtype)


def reference_packing(plan, tensors):
    """``pack_parameters``' torch ops in float64 on leaves of the flat vector's pieces."""
    leaves = [t.detach().double().requires_grad_(True) for t in tensors]
    return leaves, _pack_tensors(plan, *leaves)


def used(plan):
    return [n for n in pack.PACK_NAMES if plan.gating or n not in ("wg", "bg")]


def assert_close(name, got, want, rtol):
    got, want = got.detach().double(), want.detach().double()
    assert torch.isfinite(got).all(), f"{name}: non-finite values (an element left unwritten?)"
    err = (got - want).abs().max().item()
    scale = max(want.abs().max().item(), 1e-12)
    assert err <= rtol * scale, f"{name}: max error {err:.3e} > {rtol:.0e} x {scale:.3e}"


CASES = [(h, "bidirectional", None) for h in VALID_HEADS] + [
    (3, "unidirectional", None), (2, "gating-off", None), (1, "hands", None),
    (6, "body-from-hands", None), (3, "bidirectional", ODD_DIMS), (2, "gating-off", ODD_DIMS)]


@pytest.fixture
def poisoned(monkeypatch):
    monkeypatch.setattr(pack, "_POISON", float("nan"))


# 16-bit parameters are cast to fp32 inside the kernel (no 16-bit dot, so bf16 runs on the
# interpreter too); the gradient is rounded once to their dtype on the way out.
GRAD_RTOL = {torch.float32: 1e-5, torch.float16: 1e-3, torch.bfloat16: 8e-3}


@pytest.mark.parametrize("heads,mode,dims", CASES,
                         ids=[f"h{h}-{m}{'-odd' if d else ''}" for h, m, d in CASES])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16],
                         ids=["fp32", "fp16", "bf16"])
def test_pack_and_unpack_match_the_torch_definition(heads, mode, dims, dtype, poisoned):
    rtol = 1e-5  # the packing itself is exact fp32 arithmetic on the (exactly cast) parameters
    module = make_module(heads, mode, dims, dtype)
    plan = make_plan(module)
    tensors = _module_tensors(module, plan)
    flat = pack.flat_parameters(tensors).detach().requires_grad_(True)
    got = pack.CrossModalPackFunction.apply(plan, flat)
    leaves, want = reference_packing(plan, tensors)
    for name, g, w in zip(pack.PACK_NAMES, got, want):
        assert g.dtype == torch.float32 and g.is_contiguous()
        if name in used(plan):
            assert_close(name, g, w, rtol)
        else:  # gate placeholders without gating: zeros, never read
            assert not g.any(), name
    gen = torch.Generator().manual_seed(1)
    ups = {n: torch.randn(w.shape, generator=gen, dtype=torch.float64)
           for n, w in zip(pack.PACK_NAMES, want)}
    sum((g.double() * ups[n]).sum() for n, g in zip(pack.PACK_NAMES, got)
        if n in used(plan)).backward()
    sum((w * ups[n]).sum() for n, w in zip(pack.PACK_NAMES, want) if n in used(plan)).backward()
    assert flat.grad.dtype == dtype
    pieces = flat.grad.split([t.numel() for t in tensors])
    for i, (piece, leaf) in enumerate(zip(pieces, leaves)):
        assert_close(f"gradient of parameter {i}", piece.view(leaf.shape), leaf.grad,
                     GRAD_RTOL[dtype])


def test_unpack_sums_the_partial_rows(poisoned):
    """R rows of per-program partial sums reduce to their sum (the attention backward's case)."""
    module = make_module(3, "bidirectional")
    plan = make_plan(module)
    flat = pack.flat_parameters(_module_tensors(module, plan)).detach()
    shapes = pack.packed_shapes(plan)
    gen = torch.Generator().manual_seed(2)
    rows = {n: (5 if n in ("wk", "bk", "wv", "bv") else 3) for n in shapes}
    partials = [torch.randn(rows[n], *shape, generator=gen) for n, shape in shapes.items()]
    summed = [p.sum(0, keepdim=True) for p in partials]
    got = pack.pack_backward(plan, flat, partials)
    want = pack.pack_backward(plan, flat, summed)
    assert_close("gradient", got, want, 1e-5)


def test_descriptor_covers_the_flat_vector_once():
    """Every parameter element belongs to exactly one descriptor range, in order, no gaps."""
    for heads, mode, dims in CASES:
        module = make_module(heads, mode, dims)
        plan = make_plan(module)
        tensors = _module_tensors(module, plan)
        starts = [r[i] for r in pack.descriptor_rows(plan)[:len(plan.directions)] for i in range(6)]
        starts += [r[i] for r in pack.descriptor_rows(plan)[len(plan.directions):]
                   for i in (range(4) if plan.gating else (2, 3))]
        offsets = [0]
        for t in tensors[:-1]:
            offsets.append(offsets[-1] + t.numel())
        assert starts == offsets, (heads, mode)


# ----------------------------------------------------------------------------------------------
# Host budgets of the eager block (issue 11): counted, never timed
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["bidirectional", "unidirectional", "gating-off"])
def test_eager_training_and_cached_calls_stay_within_the_dispatch_budget(mode):
    """Issue 11: forward+backward <= 16 kernels (was 313), cached no-grad <= 6, no syncs.

    The upstream gradients are handed to ``backward`` directly, so only the block's own work is
    counted (the kernel lab's count also holds its loss: a ``sum`` and its expanded gradients)."""
    from slr_fused.bench.kernel_host import dispatch_counts
    counts = dispatch_counts(B=2, T=5, grads="upstream", module=make_module(3, mode))
    assert counts["train_kernels"] <= 16, counts
    # zero the partials, zero dQ, 3 attention passes (query, key, input), unpack
    assert counts["backward_kernels"] <= 6, counts
    assert counts["forward_kernels"] <= 4, counts  # cat, pack, projection, attention
    assert counts["cached_nograd_kernels"] <= 6, counts
    assert counts["train_syncs"] == counts["cached_nograd_syncs"] == 0, counts


def test_every_parameter_gets_its_gradient_through_the_fused_path():
    """One training step through the packing kernels reaches every parameter, as the reference."""
    torch.manual_seed(0)
    module = CrossModalAttention(num_heads=2, backend="triton")  # default init: well scaled
    ref = copy.deepcopy(module).double()
    feats = [torch.randn(2, 5, module.dims[m]) for m in ("lh", "rh", "body")]
    outs = module(*feats)
    ref_outs = ref.forward_reference(*(f.double() for f in feats))
    ups = [torch.randn(o.shape, dtype=torch.float64) for o in outs]  # a LayerNorm's sum is flat
    sum((o.double() * u).sum() for o, u in zip(outs, ups)).backward()
    sum((o * u).sum() for o, u in zip(ref_outs, ups)).backward()
    for (name, p), (_, r) in zip(module.named_parameters(), ref.named_parameters()):
        assert p.grad is not None and p.grad.shape == p.shape, name
        assert_close(name, p.grad, r.grad, 1e-5)
