import pytest
import torch

from slr_fused.checkpoint import CheckpointError, load_model, save_model
from slr_fused.models.siformer import SiFormer, SiFormerConfig

SMALL = dict(num_classes=4, d_ff=32, num_enc_layers=1, num_dec_layers=1)


def _model():
    torch.manual_seed(0)
    return SiFormer(SiFormerConfig(**SMALL, cross_attn_heads=2)).eval()


def test_round_trip_gives_identical_predictions(tmp_path):
    model = _model()
    path = save_model(tmp_path / "m.pt", model, ["a", "b", "c", "d"], {"note": 1})
    loaded, info = load_model(path)
    x = [torch.randn(2, 6, 21, 2), torch.randn(2, 6, 21, 2), torch.randn(2, 6, 12, 2)]
    torch.testing.assert_close(loaded(*x), model(*x))
    assert info["class_names"] == ["a", "b", "c", "d"] and info["metadata"] == {"note": 1}
    assert info["config"].cross_attn_heads == 2
    # plain data only: the strictest loader accepts it
    torch.load(path, weights_only=True)


def test_corrupt_truncated_foreign_and_missing_files(tmp_path):
    path = save_model(tmp_path / "m.pt", _model())
    truncated = tmp_path / "t.pt"
    truncated.write_bytes(path.read_bytes()[:1000])
    garbage = tmp_path / "g.pt"
    garbage.write_bytes(b"not a model")
    foreign = tmp_path / "f.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    for bad, message in [(truncated, "not a readable"), (garbage, "not a readable"),
                         (foreign, "not an slr-fused model"), (tmp_path / "none.pt", "no such model file")]:
        with pytest.raises(CheckpointError, match=message) as info:
            load_model(bad)
        assert str(bad) in str(info.value)


def test_weights_that_do_not_fit_the_architecture(tmp_path):
    path = save_model(tmp_path / "m.pt", _model())
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["classifier.weight"] = torch.zeros(9, 108)
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not match"):
        load_model(path)


def test_a_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = save_model(tmp_path / "m.pt", _model())
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", explode)
    with pytest.raises(OSError):
        save_model(path, _model())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left behind
