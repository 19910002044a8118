""".pose files (pose-format): the two real samples, joints where a body has them, training on
the result, and a file without hands."""

from pathlib import Path

import numpy as np
import pytest

from slr_fused.cli import main
from slr_fused.data.csv_format import read_pose_csv
from slr_fused.data.joints import BODY_INDEX, NUM_BODY, NUM_HAND
from slr_fused.training import TrainConfig, train

pose_format = pytest.importorskip("pose_format", reason="pose-format not installed (the convert extra)")

SIZES = {"mediapipe": 1250, "openpose": 1000}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    samples = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose_samples"
    if not (samples / "mediapipe.pose").is_file():
        print(f"SKIP: no .pose samples at {samples}")
        pytest.skip(f"no .pose samples at {samples}")
    folder = tmp_path_factory.mktemp("pose")
    # Each file under two labels, so the CSV has two classes to train on.
    lines = [f"{samples / name}.pose,{name}" for name in SIZES] * 2
    lines[2:] = [line.replace(",", ",again_") for line in lines[2:]]
    listing = folder / "clips.txt"
    listing.write_text("\n".join(lines) + "\n")
    assert main(["convert", str(listing), "-o", str(folder / "poses_train.csv"), "--no_progress"]) == 0
    return folder


def test_joints_are_where_a_body_has_them(converted):
    data = read_pose_csv(converted / "poses_train.csv", use_cache=False)
    for k, name in enumerate(SIZES):
        frames = data.sample(k)
        seen = (frames != 0).any(-1)
        nose, left, right = (BODY_INDEX[j] for j in ("nose", "leftShoulder", "rightShoulder"))
        ok = seen[:, nose] & seen[:, left] & seen[:, right]
        assert ok.mean() > 0.3, name
        mid_y = (frames[ok, left, 1] + frames[ok, right, 1]) / 2
        assert (frames[ok, nose, 1] < mid_y).all(), name            # the nose above the shoulders
        assert (frames[ok, left, 0] > frames[ok, right, 0]).all()     # the signer faces the camera
        for wrist, hand in (("leftWrist", NUM_BODY), ("rightWrist", NUM_BODY + NUM_HAND)):
            both = seen[:, BODY_INDEX[wrist]] & seen[:, hand]
            if both.sum() < 10:
                continue
            pixels = np.linalg.norm(frames[both, BODY_INDEX[wrist]] - frames[both, hand], axis=-1) * SIZES[name]
            assert np.median(pixels) < 10, (name, wrist, np.median(pixels))
    assert (converted / "poses_classes.txt").read_text().split() == [
        "again_mediapipe", "again_openpose", "mediapipe", "openpose"]


def test_a_model_trains_one_epoch_on_the_converted_files(converted, tmp_path):
    result = train(TrainConfig(training_set_path=str(converted / "poses_train.csv"), epochs=1,
                               d_ff=16, num_enc_layers=1, num_dec_layers=1, batch_size=4,
                               max_frames=64, num_frames=16, runs_dir=str(tmp_path),
                               experiment_name="pose", device="cpu", progress=False,
                               save_checkpoints=False, mirror=0.5, canonical_hand="right"),
                   log=lambda _: None)
    assert np.isfinite(result["history"][-1]["train"]["loss"]) and Path(result["model_path"]).is_file()
    # Prediction applies the dominant-hand setting the model was trained with.
    from slr_fused.extract.predict import load_predictor
    assert load_predictor(result["model_path"]).canonical_hand == "right"


def test_a_pose_file_without_hands_is_refused_in_one_line(tmp_path, capsys):
    from pose_format import Pose
    samples = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose_samples"
    if not (samples / "mediapipe.pose").is_file():
        pytest.skip(f"no .pose samples at {samples}")
    pose = Pose.read((samples / "mediapipe.pose").read_bytes())
    body_only = pose.get_components(["POSE_LANDMARKS", "FACE_LANDMARKS"])
    target = tmp_path / "body_only.pose"
    with open(target, "wb") as handle:
        body_only.write(handle)
    before = target.read_bytes()
    assert main(["convert", str(target), "-o", str(target), "--overwrite"]) == 2
    assert "one of the inputs" in capsys.readouterr().err
    assert main(["convert", str(target), "-o", str(tmp_path / "out.csv")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "no hand components" in error
    assert target.read_bytes() == before and not (tmp_path / "out.csv").exists()
