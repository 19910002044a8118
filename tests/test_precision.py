"""bf16 on CPUs that have it: training with --amp bf16, and the refusals where it cannot run."""

import pytest

from slr_fused import precision
from slr_fused.training import TrainConfig, train

TINY = dict(progress=False, d_ff=32, num_enc_layers=1, num_dec_layers=1, batch_size=64, device="cpu", epochs=1,
            save_checkpoints=False)


def _require_bf16():
    if not precision.cpu_supports_bf16():
        reason = f"this CPU has no AVX512-BF16/AMX-BF16 (flags: {precision.isa_report()['flags']})"
        print(f"SKIP: {reason}")
        pytest.skip(reason)


def test_amp_bf16_trains_on_a_bf16_cpu(tmp_path):
    _require_bf16()
    result = train(TrainConfig(amp="bf16", runs_dir=str(tmp_path), experiment_name="bf16", **TINY), log=lambda _: None)
    import json
    import math
    from pathlib import Path
    loss = result["history"][-1]["train"]["loss"]
    assert math.isfinite(loss) and loss > 0
    config = json.loads((Path(result["model_path"]).parent / "config.json").read_text())
    assert "bf16" in json.dumps(config)


def test_amp_is_refused_where_it_cannot_run(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="--amp"):
        train(TrainConfig(amp="fp16", runs_dir=str(tmp_path), experiment_name="fp16", **TINY), log=lambda _: None)
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2"})
    with pytest.raises(ValueError, match="AVX512-BF16"):
        train(TrainConfig(amp="bf16", runs_dir=str(tmp_path), experiment_name="none", **TINY), log=lambda _: None)
    with pytest.raises(ValueError, match="AVX512-BF16"):
        precision.check_precision("bf16")


def test_isa_report_names_the_flags():
    report = precision.isa_report()
    assert set(report["flags"]) <= set(precision.ISA_FLAGS)
    assert set(report) == {"cpu", "cores", "flags"}
