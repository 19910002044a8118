"""``slr bench quantization``'s timing on stand-in models (no export, no data): interleaved
rounds and paired ratios. The real run on bsl16 is tests/export/test_quantize.py's."""

import types

import pytest

from slr_fused.bench import quantization


def test_latency_interleaves_lengths_and_runtimes_and_pairs_the_ratios(monkeypatch):
    calls = []

    def model(name):
        def runner(lh, rh, body, mask):
            calls.append((name, lh.shape[1]))
            assert lh.shape[-1] == rh.shape[-1] == 42 and body.shape[-1] == 24
            assert mask.shape == lh.shape[:2] and not mask.any()
        return types.SimpleNamespace(runner=runner, source=f"{name}.onnx")
    models = {name: (model(name), "fp32") for name in ("onnx-fp32", "onnx-int8")}
    ticks = iter(range(1, 1000))
    monkeypatch.setattr("slr_fused.bench.common.time_call",
                        lambda fn: (fn(), float(next(ticks)) / 1000)[1])
    latency = quantization.measure_latency(models, [4, 6], repeats=3, warmup=1)
    order = [("onnx-fp32", 4), ("onnx-int8", 4), ("onnx-fp32", 6), ("onnx-int8", 6)]
    assert calls == order * 4          # one warm-up round, then 3 interleaved repeats
    int8 = latency["onnx-int8"]["4"]
    assert int8["n"] == 3 and int8["median"] == pytest.approx(6.0)   # ms: ticks 2, 6, 10
    assert int8["ratio_to_fp32"]["median"] == pytest.approx(6 / 5)   # paired per repeat
    assert int8["ratio_to_onnx_fp32"] == int8["ratio_to_fp32"]
    assert "ratio_to_fp32" not in latency["onnx-fp32"]["6"]


def test_missing_files_are_one_sentence_errors(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        quantization.run_quantization(tmp_path / "model.pt", tmp_path / "c.csv", tmp_path / "h.csv")
