"""Run folders as a user relies on them: a kill at any write leaves a run that --resume completes
exactly; one process per run folder; no silent overwrite; names stay inside --runs_dir."""

import json
import os
import subprocess
import sys

import pytest
import torch

from run_helpers import metrics_without_timing as _metrics

from slr_fused.checkpoint import load_model, load_training_checkpoint
from slr_fused.faults import BOUNDARIES, CRASH_EXIT_CODE

# Tiny and deterministic (--device cpu, one thread); with these settings the validation top-1
# improves at every one of the 3 epochs, so the best.pt writes happen in the last epoch too.
TINY = ["--d_ff", "16", "--num_enc_layers", "1", "--num_dec_layers", "1", "--batch_size", "48",
        "--lr", "3e-3", "--scheduler_milestones", "10", "--num_frames", "8", "--max_frames", "8",
        "--device", "cpu", "--progress", "false"]
EPOCHS = 3


def _run(runs, name, *extra, crash_at=None):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("SLR_FUSED_CRASH_AT", None)
    if crash_at:
        env["SLR_FUSED_CRASH_AT"] = crash_at
    command = [sys.executable, "-m", "slr_fused", "train", "--epochs", str(EPOCHS), "--runs_dir",
               str(runs), "--experiment_name", name, *TINY, *extra]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("straight")
    result = _run(runs, "straight")
    assert result.returncode == 0, result.stderr
    run = runs / "straight"
    vals = [r["val"]["top1"] for r in _metrics(run)]
    assert vals == sorted(set(vals)), f"the tiny run must improve every epoch to test best.pt: {vals}"
    return run


KILLS = [f"{boundary}:{EPOCHS}" for boundary in BOUNDARIES if boundary != "model"] + ["model"] + \
        ["last:2"]  # one kill mid-run: resume must go on to train the remaining epoch


@pytest.mark.parametrize("crash_at", KILLS)
def test_a_kill_at_any_write_is_completed_by_resume(tmp_path, straight_run, crash_at):
    killed = _run(tmp_path, "killed", crash_at=crash_at)
    assert killed.returncode == CRASH_EXIT_CODE, f"the run did not reach {crash_at}: {killed.stderr}"
    run = tmp_path / "killed"
    # leftovers of interrupted atomic writes, as a SIGKILL mid-write leaves them
    (run / "checkpoints" / ".last.pt.x1y2.tmp").write_bytes(b"partial")
    (run / "checkpoints" / "best.tmp").write_bytes(b"partial")
    (run / ".metrics.jsonl.abc.tmp").write_text("partial")

    resumed = _run(tmp_path, "killed", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert _metrics(run) == _metrics(straight_run)
    leftovers = [p.name for p in run.rglob("*") if p.name.endswith(".tmp") or "pending" in p.name]
    assert leftovers == []

    # the plots show every epoch: newer than the last checkpoint
    for name in ("loss.png", "accuracy.png", "lr.png"):
        assert (run / "plots" / name).stat().st_mtime_ns >= \
            (run / "checkpoints" / "last.pt").stat().st_mtime_ns, name

    records = _metrics(run)
    log_best = max(records, key=lambda r: r["val"]["top1"])["epoch"]
    assert load_training_checkpoint(run / "checkpoints" / "best.pt")["epoch"] == log_best
    assert load_training_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == EPOCHS

    model, info = load_model(run / "model.pt")
    reference, reference_info = load_model(straight_run / "model.pt")
    assert info["metadata"]["final_metrics"] == reference_info["metadata"]["final_metrics"]
    assert info["metadata"]["final_metrics"]["val"] == records[-1]["val"]
    for (name, value), expected in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(value, expected), name


# --- one owner per run folder, no silent overwrite, names stay inside --runs_dir ------------------

def _train_args(runs, name, *extra):
    return ["train", "--epochs", "1", "--runs_dir", str(runs), "--experiment_name", name, *TINY, *extra]


def _one_error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_a_second_run_on_a_busy_folder_fails_at_once_naming_the_holder(tmp_path, capsys):
    from slr_fused.cli import main
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from slr_fused.runlock import RunLock; "
         f"RunLock({str(tmp_path / 'busy')!r}).acquire(); print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(_train_args(tmp_path, "busy")) == 2
        err = _one_error_line(capsys)
        assert f"pid {holder.pid}" in err and "in use" in err
        assert not (tmp_path / "busy" / "config.json").exists()
    finally:
        holder.stdin.close()
        holder.wait()
    # the holder has gone: the folder is free again
    assert main(_train_args(tmp_path, "busy")) == 0


def test_an_existing_run_is_kept_unless_resume_or_overwrite(tmp_path, capsys):
    from slr_fused.cli import main
    assert main(_train_args(tmp_path, "r")) == 0
    run = tmp_path / "r"
    model_bytes = (run / "model.pt").read_bytes()
    assert (run / "checkpoints" / "best.pt").is_file()
    capsys.readouterr()

    assert main(_train_args(tmp_path, "r", "--seed", "5")) == 2
    err = _one_error_line(capsys)
    assert "finished run" in err and "--resume" in err and "--overwrite" in err
    assert (run / "model.pt").read_bytes() == model_bytes

    assert main(_train_args(tmp_path, "r", "--resume", "--overwrite")) == 2
    assert "only one" in _one_error_line(capsys)

    # --overwrite starts afresh: nothing of the old run (its best.pt) survives beside the new one
    assert main(_train_args(tmp_path, "r", "--overwrite", "--validation_set", "none")) == 0
    assert not (run / "checkpoints" / "best.pt").exists()
    assert (run / "model.pt").read_bytes() != model_bytes
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1]


def test_a_partial_run_is_named_as_such(tmp_path, capsys):
    killed = _run(tmp_path, "p", crash_at="metrics:1")
    assert killed.returncode == CRASH_EXIT_CODE
    from slr_fused.cli import main
    assert main(_train_args(tmp_path, "p")) == 2
    assert "partial run" in _one_error_line(capsys)


@pytest.mark.parametrize("name", ["../escaped", "a/../../escaped", "/tmp/abs-run", "", ".", "link/x"])
def test_experiment_names_cannot_leave_the_runs_folder(tmp_path, capsys, name):
    from slr_fused.cli import main
    runs = tmp_path / "runs"
    runs.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (runs / "link").symlink_to(outside)
    assert main(_train_args(runs, name)) == 2
    assert "--experiment_name" in _one_error_line(capsys)
    assert not (tmp_path / "escaped").exists() and list(outside.iterdir()) == []
