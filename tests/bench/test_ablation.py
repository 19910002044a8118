"""The ablation table writer on fake records (no training)."""

import json
from pathlib import Path

import pytest

from slr_fused.bench import ablation


def fake_result(tmp_env=None):
    chosen = ablation.select_configs(["baseline (no cross-modal block)", "bidirectional h=3"])
    runs = []
    for seed, (b1, h1) in zip((1, 2, 3), ((0.90, 0.93), (0.92, 0.91), (0.94, 0.95))):
        runs.append(dict(config=chosen[0][0], seed=seed, test_top1=b1, test_top5=1.0,
                         val_top1=b1, epoch_seconds=[10.0, 12.0], train_samples_per_second=[90.0]))
        runs.append(dict(config=chosen[1][0], seed=seed, test_top1=h1, test_top5=0.99,
                         val_top1=h1, epoch_seconds=[11.0, 13.0], train_samples_per_second=[80.0]))
    latency = dict(median=0.004, p20=0.0039, p80=0.0041, min=0.0038, max=0.005, n=20)
    costs = {chosen[0][0]: dict(params=2_505_896, block_params=0, flops_per_sample=44_000_000,
                                latency_b1=latency),
             chosen[1][0]: dict(params=2_560_004, block_params=54_108, flops_per_sample=46_000_000,
                                latency_b1={**latency, "median": 0.005})}
    env = dict(device="cpu-2c", torch_num_threads=2, versions={"torch": "2.13.0"},
               git_commit="0123456789abcdef", date="2026-11-23T15:00:00+00:00")
    return {"kind": "ablation", "environment": env,
            "budget": dict(dataset="/data/bsl16", epochs=2, seeds=[1, 2, 3], batch_size=24,
                           lr=1e-4, lr_schedule="constant", kernel="reference", latency_length=30,
                           latency_repeats=20, num_classes=16),
            "runs": runs, "configs": ablation.summarize_runs(runs, chosen, costs)}


def test_summary_statistics():
    rows = fake_result()["configs"]
    base, block = rows
    assert base["top1_mean"] == pytest.approx(0.92) and block["top1_mean"] == pytest.approx(0.93)
    assert base["top1_spread"] == pytest.approx(0.04) and block["top1_spread"] == pytest.approx(0.04)
    assert (block["top1_min"], block["top1_max"]) == (0.91, 0.95)
    assert block["top1_delta_vs_first"] == pytest.approx(0.01)
    assert block["use_cmcl"] is True and base["use_cmcl"] is False
    assert base["epoch_seconds_median"] == pytest.approx(11.0)


def test_writer_outputs(tmp_path):
    result = fake_result()
    paths = ablation.write_outputs(result, tmp_path)
    assert {p.name for p in paths.values()} == {"ablation-cpu-2c.json", "ablation-cpu-2c.md",
                                                "ablation-cpu-2c.png"}
    assert json.loads(paths["json"].read_text())["configs"][1]["top1_mean"] == pytest.approx(0.93)
    table = paths["md"].read_text()
    assert "| bidirectional h=3 | yes | 0.9300 [0.9100, 0.9500] | 0.9900 | 2,560,004 | 54,108 |" in table
    assert "2 epoch(s) x 3 seed(s)" in table
    assert "spread of top-1 in this table: 0.0400" in table     # the 1-point gain is inside it
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_configurations_and_errors(tmp_path):
    names = [n for n, _ in ablation.ABLATION_CONFIGS]
    assert len(names) == len(set(names)) == 10
    assert dict(ablation.ABLATION_CONFIGS)["baseline (no cross-modal block)"]["use_cmcl"] is False
    assert dict(ablation.ABLATION_CONFIGS)["bidirectional h=3, no CMCL"]["use_cmcl"] is False
    assert dict(ablation.ABLATION_CONFIGS)["bidirectional h=6"]["use_cmcl"] is True
    with pytest.raises(ValueError, match="unknown configurations"):
        ablation.select_configs(["bidirectional h=5"])
    with pytest.raises(ValueError, match="expected one"):
        ablation.dataset_paths(tmp_path)
    (tmp_path / "x_train.csv").write_text("labels\n")
    with pytest.raises(ValueError, match="missing"):
        ablation.dataset_paths(tmp_path)
    with pytest.raises(ValueError, match="at least one epoch"):
        ablation.run_ablation(str(tmp_path), epochs=0)


