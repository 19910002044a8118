"""Every joint map against its source's documentation, and extraction == conversion.

The index tables below are written by hand from the sources' documentation, not derived from
the module: MediaPipe Pose's landmark list (0 nose, 2 left eye, 5 right eye, 7 left ear, 8 right
ear, 11/12 left/right shoulder, 13/14 elbows, 15/16 wrists), MediaPipe Hands (0 wrist, 1-4 thumb
CMC, MCP, IP, tip, 5-8 index MCP..tip, 9-12 middle, 13-16 ring, 17-20 pinky) and OpenPose's BODY_25
output format (0 Nose, 1 Neck, 2 RShoulder, 3 RElbow, 4 RWrist, 5 LShoulder, 6 LElbow, 7 LWrist,
15 REye, 16 LEye, 17 REar, 18 LEar); OpenPose hands use the MediaPipe hand order.
"""

import json

import numpy as np

from slr_fused.convert import mp_data, openpose_json
from slr_fused.data import joint_maps as jm
from slr_fused.data.joints import BODY_JOINTS, HAND_JOINTS
from slr_fused.extract.landmarks import frame_from_holistic

MEDIAPIPE_POSE_DOC = {"nose": 0, "leftEye": 2, "rightEye": 5, "leftEar": 7, "rightEar": 8,
                      "leftShoulder": 11, "rightShoulder": 12, "leftElbow": 13, "rightElbow": 14,
                      "leftWrist": 15, "rightWrist": 16}
OPENPOSE_DOC = {"nose": 0, "neck": 1, "rightShoulder": 2, "rightElbow": 3, "rightWrist": 4,
                "leftShoulder": 5, "leftElbow": 6, "leftWrist": 7, "rightEye": 15, "leftEye": 16,
                "rightEar": 17, "leftEar": 18}
HAND_DOC = {"wrist": 0, "thumbCMC": 1, "thumbMP": 2, "thumbIP": 3, "thumbTip": 4,
            "indexMCP": 5, "indexPIP": 6, "indexDIP": 7, "indexTip": 8,
            "middleMCP": 9, "middlePIP": 10, "middleDIP": 11, "middleTip": 12,
            "ringMCP": 13, "ringPIP": 14, "ringDIP": 15, "ringTip": 16,
            "littleMCP": 17, "littlePIP": 18, "littleDIP": 19, "littleTip": 20}


def _first_candidate_indices(plan, joint):
    return sorted(plan[BODY_JOINTS.index(joint)][0].tolist())


def test_mediapipe_pose_map_matches_the_documented_indices():
    for joint, index in MEDIAPIPE_POSE_DOC.items():
        assert _first_candidate_indices(jm.MEDIAPIPE_POSE_PLAN, joint) == [index], joint
    assert _first_candidate_indices(jm.MEDIAPIPE_POSE_PLAN, "neck") == [11, 12]  # the shoulders


def test_openpose_body_map_matches_body_25():
    for joint, index in OPENPOSE_DOC.items():
        assert _first_candidate_indices(jm.OPENPOSE_BODY_PLAN, joint) == [index], joint
    neck = jm.OPENPOSE_BODY_PLAN[BODY_JOINTS.index("neck")]
    assert sorted(neck[1].tolist()) == [2, 5]  # the shoulders when the neck is not detected


def test_hand_map_matches_the_documented_21_point_order():
    assert [HAND_DOC[name] for name in HAND_JOINTS] == jm.HAND_ORDER.tolist()
    assert jm.OPENPOSE_HAND == jm.MP_HAND_LANDMARKS


def test_body_mirror_pairs_left_and_right():
    mirrored = [BODY_JOINTS[i] for i in jm.BODY_MIRROR]
    assert mirrored[:2] == ["nose", "neck"]
    assert all(a.replace("left", "right") == b or a.replace("right", "left") == b
               for a, b in zip(BODY_JOINTS[2:], mirrored[2:]))


def _landmarks(rng, frames):
    pose = rng.uniform(0.05, 0.95, (frames, 33, 2)).astype(np.float32)
    left = rng.uniform(0.05, 0.95, (frames, 21, 2)).astype(np.float32)
    right = rng.uniform(0.05, 0.95, (frames, 21, 2)).astype(np.float32)
    return pose, left, right


