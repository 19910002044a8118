"""The one tolerance table and correctness check of the fused kernels (kernels/tolerances.py)."""

import pytest
import torch

from slr_fused.kernels import tolerances


def test_tolerance_table_orders_its_bounds():
    assert set(tolerances.TOLERANCES) == {"ieee", "tf32", "bf16", "fp16"}
    for name, bounds in tolerances.TOLERANCES.items():
        # the self-check catches broken kernels: never stricter than what the tests demand
        assert 0 < bounds.strict <= bounds.self_check, name
    ieee, tf32 = tolerances.TOLERANCES["ieee"], tolerances.TOLERANCES["tf32"]
    assert ieee.strict < tf32.strict < tolerances.TOLERANCES["bf16"].strict
    assert tolerances.strict_bound("fp32") == ieee.strict == 1e-5
    assert tolerances.strict_bound("bf16") == tolerances.strict_bound("fp16") == 1e-2
    with pytest.raises(ValueError, match="dtype must be one of"):
        tolerances.strict_bound("int8")


def test_tolerance_relative_error_is_scale_aware_and_refuses_non_finite():
    want = torch.tensor([100.0, -200.0], dtype=torch.float64)
    assert tolerances.relative_error(want + 2.0, want) == pytest.approx(0.01)
    assert tolerances.relative_error(want * 1e-6 + 2e-6, want * 1e-6) == pytest.approx(0.01)
    assert tolerances.relative_error(torch.tensor([float("nan"), 0.0]), want) == float("inf")
    errors = {"lh output": 1e-7, "rh gradient": 2e-3}
    assert tolerances.first_failure(errors, 1e-2) is None
    assert tolerances.first_failure(errors, 1e-5) == \
        "rh gradient differs from the float64 reference by 2.00e-03 (bound 1e-05)"


def test_tolerance_block_inputs_follow_the_block_widths():
    feats, mask = tolerances.block_inputs(3, 8, torch.float32, "cpu")
    assert [tuple(x.shape) for x in feats] == [(3, 8, 42), (3, 8, 42), (3, 8, 24)]
    assert not mask[0].any() and (~mask).sum(1).min() >= 4   # lengths T/2..T, first full
    feats, mask = tolerances.block_inputs(2, 5, torch.float16, "cpu", masked=False,
                                          dims={"lh": 6, "rh": 6, "body": 4})
    assert mask is None and feats[2].shape == (2, 5, 4) and feats[0].dtype == torch.float16


triton = pytest.importorskip("triton", reason="Triton is not installed")
on_interpreter = pytest.mark.skipif(torch.cuda.is_available(),
                                    reason="the GPU runs the real sizes (test_cross_modal_attention)")


@on_interpreter
def test_tolerance_check_passes_the_real_kernels_on_the_interpreter():
    check = tolerances.check_correctness(3, 2, 5, "fp32", True, device="cpu")
    assert check["passed"], check
    assert 0 <= check["max_rel_error"] <= check["bound"] == 1e-5
    assert check["worst"].endswith(("output", "gradient"))


@on_interpreter
def test_tolerance_check_sees_every_output_and_weight_gradient(monkeypatch):
    from slr_fused.kernels import cross_modal_attention as cma
    module = tolerances.block_module(3, torch.float32, "triton", "cpu")
    feats, mask = tolerances.block_inputs(2, 5, torch.float32, "cpu")
    errors = tolerances.fused_errors(module, feats, mask, torch.Generator().manual_seed(3),
                                     parameters=True)
    names = {f"{n} gradient" for n, _ in module.named_parameters()}
    assert names <= set(errors) and {"lh output", "body gradient"} <= set(errors)
    real = cma.cross_modal_attention_triton

    def wrong_body(*args, **kwargs):
        lh, rh, body = real(*args, **kwargs)
        return lh, rh, body * 1.05
    monkeypatch.setattr(cma, "cross_modal_attention_triton", wrong_body)
    check = tolerances.check_correctness(3, 2, 5, "fp32", True, device="cpu")
    assert not check["passed"] and check["max_rel_error"] == pytest.approx(0.05, rel=0.2)
