"""Runs: files, checkpoints, resume after SIGKILL, data-parallel equivalence, evaluation."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from run_helpers import metrics_without_timing as _metrics

from slr_fused.checkpoint import CheckpointError, load_model, load_training_checkpoint
from slr_fused.cli import main
from slr_fused.evaluation import evaluate_checkpoint
from slr_fused.training import TrainConfig, train

# --device cpu: these runs compare metrics bitwise (resume) or across process counts (torchrun),
# which needs deterministic CPU math; on a GPU machine "auto" would pick cuda:<rank>.
TINY = ["--d_ff", "32", "--num_enc_layers", "1", "--num_dec_layers", "1", "--batch_size", "48",
        "--lr", "1e-3", "--device", "cpu"]


def _env():
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"  # same thread count in every process: bitwise-equal CPU math
    return env


def _train_command(runs, name, epochs, *extra):
    return [sys.executable, "-m", "slr_fused", "train", "--epochs", str(epochs), "--runs_dir", str(runs),
            "--experiment_name", name, *TINY, *extra]


def test_run_folder_contents(tmp_path):
    result = train(TrainConfig(epochs=2, d_ff=32, num_enc_layers=1, num_dec_layers=1, batch_size=64,
                               runs_dir=str(tmp_path), experiment_name="r", progress=False),
                   log=lambda _: None)
    run = Path(result["run_dir"])
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["optim"]["epochs"] == 2 and config["num_classes"] == 8
    assert {"versions", "git_commit", "device", "torch_device", "date"} <= set(config["environment"])
    assert config["environment"]["torch_device"].startswith(("cpu", "cuda"))
    assert config["environment"]["versions"]["torch"] == torch.__version__
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    for key in ("lr", "w_consistency", "w_alignment", "epoch_seconds", "samples_per_second"):
        assert key in records[0]
    assert {"loss", "ce", "consistency", "alignment", "top1"} <= set(records[0]["train"])
    assert {"top1", "top5"} <= set(records[0]["val"]) and "test" in records[0]
    for name in ("loss.png", "accuracy.png", "lr.png"):
        assert (run / "plots" / name).read_bytes()[:4] == b"\x89PNG"
    for name in ("last.pt", "best.pt"):
        torch.load(run / "checkpoints" / name, weights_only=True)  # the safe loader accepts it
        load_model(run / "checkpoints" / name)
    assert load_training_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 2
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        load_training_checkpoint(run / "model.pt")


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    epochs = 4
    subprocess.run(_train_command(tmp_path, "straight", epochs), env=_env(), check=True,
                   capture_output=True)
    run = tmp_path / "killed"
    process = subprocess.Popen(_train_command(tmp_path, "killed", epochs), env=_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        metrics = run / "metrics.jsonl"
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = len((run / "metrics.jsonl").read_text().splitlines())
    assert done < epochs, "the run finished before it could be killed"
    # whatever moment the kill hit, the checkpoint is whole and loadable
    assert load_training_checkpoint(run / "checkpoints" / "last.pt")["epoch"] >= 2
    load_model(run / "checkpoints" / "last.pt")
    resumed = subprocess.run(_train_command(tmp_path, "killed", epochs, "--resume"), env=_env(),
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming" in resumed.stdout
    assert _metrics(run) == _metrics(tmp_path / "straight")


def test_resume_refuses_other_settings_and_missing_runs(tmp_path):
    train(TrainConfig(epochs=1, d_ff=32, num_enc_layers=1, num_dec_layers=1, batch_size=64,
                      runs_dir=str(tmp_path), experiment_name="r", progress=False), log=lambda _: None)
    with pytest.raises(CheckpointError, match="cross_attn_heads"):
        train(TrainConfig(epochs=2, d_ff=32, num_enc_layers=1, num_dec_layers=1, batch_size=64,
                          cross_attn_heads=6, runs_dir=str(tmp_path), experiment_name="r",
                          resume=True, progress=False), log=lambda _: None)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(TrainConfig(epochs=1, runs_dir=str(tmp_path), experiment_name="none", resume=True),
              log=lambda _: None)


def test_resuming_a_run_of_another_recipe_names_the_flag_to_add():
    from slr_fused.recipes import recipe_config
    from slr_fused.training import _check_resume
    saved = recipe_config("seed", experiment_name="old").flat_dict()
    del saved["recipe"]                     # a run from before the recipes: the seeds' settings
    with pytest.raises(CheckpointError, match=r"--recipe seed: add that flag to resume it"):
        _check_resume(saved, recipe_config("wlasl", experiment_name="old", resume=True))
    _check_resume(saved, recipe_config("seed", experiment_name="old", resume=True))   # resumable


def test_validation_split_and_experimental_subset(tmp_path):
    lines = []
    train(TrainConfig(epochs=1, d_ff=32, num_enc_layers=1, num_dec_layers=1, batch_size=64,
                      validation_set="split-from-train", validation_set_size=0.25,
                      experimental_train_split=0.5, runs_dir=str(tmp_path), progress=False),
          log=lines.append)
    data_line = next(line for line in lines if line.startswith("Data:"))
    # 384 demo samples: 96 held out for validation, half of the remaining 288 used
    assert "(144 samples)" in data_line and "val (96)" in data_line


def test_torchrun_two_processes_match_one_process(tmp_path):
    no_dropout = ["--dropout", "0", "--cross_attn_dropout", "0"]
    common = ["--epochs", "2", *no_dropout, "--use_cmcl", "True", *TINY]
    single = subprocess.run(_train_command(tmp_path, "single", 2, *no_dropout, "--use_cmcl", "True"),
                            env=_env(), capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "slr_fused", "train", "--runs_dir", str(tmp_path), "--experiment_name", "ddp", *common],
        env=_env(), capture_output=True, text=True, timeout=600)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    assert "x 2 processes" in ddp.stdout
    assert ddp.stdout.count("Test top-1") == 1  # only rank 0 reports
    one, two = _metrics(tmp_path / "single"), _metrics(tmp_path / "ddp")
    assert len(one) == len(two) == 2
    for a, b in zip(one, two):
        for key in ("loss", "ce", "consistency", "alignment"):
            assert b["train"][key] == pytest.approx(a["train"][key], rel=1e-3, abs=1e-5)
        for split in ("val", "test"):
            assert abs(a[split]["top1"] - b[split]["top1"]) <= 0.02


def test_evaluate_command_writes_json_and_confusion_matrix(tmp_path, capsys):
    result = train(TrainConfig(epochs=1, d_ff=32, num_enc_layers=1, num_dec_layers=1, batch_size=64,
                               runs_dir=str(tmp_path), progress=False), log=lambda _: None)
    from slr_fused.training import resolve_data_paths
    test_csv = resolve_data_paths(TrainConfig())["test"]
    assert main(["evaluate", result["model_path"], "--data", test_csv, "--output", str(tmp_path / "ev")]) == 0
    out = capsys.readouterr().out
    assert "top-1" in out and "per-class accuracy" in out and "open-open-together" in out
    report = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert report["samples"] == 96 and len(report["confusion_matrix"]) == 8
    assert sum(map(sum, report["confusion_matrix"])) == 96
    assert report["top1"] == pytest.approx(result["final"]["test"]["top1"])
    assert (tmp_path / "ev" / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_rejects_a_dataset_with_more_classes(tmp_path, shared_data):
    result = train(TrainConfig(epochs=1, d_ff=32, num_enc_layers=1, num_dec_layers=1, batch_size=64,
                               runs_dir=str(tmp_path), progress=False), log=lambda _: None)
    with pytest.raises(CheckpointError, match="has 8 classes"):
        evaluate_checkpoint(result["model_path"], shared_data / "bsl16" / "bsl16_test.csv")


def test_default_milestones_scale_with_the_run_length():
    from slr_fused.training import scheduler_milestones
    assert scheduler_milestones(TrainConfig(epochs=100)) == [60, 80]
    assert scheduler_milestones(TrainConfig(epochs=40)) == [24, 32]
    assert scheduler_milestones(TrainConfig(epochs=40, scheduler_milestones=(60, 80))) == [60, 80]
