"""Weight averaging: the update rule, and training with it (evaluated weights, exact resume)."""

import json
from pathlib import Path

import pytest
import torch

from slr_fused.checkpoint import load_model, load_training_checkpoint
from slr_fused.ema import WeightAverage
from slr_fused.training import TrainConfig, train


def test_update_is_the_ramped_exponential_average():
    model = torch.nn.Linear(3, 2)
    ema = WeightAverage(model, decay=0.9)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    d = min(0.9, 2 / 11)                                  # the ramp wins at the first update
    assert torch.allclose(ema.model.weight, d * start + (1 - d) * model.weight)
    for _ in range(100):
        ema.update(model)
    assert ema.current_decay() == 0.9
    assert torch.allclose(ema.model.weight, model.weight, atol=1e-4)
    assert not ema.model.weight.requires_grad and not ema.model.training
    with pytest.raises(ValueError, match="ema_decay"):
        WeightAverage(model, 1.0)


TINY = dict(d_ff=32, num_enc_layers=1, num_dec_layers=1, batch_size=48, lr=1e-3, device="cpu",
            progress=False, ema_decay=0.9, lr_schedule="cosine", warmup_epochs=1, mirror=0.5,
            speed=0.2, temporal_crop=0.2, label_smoothing=0.1)


class Stop(Exception):
    pass


def _records(run_dir):
    records = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    for record in records:
        record.pop("epoch_seconds"), record.pop("samples_per_second")
    return records


def test_training_evaluates_the_average_and_resumes_exactly(tmp_path):
    torch.set_num_threads(1)
    straight = train(TrainConfig(epochs=3, runs_dir=str(tmp_path), experiment_name="a", **TINY),
                     log=lambda _: None)

    def stop_after_two(line):
        if line.startswith("[2]"):
            raise Stop
    with pytest.raises(Stop):
        train(TrainConfig(epochs=3, runs_dir=str(tmp_path), experiment_name="b", **TINY),
              log=stop_after_two)
    checkpoint = load_training_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert checkpoint["epoch"] == 2 and checkpoint["ema"]["updates"] > 0
    raw = checkpoint["ema"]["raw_state_dict"]
    assert any(not torch.equal(raw[k], v) for k, v in checkpoint["state_dict"].items())
    train(TrainConfig(epochs=3, runs_dir=str(tmp_path), experiment_name="b", resume=True, **TINY),
          log=lambda _: None)
    assert _records(tmp_path / "a") == _records(tmp_path / "b")
    # the saved model is the averaged one: evaluating it gives the logged final metrics
    from slr_fused.evaluation import evaluate_checkpoint
    from slr_fused.training import resolve_data_paths
    test_csv = resolve_data_paths(TrainConfig())["test"]
    result = evaluate_checkpoint(straight["model_path"], test_csv, str(tmp_path / "eval"), 64, "cpu")
    assert result["top1"] == pytest.approx(straight["final"]["test"]["top1"])
    model, _ = load_model(straight["model_path"])
    last = load_training_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")
    assert all(torch.equal(v, last["state_dict"][k]) for k, v in model.state_dict().items())
