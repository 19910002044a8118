"""CPU smoke test of bench/kernels.py: its pieces run (on the interpreter) and it refuses to time
without CUDA, so the GPU run does not discover a Python error after minutes of compiling."""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

pytest.importorskip("triton", reason="Triton is not installed")

from slr_fused.bench import kernels as bench  # noqa: E402


@pytest.fixture
def on_cpu(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("the GPU runs the real benchmark")
    monkeypatch.setattr(bench, "DEVICE", "cpu")


def test_main_exits_with_a_clear_message_without_cuda(capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    assert bench.main(["--no-sweep"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


def test_correctness_check_runs_and_passes(on_cpu):
    check = bench.check_correctness(3, 2, 5, "fp32", True)
    assert check["passed"], check
    assert 0 <= check["max_rel_error"] <= bench.BOUNDS["fp32"]


@pytest.mark.parametrize("mode", ["forward", "full"])
def test_fused_and_eager_steps_run(on_cpu, mode):
    for provider in ("fused", "eager"):
        module = bench.make_module(2, torch.float32, "reference")
        feats, mask = bench.make_inputs(2, 5, torch.float32)
        bench.make_step(bench.PROVIDERS[provider](module, mask), feats, mode)()


def test_floor_is_positive_and_grows_with_size(on_cpu):
    machine = {"copy_bandwidth_Bps": 3e12, "matmul_peak_flops": {"fp32": 5e13},
               "launch_ms": 0.005}
    small = bench.floor_ms(machine, 3, 1, 30, torch.float32, "forward")
    big = bench.floor_ms(machine, 3, 32, 204, torch.float32, "full")
    assert 0 < small["floor_ms"] < big["floor_ms"]
    assert big["flops"] > small["flops"] > 0
