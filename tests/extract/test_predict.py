"""``slr predict``: videos and CSVs -> top-k signs, normalised exactly as in training."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from slr_fused.checkpoint import CheckpointError
from slr_fused.data.csv_format import write_pose_csv
from slr_fused.data.normalization import normalize_sample
from slr_fused.data.synthetic import CLASSES, make_split
from slr_fused.extract.cli import add_predict_parser, run_predict
from slr_fused.extract.predict import Model, PredictionError, load_predictor, predict, predict_frames
from slr_fused.training import TrainConfig, train


def predict_cli():
    parser = argparse.ArgumentParser(prog="slr")
    add_predict_parser(parser.add_subparsers(dest="command"))
    return parser


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The models here are tiny: on a busy CI machine several OpenMP threads spin against each
    other and a 5 microsecond matmul takes 10 ms, so these tests run torch on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, one_torch_thread):
    """A small model trained for one epoch on a few synthetic samples (seconds, not minutes)."""
    folder = tmp_path_factory.mktemp("tiny")
    samples, labels = make_split(2, seed=1)
    write_pose_csv(folder / "tiny_train.csv", samples, labels)
    (folder / "tiny_classes.txt").write_text("\n".join(CLASSES) + "\n")
    result = train(TrainConfig(training_set_path=str(folder / "tiny_train.csv"), epochs=1, d_ff=32,
                               num_enc_layers=1, num_dec_layers=1, batch_size=8,
                               runs_dir=str(folder / "runs"), progress=False), log=lambda _: None)
    return Path(result["model_path"])


def test_predict_a_video_end_to_end(mediapipe, astronaut_video, checkpoint, capsys):
    args = predict_cli().parse_args(["predict", str(astronaut_video), "-m", str(checkpoint),
                                     "-k", "3", "--json"])
    assert run_predict(args) == 0
    out = json.loads(capsys.readouterr().out)
    (result,) = out["results"]
    print(json.dumps(result, indent=1))
    assert result["error"] is None and result["frames"] == 12
    assert "no hand found" in result["note"]  # the photo shows no hands: predicted, and said so
    probabilities = [p["probability"] for p in result["predictions"]]
    assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
    assert 0 < sum(probabilities) <= 1 + 1e-6
    # Class names come from the checkpoint, and match its label numbering.
    for p in result["predictions"]:
        assert p["class"] == CLASSES[p["label"]]
    assert out["timing"]["extraction_s"] > 0 and out["timing"]["model_s"] > 0
    assert result["extraction_s"] > 0 and result["model_s"] > 0


def test_video_and_its_extracted_csv_predict_the_same(mediapipe, astronaut_video, checkpoint, tmp_path):
    from slr_fused.extract import extract_dataset
    extract_dataset([astronaut_video], tmp_path / "astro.csv", progress=False, log=lambda _: None)
    report = predict([astronaut_video, tmp_path / "astro.csv"], checkpoint, top_k=8)
    video, row = report.predictions
    assert row.input.endswith("astro.csv row 1") and row.frames == video.frames == 12
    # Every class's probability agrees (the CSV stores 5 decimals, hence the tolerance).
    from_video, from_csv = ({label: p for label, _, p in x.top} for x in (video, row))
    assert sorted(from_video) == sorted(from_csv) == list(range(8))
    for label in from_video:
        assert from_video[label] == pytest.approx(from_csv[label], abs=1e-3), label
    table = report.table()
    print(table)
    assert video.top[0][1] in table and "landmark extraction" in table


class SpyRunner:
    """Records what the model receives and returns fixed logits."""

    def __init__(self, num_classes=4):
        self.calls = []
        self.logits = torch.tensor([[0.0, 2.0, 1.0, -1.0]])[:, :num_classes]

    def __call__(self, lh, rh, body, padding_mask=None):
        self.calls.append({"lh": lh, "rh": rh, "body": body, "padding_mask": padding_mask})
        return self.logits


def raw_sample(length, seed=0):
    rng = np.random.default_rng(seed)
    frames = rng.uniform(0.2, 0.8, (length, 54, 2)).astype(np.float32)
    frames[: length // 2, 12:33] = 0  # the left hand is missing in the first half
    return frames


def test_samples_are_resampled_and_normalised_as_in_training():
    spy = SpyRunner()
    names = ["a", "b", "c", "d"]
    # A model trained with a fixed length (--num_frames 8) sees every sample at that length.
    fixed = Model(spy, names, 4, max_frames=64, num_frames=8, source="spy")
    top, _ = predict_frames(fixed, raw_sample(13), top_k=2)
    assert spy.calls[-1]["body"].shape == (1, 8, 12, 2)
    # Otherwise lengths are kept, and only samples longer than max_frames are shortened.
    free = Model(spy, names, 4, max_frames=5, num_frames=None, source="spy")
    predict_frames(free, raw_sample(13), top_k=2)
    assert spy.calls[-1]["lh"].shape == (1, 5, 21, 2)
    frames = raw_sample(4)
    predict_frames(free, frames, top_k=2)
    call = spy.calls[-1]
    expected = normalize_sample(frames)
    for key in ("lh", "rh", "body"):
        np.testing.assert_allclose(call[key][0].numpy(), expected[key], atol=1e-6)
    assert not call["padding_mask"].any()
    # Softmax of the logits, best first, named by the class list.
    probabilities = torch.softmax(spy.logits[0], 0)
    assert [name for _, name, _ in top] == ["b", "c"]
    assert top[0][2] == pytest.approx(float(probabilities[1]))


def test_top_k_larger_than_the_classes_is_capped():
    top, _ = predict_frames(Model(SpyRunner(3), ["x", "y", "z"], 3, 64, None, "spy"), raw_sample(3), 10)
    assert len(top) == 3 and sum(p for *_, p in top) == pytest.approx(1.0)


def test_bad_model_and_input_errors(checkpoint, tmp_path):
    samples, labels = make_split(1, seed=2)
    write_pose_csv(tmp_path / "few.csv", samples[:2], labels[:2])
    with pytest.raises(CheckpointError, match="no such model file"):
        predict([tmp_path / "few.csv"], tmp_path / "nope.pt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PredictionError, match="no video files in the folder"):
        predict([tmp_path / "empty"], checkpoint)
    with pytest.raises(PredictionError, match="top-k must be at least 1"):
        predict([tmp_path / "few.csv"], checkpoint, top_k=0)


def test_a_bad_input_does_not_stop_the_others(checkpoint, tmp_path, capsys):
    samples, labels = make_split(1, seed=2)
    write_pose_csv(tmp_path / "few.csv", samples[:2], labels[:2])
    (tmp_path / "broken.csv").write_text("labels,nose_X\n0,[0.1]\n")
    args = predict_cli().parse_args(["predict", str(tmp_path / "broken.csv"), str(tmp_path / "few.csv"),
                                     "-m", str(checkpoint), "--json"])
    assert run_predict(args) == 1
    results = json.loads(capsys.readouterr().out)["results"]
    assert "missing column(s)" in results[0]["error"]
    assert [r["error"] for r in results[1:]] == [None, None]
    assert [r["true_label"] for r in results[1:]] == list(labels[:2])


def test_an_onnx_export_predicts_like_its_checkpoint(checkpoint, tmp_path):
    """Through slr_fused.export's ONNX Runtime runner; a static export takes one length, so every
    sample is resampled to it, exactly as the checkpoint trained with --num_frames 8 would."""
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
        from slr_fused.export.onnx import export_onnx
    except ImportError as error:
        print(f"SKIP: ONNX export not available ({error}); install slr-fused[export]")
        pytest.skip(f"ONNX export not available ({error})")
    onnx_path = tmp_path / "model.onnx"
    export_onnx(checkpoint, onnx_path, length=8, verify=False)
    samples, labels = make_split(1, seed=3)
    write_pose_csv(tmp_path / "few.csv", samples[:3], labels[:3])
    exported = predict([tmp_path / "few.csv"], onnx_path, top_k=8)
    assert (exported.model.num_frames, exported.model.max_frames) == (8, 8)
    assert exported.model.class_names == CLASSES
    reference = load_predictor(checkpoint)
    reference.num_frames = 8
    for prediction, sample in zip(exported.predictions, samples[:3]):
        expected, _ = predict_frames(reference, np.round(sample, 5), top_k=8)  # the CSV keeps 5 decimals
        got = {label: p for label, _, p in prediction.top}
        for label, _, p in expected:
            assert got[label] == pytest.approx(p, abs=1e-4), (prediction.input, label)


def test_an_unreadable_onnx_file_is_one_clear_error(tmp_path):
    onnx_path = tmp_path / "model.onnx"
    onnx_path.write_bytes(b"\x08\x07 not a model")
    samples, labels = make_split(1, seed=2)
    write_pose_csv(tmp_path / "few.csv", samples[:1], labels[:1])
    with pytest.raises((ValueError, RuntimeError)) as raised:  # the CLI prints both as error: ...
        predict([tmp_path / "few.csv"], onnx_path)
    message = str(raised.value)
    print(message)
    assert str(onnx_path) in message and "\n" not in message