def test_converters_equal_the_extraction_coordinate_for_coordinate(tmp_path):
    """The same landmarks through `slr extract`'s mapping, MP_Data (1662 values) and OpenPose JSON
    (pixels of a power-of-two image, so the division is exact) give identical frames."""
    rng = np.random.default_rng(0)
    pose, left, right = _landmarks(rng, 4)
    left[2] = 0  # a frame without the left hand
    expected = np.stack([frame_from_holistic(pose[t], None if t == 2 else left[t], right[t])
                         for t in range(4)])

    vectors = np.zeros((4, 1662))
    vectors[:, :132] = np.concatenate([pose, np.ones((4, 33, 2))], -1).reshape(4, -1)
    vectors[:, 1536:1599] = np.concatenate([left, np.zeros((4, 21, 1))], -1).reshape(4, -1)
    vectors[:, 1599:] = np.concatenate([right, np.zeros((4, 21, 1))], -1).reshape(4, -1)
    np.testing.assert_array_equal(mp_data.frames_from_vectors(vectors), expected)

    # OpenPose: BODY_25 points at the MediaPipe pose's positions for the 11 mapped joints.
    size = np.array([1024.0, 512.0])
    for t in range(4):
        body = np.zeros((25, 3))
        for joint, op_index in OPENPOSE_DOC.items():
            if joint != "neck":
                body[op_index] = [*(pose[t, MEDIAPIPE_POSE_DOC[joint]] * size), 0.9]
        hands = [np.concatenate([h[t] * size, np.full((21, 1), 0.8 if h[t].any() else 0.0)], -1)
                 for h in (left, right)]
        person = {"pose_keypoints_2d": body.ravel().tolist(),
                  "hand_left_keypoints_2d": hands[0].ravel().tolist(),
                  "hand_right_keypoints_2d": hands[1].ravel().tolist()}
        (tmp_path / f"clip_{t:012d}_keypoints.json").write_text(json.dumps({"people": [person]}))
    converted = openpose_json.read_sequence(tmp_path, image_size=(1024, 512))
    np.testing.assert_array_equal(converted, expected)  # the neck from the shoulders, as extraction


def test_pose_file_conversion_equals_the_extraction():
    """A MediaPipe Holistic .pose (pixels of a 1024 x 512 image: exact division) built from the
    same landmarks converts to exactly what extraction gives; missing points (confidence 0) are 0."""
    import pytest
    pytest.importorskip("pose_format", reason="pose-format not installed (the convert extra)")
    from pose_format import Pose
    from pose_format.numpy.pose_body import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderComponent, PoseHeaderDimensions
    from slr_fused.convert.pose_file import frames_from_pose

    rng = np.random.default_rng(1)
    pose, left, right = _landmarks(rng, 3)
    right[1] = 0
    expected = np.stack([frame_from_holistic(pose[t], left[t], None if t == 1 else right[t])
                         for t in range(3)])
    components = [PoseHeaderComponent(name, list(points), [], [], "XYZC") for name, points in
                  (("POSE_LANDMARKS", jm.MP_POSE_LANDMARKS), ("LEFT_HAND_LANDMARKS", jm.MP_HAND_LANDMARKS),
                   ("RIGHT_HAND_LANDMARKS", jm.MP_HAND_LANDMARKS))]
    header = PoseHeader(0.1, PoseHeaderDimensions(1024, 512, 0), components)
    xy = np.concatenate([pose, left, right], axis=1) * np.array([1024, 512], np.float32)
    data = np.concatenate([xy, np.zeros((3, 75, 1), np.float32)], -1)[:, None]
    confidence = np.where((xy != 0).any(-1), 0.9, 0.0).astype(np.float32)[:, None]
    body = NumPyPoseBody(25, np.ma.masked_array(data, mask=np.repeat(confidence[..., None] == 0, 3, -1)),
                         confidence)
    np.testing.assert_array_equal(frames_from_pose(Pose(header, body)), expected)
