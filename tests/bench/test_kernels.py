"""CPU smoke test of bench/kernels.py (``slr bench kernels``): its pieces run (on the
interpreter) and it refuses to time without CUDA, so the GPU run does not discover a Python
error after minutes of compiling. Its correctness check is kernels/tolerances.py's, tested in
tests/kernels/test_tolerances.py."""

import pytest
import torch

# tests/conftest.py sets TRITON_INTERPRET=1 without a GPU, before Triton is imported.
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
    err = capsys.readouterr().err
    assert "needs a CUDA GPU" in err and err.strip().count("\n") == 0


def test_slr_bench_kernels_is_the_same_command(capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    from slr_fused.cli import main
    assert main(["bench", "kernels", "--no-sweep", "--output", "unused"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


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


def _row(provider, mode, median, dtype="fp32", B=32, T=204, floor=0.01):
    return {"B": B, "T": T, "dtype": dtype, "mode": mode, "provider": provider,
            "median_ms": median, "p20_ms": median * 0.9, "p80_ms": median * 1.1,
            "wall_ms_per_call": median * 2, "floor_ms": floor}


def test_targets_are_judged_from_the_rows():
    rows = [_row("fused", "forward", 0.02), _row("eager", "forward", 0.5),
            _row("compile", "forward", 0.05), _row("compile-max-autotune", "forward", 0.03),
            _row("fused", "full", 0.1), _row("eager", "full", 0.4),
            _row("eager", "forward", 9.0, B=1)]   # another size: ignored
    verdicts = {v["target"]: v for v in bench.judge_targets(rows, 32, 204)}
    assert verdicts["forward >= 10x eager"]["ratio"] == pytest.approx(25.0)
    assert verdicts["forward >= 10x eager"]["met"]
    # the best compile mode is the rival: 0.03 / 0.02 = 1.5 < 2
    assert verdicts["forward >= 2x best torch.compile"]["ratio"] == pytest.approx(1.5)
    assert not verdicts["forward >= 2x best torch.compile"]["met"]
    assert not verdicts["forward+backward >= 5x eager"]["met"]            # 4x
    assert verdicts["forward within 3x of the floor"]["met"]               # 2x the floor
    assert not verdicts["forward+backward within 3x of the floor"]["met"]  # 10x the floor


def test_markdown_report_lists_providers_and_verdicts():
    rows = [_row("fused", "forward", 0.02), _row("eager", "forward", 0.5),
            {"B": 32, "T": 204, "dtype": "fp32", "mode": "forward", "provider": "compile",
             "error": "BackendCompilerFailed: boom"}]
    report = {"device": "NVIDIA H100", "torch": "2.13", "triton": "3.6", "cuda": "12.8",
              "date": "2026-11-23", "heads": 3, "masked": True, "main_size": [32, 204],
              "results": rows, "targets": bench.judge_targets(rows, 32, 204)}
    table = bench.markdown_report(report)
    assert "| fp32 | forward | eager | 0.5000 [0.4500, 0.5500] | 1.0000 | 25.00x |" in table
    assert "| fp32 | forward | compile | failed: BackendCompilerFailed: boom | | |" in table
    assert "| forward >= 10x eager | fp32 | 25.00 | yes |" in table
