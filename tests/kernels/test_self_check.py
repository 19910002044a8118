"""The one-time self-check that lets backend="auto" use the fused kernels (kernels/self_check.py)."""

import types
import warnings

import pytest
import torch

pytest.importorskip("triton", reason="Triton is not installed")

from slr_fused.kernels import cross_modal_attention as cma  # noqa: E402
from slr_fused.kernels import self_check  # noqa: E402
from slr_fused.models import cross_modal  # noqa: E402
from slr_fused.models.cross_modal import CrossModalAttention, resolve_backend  # noqa: E402

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _module(**kwargs):
    torch.manual_seed(0)
    return CrossModalAttention(**{"num_heads": 3, **kwargs})


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("kwargs", [{}, {"mode": "unidirectional"}, {"use_gating": False}])
def test_working_kernels_pass(kwargs, dtype):
    assert self_check.run_self_check(_module(**kwargs), DEVICE, dtype) is None


def test_wrong_numbers_are_caught(monkeypatch):
    real = cma.cross_modal_attention_triton

    def off_by_one_percent(*args, **kwargs):
        lh, rh, body = real(*args, **kwargs)
        return lh, rh * 1.01, body
    monkeypatch.setattr(cma, "cross_modal_attention_triton", off_by_one_percent)
    reason = self_check.run_self_check(_module(), DEVICE, torch.float32)
    assert reason.startswith("rh output differs from the float64 reference"), reason


def test_nan_gradients_are_caught(monkeypatch):
    real_backward = cma.CrossModalAttentionFunction.backward

    def poisoned(ctx, *grads):
        out = list(real_backward(ctx, *grads))
        # grads follow apply()'s arguments: (plan, want_maps, dropout_p, seed, lh, ...)
        out[4] = torch.full_like(out[4], float("nan"))   # d(lh)
        return tuple(out)
    monkeypatch.setattr(cma.CrossModalAttentionFunction, "backward", staticmethod(poisoned))
    reason = self_check.run_self_check(_module(), DEVICE, torch.float32)
    assert reason.startswith("lh gradient differs"), reason


def test_a_compile_failure_is_a_one_line_reason(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("PTXASError: ptxas fatal\nlong log")
    monkeypatch.setattr(cma, "cross_modal_attention_triton", broken)
    assert self_check.run_self_check(_module(), DEVICE, torch.float32) == \
        "RuntimeError: PTXASError: ptxas fatal"


def test_verdicts_are_cached_and_a_failure_warns_once(monkeypatch):
    calls = []
    monkeypatch.setattr(self_check, "_VERDICTS", {})
    monkeypatch.setattr(self_check, "run_self_check",
                        lambda module, device, dtype: calls.append(dtype) or "simulated mismatch")
    module, x = _module(), torch.zeros(1, 3, 42, device=DEVICE)
    with pytest.warns(UserWarning, match="failed their self-check .*simulated mismatch"):
        assert not self_check.fused_kernels_verified(module, x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not self_check.fused_kernels_verified(module, x)   # cached: no second warning
    assert calls == [torch.float32]
    assert not self_check.fused_kernels_verified(module, x.double())   # unsupported dtype


def test_auto_uses_the_kernels_only_where_they_serve(monkeypatch):
    """resolve_backend on a (stand-in) CUDA tensor: verdict, dropout and no-module cases."""
    cuda_like = types.SimpleNamespace(is_cuda=True, dtype=torch.float32, device=DEVICE)
    monkeypatch.setattr(cross_modal, "triton_available", lambda: True)
    verdict = {"ok": True}
    monkeypatch.setattr(self_check, "fused_kernels_verified", lambda m, x: verdict["ok"])
    module = _module()
    assert resolve_backend("auto", cuda_like, module) == "triton"
    verdict["ok"] = False
    assert resolve_backend("auto", cuda_like, module) == "reference"
    assert resolve_backend("triton", cuda_like, module) == "triton"    # forcing still works
    assert resolve_backend("auto", cuda_like) == "triton"              # no module: no check
    verdict["ok"] = True
    dropping = _module(dropout=0.1).train()
    assert resolve_backend("auto", cuda_like, dropping) == "triton"       # dropout in the kernels
    monkeypatch.setattr(cross_modal, "fused_kernels_have_dropout", lambda: False)
    assert resolve_backend("auto", cuda_like, dropping) == "reference"    # kernels without it
    assert resolve_backend("auto", cuda_like, dropping.eval()) == "triton"
    assert resolve_backend("auto", torch.zeros(1)) == "reference"      # CPU tensor
