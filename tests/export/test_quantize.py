"""INT8 quantization (``slr export onnx --quantize int8``), the bf16 path, their accuracy reports
against the fp32 model on real data, and ``slr bench quantization`` (run once, untimed)."""

import shutil

import numpy as np
import pytest

from slr_fused.export.cli import run_export
from slr_fused.extract.predict import load_predictor
from slr_fused.precision import (class_logits, compare_predictions, cpu_supports_bf16,
                                 format_comparison, isa_report)

from export_helpers import SHARED_DATA, export_parser, have_bsl16

pytest.importorskip("onnxruntime", reason="onnxruntime (slr-fused[export]) is needed")


@pytest.fixture
def bsl16():
    if not have_bsl16():
        reason = f"real pose data not found at {SHARED_DATA} (../shared beside the project)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return SHARED_DATA / "bsl16"


@pytest.fixture(scope="module")
def quantized(exported, tmp_path_factory):
    if not have_bsl16():
        pytest.skip("real pose data not found (../shared beside the project)")
    from slr_fused.export.quantize import quantize_int8
    path = tmp_path_factory.mktemp("int8") / "model.int8.onnx"
    quantize_int8(exported[0], path, SHARED_DATA / "bsl16" / "bsl16_val.csv", limit=48)
    return path


def test_int8_model_agrees_with_fp32_on_the_test_split(exported, quantized, bsl16):
    import onnx
    proto = onnx.load(str(quantized))
    assert any(node.op_type == "QuantizeLinear" for node in proto.graph.node)
    fp32, int8 = load_predictor(exported[0]), load_predictor(quantized)
    assert int8.class_names == fp32.class_names         # metadata carried over
    ref, labels = class_logits(fp32, bsl16 / "bsl16_test.csv")
    new, _ = class_logits(int8, bsl16 / "bsl16_test.csv")
    report = compare_predictions(ref, new, labels, fp32.class_names)
    assert report["samples"] == 240
    assert report["top1_agreement"] >= 0.95
    assert abs(report["top1_change_points"]) <= 3.0
    assert 0 < report["max_probability_difference"] < 0.5   # quantized, but close
    assert report["top1_change_points"] == pytest.approx(
        100 * ((new.argmax(1) == labels).mean() - (ref.argmax(1) == labels).mean()), abs=0.01)


def test_report_lists_the_classes_that_changed():
    labels = np.array([0, 0, 1, 1, 2, 2])
    ref = np.eye(3)[[0, 0, 1, 1, 2, 2]]
    new = np.eye(3)[[0, 1, 1, 1, 0, 0]]
    report = compare_predictions(ref, new, labels, ["a", "b", "c"])
    assert report["top1_agreement"] == pytest.approx(3 / 6, abs=1e-4)
    assert report["top1_change_points"] == pytest.approx(-50.0)
    assert [row["class"] for row in report["most_changed_classes"]] == ["c", "a"]
    assert report["most_changed_classes"][0]["accuracy_change_points"] == -100.0
    assert "c -100.0 pt (2 of 2 changed)" in format_comparison(report)


def test_export_cli_quantizes_and_prints_the_report(exported, bsl16, tmp_path, monkeypatch):
    """The CLI path; the fp32 export itself is the session's (re-exporting costs half a minute)."""
    from slr_fused.export import onnx as onnx_module

    def reuse_export(checkpoint, output, **options):
        shutil.copyfile(exported[0], output)
        return {"path": str(output), "opset": 17, "inputs": ["left_hand"], "operators": {}}

    monkeypatch.setattr(onnx_module, "export_onnx", reuse_export)
    out = tmp_path / "int8.onnx"
    lines = []
    args = export_parser().parse_args(
        ["export", "onnx", "unused.pt", "-o", str(out), "--dynamic-length", "--with-mask",
         "--quantize", "int8", "--calibration", str(bsl16 / "bsl16_val.csv"),
         "--held-out", str(bsl16 / "bsl16_test.csv"), "--calibration-samples", "16"])
    assert run_export(args, log=lines.append) == 0
    text = "\n".join(lines)
    assert out.is_file() and "top-1 agreement" in text and "240 held-out samples" in text
    assert not list(tmp_path.glob(".slr-*"))


def test_bf16_autocast_agrees_with_fp32(checkpoint, bsl16):
    if not cpu_supports_bf16():
        reason = f"this CPU has no AVX512-BF16/AMX-BF16 (flags: {isa_report()['flags']})"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    model = load_predictor(checkpoint)
    ref, labels = class_logits(model, bsl16 / "bsl16_test.csv", limit=96)
    new, _ = class_logits(model, bsl16 / "bsl16_test.csv", "bf16", limit=96)
    report = compare_predictions(ref, new, labels, model.class_names)
    assert report["top1_agreement"] >= 0.95 and report["max_probability_difference"] > 0


def test_bench_quantization_runs_once(checkpoint, exported, bsl16, tmp_path):
    from slr_fused.bench.common import write_result
    from slr_fused.bench.quantization import markdown_report, run_quantization
    result = run_quantization(checkpoint, bsl16 / "bsl16_val.csv", bsl16 / "bsl16_val.csv",
                              lengths=(8, 16), repeats=2, warmup=0, onnx_path=exported[0],
                              calibration_samples=8, log=lambda line: None)
    assert set(result["latency"]["onnx-int8"]) == {"8", "16"}
    assert result["latency"]["onnx-int8"]["8"]["n"] == 2
    assert "ratio_to_onnx_fp32" in result["latency"]["onnx-int8"]["16"]
    assert "onnx-int8" in result["accuracy"] and result["isa"]["flags"] == isa_report()["flags"]
    paths = write_result(result, tmp_path, "quantization", markdown_report)
    assert "ISA flags" in markdown_report(result) and paths["json"].is_file()
