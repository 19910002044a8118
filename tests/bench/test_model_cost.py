"""`slr bench` end to end on a tiny model: the result file's schema and its statistics."""

import json
import math

import pytest
import torch

from slr_fused.bench import model_cost
from slr_fused.bench.common import write_result

TINY = dict(d_ff=16, num_enc_layers=1, num_dec_layers=1)
STAT_KEYS = {"median", "p20", "p80", "min", "max", "n"}


def check_stats(stats, n):
    assert set(stats) == STAT_KEYS
    assert stats["n"] == n
    assert stats["min"] <= stats["p20"] <= stats["median"] <= stats["p80"] <= stats["max"]
    assert all(math.isfinite(stats[k]) for k in STAT_KEYS)


@pytest.fixture(scope="module")
def quick_result():
    return model_cost.run_model_cost(
        configs=["bidirectional h=3"], providers=["eager"], lengths=[5, 9], batches=[1, 2],
        repeats=3, warmup=1, num_classes=7, model_settings=TINY, log=lambda line: None)


def test_result_schema(quick_result, tmp_path):
    r = quick_result
    assert r["kind"] == "model_cost"
    env = r["environment"]
    for key in ("device", "cpu", "torch_num_threads", "versions", "git_commit", "date", "python"):
        assert env[key] not in (None, ""), key
    assert env["torch_num_threads"] == torch.get_num_threads()
    assert env["versions"]["torch"] == torch.__version__
    # The baseline always runs (every ratio is against it) and comes first.
    names = [c["name"] for c in r["configs"]]
    assert names == [model_cost.BASELINE, "bidirectional h=3"]
    base, block = r["configs"]
    assert base["block_params"] == 0 and base["params_increase"] == 0
    assert block["block_params"] == 54_108       # the block does not depend on the model size
    assert block["params"] - base["params"] == 54_108
    for length in ("5", "9"):
        f = block["flops_per_sample"][length]
        assert f["block_fvcore"] == f["block_analytic"] > 0
        assert f["total"] > base["flops_per_sample"][length]["total"]

    # Eager: both configurations at the first length; the detail set (both) at the second.
    cells = {(x["config"], x["provider"], x["length"], x["batch"]) for x in r["latency"]}
    assert cells == {(n, "eager", t, b) for n in names for t in (5, 9) for b in (1, 2)}
    for row in r["latency"]:
        check_stats(row["seconds"], 3)
        check_stats(row["ratio_to_baseline"], 3)
        assert row["ms_per_sample"] == pytest.approx(1e3 * row["seconds"]["median"] / row["batch"])
        if row["config"] == model_cost.BASELINE:
            assert row["ratio_to_baseline"]["median"] == 1.0
    backends = {b["name"]: b for b in r["backends"]}
    assert backends["eager"]["available"]
    assert not backends["tensorrt"]["available"] and backends["tensorrt"]["reason"]
    if not torch.cuda.is_available():
        assert "TRITON_INTERPRET" in backends["triton"]["reason"]
    assert r["training"] is None

    paths = write_result(r, tmp_path, "quick", model_cost.markdown_report)
    assert paths["json"].name == f"quick-{env['device']}.json"
    assert json.loads(paths["json"].read_text()) == json.loads(json.dumps(r))
    table = paths["md"].read_text()
    assert "bidirectional h=3" in table and "| eager | 9 | 2 |" in table


def test_detail_all_times_every_configuration_at_every_length():
    r = model_cost.run_model_cost(configs=["unidirectional h=3", "bidirectional h=1"],
                                  providers=["eager"], lengths=[4, 6], batches=[1], detail=["all"],
                                  repeats=3, warmup=0, num_classes=3, model_settings=TINY,
                                  log=lambda line: None)
    assert len(r["latency"]) == 3 * 2
    assert {x["length"] for x in r["latency"] if x["config"] == "bidirectional h=1"} == {4, 6}


def test_training_cost_on_real_batches(shared_data):
    result = model_cost.run_training_cost(str(shared_data / "bsl16" / "bsl16_train.csv"), None,
                                          steps=2, batch_size=4, model_settings=TINY)
    assert result["steps"] == 2 and result["steps_per_epoch"] == math.ceil(1120 / 4)
    rows = {row["config"]: row for row in result["rows"]}
    assert set(rows) == {name for name, _, _ in model_cost.TRAINING_CONFIGS}
    for row in rows.values():
        check_stats(row["step_seconds"], 2)
        assert row["final_loss_finite"] and row["samples_per_second"] > 0
    assert rows["bidirectional h=3, CMCL"]["use_cmcl"] is True


@pytest.mark.parametrize("kwargs, message", [
    (dict(repeats=2), "repeats"),
    (dict(providers=["tensorflow"]), "unknown providers"),
    (dict(configs=["bidirectional h=4"]), "unknown configurations"),
    (dict(lengths=[300]), "max_frames"),
])
def test_bad_options_are_one_sentence_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        model_cost.run_model_cost(**{**dict(providers=["eager"], repeats=3, model_settings=TINY,
                                            log=lambda line: None), **kwargs})


def test_device_and_kernel_options_are_checked():
    with pytest.raises(ValueError, match="not a device"):
        model_cost.run_model_cost(configs=[], providers=["eager"], device="tpu:x", log=lambda _: None)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            model_cost.run_model_cost(providers=["eager"], device="cuda", log=lambda _: None)
        with pytest.raises(ValueError, match="need --device cuda"):
            model_cost.run_model_cost(providers=["eager"], kernel="triton", log=lambda _: None)
