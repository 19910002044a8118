"""The MediaPipe -> SPOTER joint mapping, on synthetic landmark lists (no MediaPipe needed).

The expected MediaPipe indices are written out here by hand from MediaPipe's documentation
(pose: 0 nose, 2 left eye, 5 right eye, 7/8 ears, 11/12 shoulders, 13/14 elbows, 15/16 wrists;
hand: 0 wrist, 1-4 thumb CMC..tip, 5-8 index MCP..tip, ..., 17-20 pinky MCP..tip), not derived
from the module's tables, so a wrong table fails here.
"""

from types import SimpleNamespace

import numpy as np
import pytest

from slr_fused.data.csv_format import read_pose_csv, write_pose_csv
from slr_fused.data.joints import BODY_JOINTS, HAND_JOINTS
from slr_fused.extract.landmarks import (MP_HAND_LANDMARKS, MP_POSE_LANDMARKS, body_from_pose,
                                         frame_from_holistic, hand_from_mediapipe)

EXPECTED_BODY = {"nose": 0, "rightEye": 5, "leftEye": 2, "rightEar": 8, "leftEar": 7,
                 "rightShoulder": 12, "leftShoulder": 11, "rightElbow": 14, "leftElbow": 13,
                 "rightWrist": 16, "leftWrist": 15}
EXPECTED_HAND = [0, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17, 4, 3, 2, 1]


def distinct_points(n, offset=0.0):
    """(n, 2) points that identify their index: x = 0.01 * (i + 1) + offset, y = 0.5 + 0.007 * i."""
    i = np.arange(n, dtype=np.float32)
    return np.stack([0.01 * (i + 1) + offset, 0.5 + 0.007 * i], axis=-1).astype(np.float32)


def as_landmark_list(points):
    """What Holistic returns: an object whose .landmark holds objects with x, y, z, visibility."""
    return SimpleNamespace(landmark=[SimpleNamespace(x=float(x), y=float(y), z=0.1, visibility=0.9)
                                     for x, y in points])


def test_body_joints_take_the_documented_pose_landmarks():
    pose = distinct_points(33)
    body = body_from_pose(pose)
    assert body.shape == (12, 2)
    for name, index in EXPECTED_BODY.items():
        np.testing.assert_array_equal(body[BODY_JOINTS.index(name)], pose[index], err_msg=name)


def test_neck_is_the_mid_point_of_the_shoulders():
    pose = distinct_points(33)
    pose[11] = (0.70, 0.40)  # person's left shoulder: image right
    pose[12] = (0.30, 0.44)
    neck = body_from_pose(pose)[BODY_JOINTS.index("neck")]
    np.testing.assert_allclose(neck, (0.50, 0.42), atol=1e-6)


def test_hand_joints_are_reordered_to_spoter_order():
    hand = distinct_points(21)
    mapped = hand_from_mediapipe(hand)
    assert mapped.shape == (21, 2)
    np.testing.assert_array_equal(mapped, hand[EXPECTED_HAND])
    # Spot checks by name, the way a reader of the CSV would look them up.
    assert tuple(mapped[HAND_JOINTS.index("thumbCMC")]) == tuple(hand[1])
    assert tuple(mapped[HAND_JOINTS.index("indexTip")]) == tuple(hand[8])
    assert tuple(mapped[HAND_JOINTS.index("littleMCP")]) == tuple(hand[17])


def test_frame_layout_and_left_right_are_the_signers():
    pose, left, right = distinct_points(33), distinct_points(21, 0.3), distinct_points(21, 0.6)
    frame = frame_from_holistic(as_landmark_list(pose), as_landmark_list(left), as_landmark_list(right))
    assert frame.shape == (54, 2) and frame.dtype == np.float32
    np.testing.assert_allclose(frame[12:33], left[EXPECTED_HAND], atol=1e-7)   # left hand block
    np.testing.assert_allclose(frame[33:54], right[EXPECTED_HAND], atol=1e-7)  # right hand block
    # Body leftWrist is the same (signer's left) side as the left-hand block.
    np.testing.assert_allclose(frame[BODY_JOINTS.index("leftWrist")], pose[15], atol=1e-7)


