"""scripts/gpu-check.sh and its Python steps (bench/gpu_check.py): the plan prints on any machine;
without a GPU the script and each step refuse in one line. The checks the steps run are
kernels/tolerances.py's (tests/kernels/test_tolerances.py) and the deployment runners'."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from slr_fused.bench import gpu_check

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu-check.sh"


def _run(*args):
    env = dict(os.environ, PYTHON=sys.executable)
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_dry_run_prints_every_step_within_eight_minutes():
    proc = _run("--dry-run")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for step in ("correctness", "kernel-timings", "deployment", "tensorrt-agreement"):
        assert step in out
    budgets = [int(b) for b in re.findall(r"\(<= (\d+) s\)", out)]
    assert len(budgets) == 4 and sum(budgets) <= 480
    assert "slr_fused.bench.kernels" in out and "--batches 1 32" in out
    assert "kernel-check-<gpu>.json" in out and "gpu-check-<gpu>.json" in out


def test_the_python_steps_it_names_exist():
    out = _run("--dry-run").stdout
    for module in set(re.findall(r"-m (slr_fused\.bench\.\w+)", out)):
        proc = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, (module, proc.stderr[-2000:])


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the check would run")
def test_without_a_gpu_it_exits_2_with_one_line():
    proc = _run()
    assert proc.returncode == 2
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1
    assert "no CUDA GPU" in proc.stderr


def test_unknown_arguments_are_refused():
    assert _run("--bogus").returncode == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the check would run")
@pytest.mark.parametrize("step", ["correctness", "tensorrt"])
def test_without_a_gpu_each_step_exits_2_with_one_line(step, tmp_path, capsys):
    assert gpu_check.main([step, "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "needs a CUDA GPU" in err and err.strip().count("\n") == 0
    assert not (tmp_path / "x.json").exists()
