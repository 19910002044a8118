"""`slr bench deployment` on a tiny model: runners build, rows pair up, absent runtimes say why."""

import json

import pytest
import torch

from slr_fused.bench import deployment
from slr_fused.bench.common import Context, Unavailable, build_model, write_result

TINY = dict(d_ff=16, num_enc_layers=1, num_dec_layers=1)


@pytest.fixture(scope="module")
def result():
    return deployment.run_deployment(
        runtimes=["eager", "eager-triton", "onnxruntime"], batches=[1, 3], length=6, repeats=3,
        warmup=1, num_classes=5, device="cpu", model_settings=TINY, log=lambda _: None)


def test_rows_cover_every_runner_and_cell(result):
    available = {r["name"] for r in result["runtimes"] if r["available"]}
    expected = {"eager"} | ({"onnxruntime"} & available)
    cells = {(r["runtime"], r["config"], r["batch"]) for r in result["rows"]}
    assert cells == {(rt, c, b) for rt in expected for c, _ in deployment.CONFIGS for b in (1, 3)}
    for row in result["rows"]:
        assert row["seconds"]["n"] == 3 and row["seconds"]["median"] > 0
        assert row["samples_per_second"] == pytest.approx(row["batch"] / row["seconds"]["median"])
        if row["config"] == deployment.BLOCK:
            assert row["ratio_to_baseline"]["median"] > 0
        if row["runtime"] != "eager":
            assert row["speedup_vs_eager"]["median"] > 0
        else:
            assert "speedup_vs_eager" not in row


def test_unavailable_runtimes_carry_the_reason(result):
    status = {r["name"]: r for r in result["runtimes"]}
    if not torch.cuda.is_available():
        assert not status["eager-triton"]["available"]
        assert "CUDA" in status["eager-triton"]["reason"]


def test_report_and_files(result, tmp_path):
    paths = write_result(result, tmp_path, "deploy", deployment.markdown_report)
    stored = json.loads(paths["json"].read_text())
    assert stored["settings"]["batches"] == [1, 3] and stored["environment"]["date"]
    report = paths["md"].read_text()
    assert "| 1 | eager | fp32 |" in report and "| 3 | eager | fp32 |" in report
    if not torch.cuda.is_available():
        assert "- eager-triton: " in report


def test_runners_give_the_models_logits():
    """A timed runner that computed something else would make the table meaningless."""
    with torch.no_grad():
        ctx = Context(torch.device("cpu"), 6, 2)
        model = build_model({}, 5, **TINY).eval()
        inputs = deployment.inputs_for(2, 6, torch.device("cpu"))
        expected = model(*inputs)
        assert torch.equal(deployment.setup_eager(model, ctx)(inputs), expected)


def test_bad_settings_are_one_clear_error():
    with pytest.raises(ValueError, match="unknown runtimes"):
        deployment.run_deployment(runtimes=["fastest"])
    with pytest.raises(ValueError, match="positive"):
        deployment.run_deployment(runtimes=["eager"], batches=[0])


def test_a_cuda_only_runtime_refuses_the_cpu():
    ctx = Context(torch.device("cpu"), 6, 2)
    with pytest.raises(Unavailable, match="CUDA only"):
        deployment.setup_compile_triton(build_model({}, 5, **TINY), ctx)


def test_a_runtime_failing_while_timed_is_dropped_with_its_reason():
    def broken(inputs):
        raise RuntimeError("capture failed\nlong log")
    runners = {("eager", "a"): lambda inputs: None, ("bad", "a"): broken, ("bad", "b"): broken}
    status = [{"name": "eager", "available": True}, {"name": "bad", "available": True}]
    deployment.drop_failing(runners, status, deployment.inputs_for(2, 3, torch.device("cpu")),
                            log=lambda _: None)
    assert list(runners) == [("eager", "a")]
    assert status[1] == {"name": "bad", "available": False,
                         "reason": "failed at batch 2: RuntimeError: capture failed"}