def test_missing_parts_become_zeros():
    pose = distinct_points(33)
    frame = frame_from_holistic(pose, None, distinct_points(21))
    assert (frame[:12] != 0).any(-1).all()
    assert (frame[12:33] == 0).all()
    assert (frame[33:] != 0).any(-1).all()
    assert (frame_from_holistic(None, None, None) == 0).all()


def test_wrong_landmark_counts_are_rejected():
    with pytest.raises(ValueError, match="expected 33"):
        body_from_pose(distinct_points(25))  # e.g. upper-body-only pose of old MediaPipe
    with pytest.raises(ValueError, match="expected 21"):
        hand_from_mediapipe(distinct_points(20))


def test_mapped_frame_lands_in_the_named_csv_columns(tmp_path):
    """Through write_pose_csv, each value ends up in the column its name says."""
    import csv
    pose, left, right = distinct_points(33), distinct_points(21, 0.3), distinct_points(21, 0.6)
    frame = frame_from_holistic(pose, left, right)
    path = tmp_path / "one.csv"
    write_pose_csv(path, [np.stack([frame, frame])], [0])
    with open(path, newline="") as handle:
        row = next(csv.DictReader(handle))
    first = lambda column: float(row[column].strip("[]").split(",")[0])  # noqa: E731
    assert first("leftWrist_X") == pytest.approx(pose[15, 0], abs=1e-5)
    assert first("rightShoulder_Y") == pytest.approx(pose[12, 1], abs=1e-5)
    assert first("neck_X") == pytest.approx((pose[11, 0] + pose[12, 0]) / 2, abs=1e-5)
    assert first("thumbCMC_left_X") == pytest.approx(left[1, 0], abs=1e-5)
    assert first("indexTip_right_Y") == pytest.approx(right[8, 1], abs=1e-5)
    assert read_pose_csv(path, use_cache=False).frames.shape == (2, 54, 2)


def test_landmark_name_tables_match_mediapipe():
    """When MediaPipe is installed, our written-out name order is its enum order."""
    try:
        import mediapipe as mp
        pose_enum, hand_enum = mp.solutions.pose.PoseLandmark, mp.solutions.hands.HandLandmark
    except (ImportError, AttributeError) as error:
        print(f"SKIP: MediaPipe 0.10.21 not importable ({error})")
        pytest.skip(f"MediaPipe 0.10.21 not importable ({error})")
    assert tuple(m.name for m in sorted(pose_enum, key=int)) == MP_POSE_LANDMARKS
    assert tuple(m.name for m in sorted(hand_enum, key=int)) == MP_HAND_LANDMARKS


def test_conventions_match_the_mediapipe_recorded_datasets(shared_data):
    """The real datasets (recorded with MediaPipe Holistic) follow the conventions extraction
    writes: the `_left_` hand's wrist sits on body `leftWrist` (both the signer's left), and hand
    joints run tip -> base per finger with the thumb's CMC nearest the wrist (SPOTER order)."""
    from slr_fused.data.joints import NUM_BODY, NUM_HAND
    frames = read_pose_csv(shared_data / "bsl16" / "bsl16_test.csv").frames
    body = frames[:, :NUM_BODY]
    for side, start in (("left", NUM_BODY), ("right", NUM_BODY + NUM_HAND)):
        other = "right" if side == "left" else "left"
        wrist = frames[:, start]
        seen = (wrist != 0).all(-1)
        same = np.median(np.linalg.norm(wrist[seen] - body[seen, BODY_JOINTS.index(f"{side}Wrist")], axis=-1))
        cross = np.median(np.linalg.norm(wrist[seen] - body[seen, BODY_JOINTS.index(f"{other}Wrist")], axis=-1))
        assert same < 0.1 < cross, (side, same, cross)
        hand = frames[seen, start:start + NUM_HAND]
        reach = np.linalg.norm(hand - hand[:, :1], axis=-1).mean(0)
        for finger in ("index", "middle", "ring", "little"):
            chain = [reach[HAND_JOINTS.index(f"{finger}{j}")] for j in ("Tip", "DIP", "PIP", "MCP")]
            assert chain == sorted(chain, reverse=True), (side, finger, chain)
        thumb = [reach[HAND_JOINTS.index(f"thumb{j}")] for j in ("Tip", "IP", "MP", "CMC")]
        assert thumb == sorted(thumb, reverse=True) and thumb[-1] == reach[1:].min()
