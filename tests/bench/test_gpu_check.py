"""bench/gpu_check.py without a GPU: each step refuses in one line (exit 2); the checks it runs
are kernels/tolerances.py's (tests/kernels/test_tolerances.py) and the deployment runners'."""

import pytest
import torch

from slr_fused.bench import gpu_check


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the check would run")
@pytest.mark.parametrize("step", ["correctness", "tensorrt"])
def test_without_a_gpu_each_step_exits_2_with_one_line(step, tmp_path, capsys):
    assert gpu_check.main([step, "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "needs a CUDA GPU" in err and err.strip().count("\n") == 0
    assert not (tmp_path / "x.json").exists()
