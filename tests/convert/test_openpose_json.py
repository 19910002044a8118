"""OpenPose JSON folders on generated files: pixels, missing people, the neck, bad inputs."""

import json

import numpy as np

from slr_fused.cli import main
from slr_fused.data.csv_format import read_pose_csv
from slr_fused.data.joints import BODY_INDEX, NUM_BODY, NUM_HAND


def _person(rng, scale):
    body = np.concatenate([rng.uniform(0.2, 0.8, (25, 2)) * scale, np.full((25, 1), 0.9)], -1)
    hands = [np.concatenate([rng.uniform(0.2, 0.8, (21, 2)) * scale, np.full((21, 1), 0.7)], -1)
             for _ in range(2)]
    return body, hands


def _write_clip(folder, rng, frames=4, scale=(640, 480)):
    folder.mkdir(parents=True)
    people = []
    for t in range(frames):
        body, (left, right) = _person(rng, np.array(scale))
        if t == 1:
            body[1, 2] = 0                     # neck not detected: the shoulders' mid-point
        if t == 2:
            left[:, 2] = 0                     # left hand not detected
        bystander = {"pose_keypoints_2d": (body * [1, 1, 0.1]).ravel().tolist()}
        person = {"pose_keypoints_2d": body.ravel().tolist(),
                  "hand_left_keypoints_2d": left.ravel().tolist(),
                  "hand_right_keypoints_2d": right.ravel().tolist(), "face_keypoints_2d": []}
        content = {"version": 1.3, "people": [bystander, person] if t != 3 else []}
        (folder / f"clip_{t:012d}_keypoints.json").write_text(json.dumps(content))
        people.append((body, left, right))
    return people


def test_openpose_json_folders_convert(tmp_path):
    rng = np.random.default_rng(0)
    people = _write_clip(tmp_path / "json" / "hello" / "clip1", rng)
    _write_clip(tmp_path / "json" / "bye" / "clip2", rng)
    assert main(["convert", str(tmp_path / "json"), "-o", str(tmp_path / "op.csv"),
                 "--image_size", "640x480", "--no_progress"]) == 0
    data = read_pose_csv(tmp_path / "op.csv", use_cache=False)
    assert (tmp_path / "op_classes.txt").read_text().split() == ["bye", "hello"]
    frames = data.sample(int(np.flatnonzero(data.labels == 1)[0]))
    size = np.array([640, 480])
    body, left, right = people[0]
    np.testing.assert_allclose(frames[0, BODY_INDEX["rightWrist"]], body[4, :2] / size, atol=1e-5)
    np.testing.assert_allclose(frames[0, BODY_INDEX["leftEar"]], body[18, :2] / size, atol=1e-5)
    np.testing.assert_allclose(frames[0, BODY_INDEX["neck"]], body[1, :2] / size, atol=1e-5)
    np.testing.assert_allclose(frames[1, BODY_INDEX["neck"]],
                               (people[1][0][2, :2] + people[1][0][5, :2]) / 2 / size, atol=1e-5)
    np.testing.assert_allclose(frames[0, NUM_BODY + 1], left[8, :2] / size, atol=1e-5)  # indexTip
    np.testing.assert_allclose(frames[0, NUM_BODY + NUM_HAND + 20], right[1, :2] / size, atol=1e-5)
    assert not frames[2, NUM_BODY:NUM_BODY + NUM_HAND].any()
    assert not frames[3].any()                                         # nobody in the frame


def test_pixels_without_an_image_size_and_bad_json_give_one_line(tmp_path, capsys):
    _write_clip(tmp_path / "json" / "hello" / "clip1", np.random.default_rng(1))
    assert main(["convert", str(tmp_path / "json"), "-o", str(tmp_path / "op.csv")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--image_size" in error
    (tmp_path / "json" / "hello" / "clip1" / "clip_000000000000_keypoints.json").write_text("{oops")
    assert main(["convert", str(tmp_path / "json"), "-o", str(tmp_path / "op.csv"),
                 "--image_size", "640x480"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "not an OpenPose JSON file" in error
    assert not (tmp_path / "op.csv").exists()
