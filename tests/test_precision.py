"""bf16 on CPUs that have it: training with --amp bf16, and the refusals where it cannot run."""

import numpy as np
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


def test_predict_in_bf16_is_close_to_fp32(tmp_path, capsys):
    """``slr predict --precision bf16`` runs the model under CPU autocast: probabilities move a
    little (so bf16 was used) and stay close to fp32's."""
    _require_bf16()
    import json
    import torch
    from slr_fused.checkpoint import save_model
    from slr_fused.cli import main
    from slr_fused.data.csv_format import write_pose_csv
    from slr_fused.data.synthetic import make_split
    from slr_fused.models.siformer import SiFormer, SiFormerConfig
    torch.manual_seed(0)
    model = SiFormer(SiFormerConfig(num_classes=4, d_ff=32, num_enc_layers=1, num_dec_layers=1)).eval()
    checkpoint = save_model(tmp_path / "model.pt", model, ["a", "b", "c", "d"])
    samples, labels = make_split(1, seed=3)
    write_pose_csv(tmp_path / "some.csv", samples[:4], [int(x) % 4 for x in labels[:4]])
    runs = {}
    for precision in ("fp32", "bf16"):
        assert main(["predict", str(tmp_path / "some.csv"), "-m", str(checkpoint), "-k", "4",
                     "--json", "--precision", precision]) == 0
        results = json.loads(capsys.readouterr().out)["results"]
        runs[precision] = np.array([[p["probability"] for p in sorted(r["predictions"], key=lambda p: p["label"])]
                                    for r in results])
    difference = np.abs(runs["fp32"] - runs["bf16"]).max()
    assert 0 < difference < 0.05


def test_predict_refuses_bf16_for_exports(tmp_path, capsys):
    _require_bf16()
    from slr_fused.cli import main
    assert main(["predict", "x.csv", "-m", str(tmp_path / "model.onnx"), "--precision", "bf16"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "runs .pt checkpoints" in err
