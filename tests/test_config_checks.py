"""Every bad setting is one line naming the flag (or stored field); never a traceback."""

import json

import pytest
import torch

from slr_fused.checkpoint import CheckpointError, load_model, save_model
from slr_fused.cli import main
from slr_fused.models.siformer import SiFormer, SiFormerConfig

BAD_FLAGS = [
    ("--num_enc_layers", "0"), ("--num_dec_layers", "0"), ("--d_ff", "0"), ("--max_frames", "0"),
    ("--num_frames", "0"), ("--scheduler_milestones", "-5"), ("--augmentations_prob", "1.5"),
    ("--mirror", "2"), ("--dropout", "1"), ("--dropout", "-0.1"), ("--lr", "0"), ("--lr", "nan"),
    ("--weight_decay", "-1"), ("--validation_set_size", "1"), ("--batch_size", "0"),
    ("--epochs", "0"), ("--cmcl_temperature", "0"), ("--lambda_consistency", "-1"),
    ("--lambda_alignment", "inf"), ("--gaussian_std", "-0.1"), ("--num_workers", "-1"),
    ("--cross_attn_heads", "0"), ("--num_classes", "0"), ("--scheduler_gamma", "0"),
    ("--cmcl_warmup_epochs", "-1"), ("--cross_attn_dropout", "1.5"), ("--experimental_train_split", "0"), ("--seed", "-1"),
]


def _one_line(capsys):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("flag, value", BAD_FLAGS)
def test_a_bad_training_flag_is_one_line_naming_it(tmp_path, capsys, flag, value):
    assert main(["train", "--runs_dir", str(tmp_path), flag, value]) == 2
    assert flag in _one_line(capsys)
    assert list(tmp_path.iterdir()) == []   # refused before anything is written


def _tampered_model(tmp_path, **changes):
    model = SiFormer(SiFormerConfig(num_classes=3, num_enc_layers=1, num_dec_layers=1, d_ff=16,
                                    max_frames=8))
    path = save_model(tmp_path / "model.pt", model, ["a", "b", "c"])
    payload = torch.load(path, weights_only=True)
    config = json.loads(payload["config"])
    for key, value in changes.items():
        if key == "class_names":
            payload["class_names"] = value
        else:
            config[key] = value
    payload["config"] = json.dumps(config)
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("changes, named", [
    ({"d_ff": "abc"}, "d_ff"), ({"num_enc_layers": 0}, "num_enc_layers"),
    ({"dropout": 2.0}, "dropout"), ({"cross_attn_dropout": -1.0}, "cross_attn_dropout"), ({"max_frames": 1.5}, "max_frames"),
    ({"use_gating": "yes"}, "use_gating"), ({"enc_heads": [3, 3]}, "enc_heads"),
    ({"kernel": "fast"}, "kernel"), ({"class_names": "not json"}, "class_names"),
    ({"class_names": json.dumps({"a": 1})}, "class_names"),
])
def test_a_checkpoint_with_bad_stored_settings_is_one_clear_error(tmp_path, capsys, changes, named):
    path = _tampered_model(tmp_path, **changes)
    with pytest.raises(CheckpointError, match=named):
        load_model(path)
    data = tmp_path / "d.csv"
    data.write_text("labels\n")
    assert main(["evaluate", str(path), "--data", str(data)]) == 2
    err = _one_line(capsys)
    assert named in err and str(path) in err


@pytest.mark.parametrize("flag", ["--batch_size", "--num_frames"])
def test_evaluate_flags_are_checked(tmp_path, capsys, flag):
    assert main(["evaluate", "m.pt", "--data", "d.csv", flag, "0"]) == 2
    assert flag in _one_line(capsys)