def tiny_dataset(folder):
    """tiny_{train,val,test}.csv: 8 synthetic samples each (one per class)."""
    from slr_fused.data.csv_format import write_pose_csv
    from slr_fused.data.synthetic import make_split
    samples, labels = make_split(1, seed=7)
    for split in ("train", "val", "test"):
        write_pose_csv(folder / f"tiny_{split}.csv", samples, labels)


def test_default_data_is_the_bundled_demo_set():
    paths = ablation.dataset_paths(ablation.default_data())
    assert {Path(p).name for p in paths.values()} == {"demo_train.csv", "demo_val.csv",
                                                      "demo_test.csv"}
    assert all(Path(p).is_file() for p in paths.values())


def test_a_real_run_on_a_tiny_dataset(tmp_path):
    """train_one and model_costs for real: 2 configurations x 1 seed x 1 epoch on 8 samples."""
    tiny_dataset(tmp_path)
    configs = ["baseline (no cross-modal block)", "bidirectional h=3"]
    result = ablation.run_ablation(str(tmp_path), epochs=1, seeds=[3], batch_size=8,
                                   configs=configs, latency_repeats=3, length=9,
                                   log=lambda _: None, device="cpu")
    assert result["budget"]["device"] == "cpu" and result["budget"]["kernel"] == "reference"
    assert result["budget"]["cross_attn_dropout"] == 0.1   # trained as the seed: with dropout
    assert [r["config"] for r in result["runs"]] == configs
    for row in result["configs"]:
        assert 0 <= row["top1_mean"] <= 1 and row["params"] > 0
    base, block = result["configs"]
    assert base["block_params"] == 0 and block["block_params"] == 54_108
    with pytest.raises(ValueError, match="need --device cuda"):
        ablation.run_ablation(str(tmp_path), configs=configs, device="cpu", kernel="triton")


def test_recipe_table_rows_each_take_out_one_part():
    from slr_fused.recipes import RECIPES, recipe_config
    from slr_fused.training import validate_config
    rows = dict(ablation.select_configs(None, "recipe"))
    assert len(rows) == len(ablation.RECIPE_CONFIGS)
    wlasl = recipe_config("wlasl")
    for name, overrides in rows.items():
        config = recipe_config(**overrides)
        validate_config(config)
        if name.startswith("wlasl - "):   # a part of the recipe set back to the seed's value
            changed = {k for k in RECIPES["wlasl"] if getattr(config, k) != getattr(wlasl, k)}
            assert changed and changed <= set(RECIPES["wlasl"]), name
    assert recipe_config(**rows["seed recipe (--recipe seed)"]) == recipe_config("seed")
    with pytest.raises(ValueError, match="--table"):
        ablation.select_configs(None, "optimiser")


def test_recipe_table_trains_with_each_recipe_schedule(tmp_path):
    """One epoch of two recipe rows on 8 samples: the rows' settings reach training."""
    tiny_dataset(tmp_path)
    configs = ["seed recipe (--recipe seed)", "wlasl - EMA"]
    result = ablation.run_ablation(str(tmp_path), epochs=1, seeds=[3], batch_size=8,
                                   configs=configs, latency_repeats=2, length=9,
                                   log=lambda _: None, device="cpu", table="recipe")
    assert result["budget"]["table"] == "recipe" and result["budget"]["lr_schedule"] == "per recipe"
    assert [r["config"] for r in result["runs"]] == configs
    assert "| wlasl - EMA |" in ablation.markdown_table(result)
    with pytest.raises(ValueError, match="--recipe must be one of"):
        ablation.run_ablation(str(tmp_path), epochs=1, seeds=[3], configs=["bidirectional h=3"],
                              device="cpu", recipe="fast")
