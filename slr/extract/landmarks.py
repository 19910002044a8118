"""MediaPipe Holistic landmarks -> the 54 joints of the SPOTER/Siformer CSV, in one place.

The joint names and their order come from :mod:`slr_fused.data.joints`; this module only says
which MediaPipe landmark each of them is. Conventions (the same as the MediaPipe-recorded datasets
this project is tested on):

* "left" is the signer's left. Holistic's ``left_hand_landmarks`` is the person's left hand and
  pose landmark 15 (``LEFT_WRIST``) the person's left wrist, so ``leftWrist`` and the ``_left_``
  hand columns describe the same hand. In an unmirrored video of a signer facing the camera the
  left hand appears on the right half of the image (larger x).
* Coordinates are MediaPipe's normalised image coordinates (x, y in [0, 1] inside the image),
  kept as they are: body landmarks that MediaPipe places just outside the frame keep their
  slightly negative or > 1 values rather than being clipped.
* A body or hand that was not detected in a frame is all zeros (the CSV's "missing" value).
* neck = mid-point of the two shoulders (MediaPipe has no neck landmark).
"""

from typing import Optional

import numpy as np

from ..data.joints import BODY_JOINTS, HAND_JOINTS, NUM_BODY, NUM_HAND

NUM_JOINTS = NUM_BODY + 2 * NUM_HAND  # 54: body, left hand, right hand (write_pose_csv's order)

# MediaPipe's landmark names in MediaPipe's index order (mp.solutions.pose.PoseLandmark and
# mp.solutions.hands.HandLandmark); written out so the mapping can be tested without MediaPipe.
MP_POSE_LANDMARKS = (
    "NOSE", "LEFT_EYE_INNER", "LEFT_EYE", "LEFT_EYE_OUTER", "RIGHT_EYE_INNER", "RIGHT_EYE",
    "RIGHT_EYE_OUTER", "LEFT_EAR", "RIGHT_EAR", "MOUTH_LEFT", "MOUTH_RIGHT", "LEFT_SHOULDER",
    "RIGHT_SHOULDER", "LEFT_ELBOW", "RIGHT_ELBOW", "LEFT_WRIST", "RIGHT_WRIST", "LEFT_PINKY",
    "RIGHT_PINKY", "LEFT_INDEX", "RIGHT_INDEX", "LEFT_THUMB", "RIGHT_THUMB", "LEFT_HIP",
    "RIGHT_HIP", "LEFT_KNEE", "RIGHT_KNEE", "LEFT_ANKLE", "RIGHT_ANKLE", "LEFT_HEEL",
    "RIGHT_HEEL", "LEFT_FOOT_INDEX", "RIGHT_FOOT_INDEX",
)
MP_HAND_LANDMARKS = (
    "WRIST", "THUMB_CMC", "THUMB_MCP", "THUMB_IP", "THUMB_TIP",
    "INDEX_FINGER_MCP", "INDEX_FINGER_PIP", "INDEX_FINGER_DIP", "INDEX_FINGER_TIP",
    "MIDDLE_FINGER_MCP", "MIDDLE_FINGER_PIP", "MIDDLE_FINGER_DIP", "MIDDLE_FINGER_TIP",
    "RING_FINGER_MCP", "RING_FINGER_PIP", "RING_FINGER_DIP", "RING_FINGER_TIP",
    "PINKY_MCP", "PINKY_PIP", "PINKY_DIP", "PINKY_TIP",
)

# Our body joint -> the MediaPipe pose landmark(s) it is; two names = their mid-point.
BODY_SOURCES = {
    "nose": ("NOSE",),
    "neck": ("LEFT_SHOULDER", "RIGHT_SHOULDER"),
    "rightEye": ("RIGHT_EYE",),
    "leftEye": ("LEFT_EYE",),
    "rightEar": ("RIGHT_EAR",),
    "leftEar": ("LEFT_EAR",),
    "rightShoulder": ("RIGHT_SHOULDER",),
    "leftShoulder": ("LEFT_SHOULDER",),
    "rightElbow": ("RIGHT_ELBOW",),
    "leftElbow": ("LEFT_ELBOW",),
    "rightWrist": ("RIGHT_WRIST",),
    "leftWrist": ("LEFT_WRIST",),
}

# Our hand joint -> MediaPipe hand landmark. SPOTER names the thumb's second joint "MP" where
# MediaPipe says "MCP", and the little finger "PINKY".
HAND_SOURCES = {
    "wrist": "WRIST",
    "indexTip": "INDEX_FINGER_TIP", "indexDIP": "INDEX_FINGER_DIP",
    "indexPIP": "INDEX_FINGER_PIP", "indexMCP": "INDEX_FINGER_MCP",
    "middleTip": "MIDDLE_FINGER_TIP", "middleDIP": "MIDDLE_FINGER_DIP",
    "middlePIP": "MIDDLE_FINGER_PIP", "middleMCP": "MIDDLE_FINGER_MCP",
    "ringTip": "RING_FINGER_TIP", "ringDIP": "RING_FINGER_DIP",
    "ringPIP": "RING_FINGER_PIP", "ringMCP": "RING_FINGER_MCP",
    "littleTip": "PINKY_TIP", "littleDIP": "PINKY_DIP",
    "littlePIP": "PINKY_PIP", "littleMCP": "PINKY_MCP",
    "thumbTip": "THUMB_TIP", "thumbIP": "THUMB_IP", "thumbMP": "THUMB_MCP", "thumbCMC": "THUMB_CMC",
}

# Index arrays derived from the tables above, in the order of slr_fused.data.joints.
# BODY_PAIRS[j] = (a, b): body joint j is the mean of pose landmarks a and b (a == b for most).
BODY_PAIRS = np.array([[MP_POSE_LANDMARKS.index(BODY_SOURCES[name][0]),
                        MP_POSE_LANDMARKS.index(BODY_SOURCES[name][-1])] for name in BODY_JOINTS])
HAND_ORDER = np.array([MP_HAND_LANDMARKS.index(HAND_SOURCES[name]) for name in HAND_JOINTS])


def _as_xy(landmarks, expected: int, what: str) -> Optional[np.ndarray]:
    """A MediaPipe landmark list (or an (N, >=2) array) -> (N, 2) float32 x, y; None stays None."""
    if landmarks is None:
        return None
    points = getattr(landmarks, "landmark", landmarks)
    if isinstance(points, np.ndarray):
        xy = np.asarray(points, dtype=np.float32)[:, :2]
    else:
        xy = np.array([(p.x, p.y) for p in points], dtype=np.float32)
    if xy.shape != (expected, 2):
        raise ValueError(f"{what}: expected {expected} landmarks, got {len(xy)}")
    return xy


def body_from_pose(pose) -> np.ndarray:
    """33 MediaPipe pose landmarks -> (12, 2) body joints; zeros when there is no pose."""
    xy = _as_xy(pose, len(MP_POSE_LANDMARKS), "pose")
    if xy is None:
        return np.zeros((NUM_BODY, 2), np.float32)
    return 0.5 * (xy[BODY_PAIRS[:, 0]] + xy[BODY_PAIRS[:, 1]])


def hand_from_mediapipe(hand) -> np.ndarray:
    """21 MediaPipe hand landmarks -> (21, 2) in SPOTER order; zeros when there is no hand."""
    xy = _as_xy(hand, len(MP_HAND_LANDMARKS), "hand")
    if xy is None:
        return np.zeros((NUM_HAND, 2), np.float32)
    return xy[HAND_ORDER]


def frame_from_holistic(pose, left_hand, right_hand) -> np.ndarray:
    """One frame's Holistic results -> (54, 2): body, signer's left hand, signer's right hand.

    Arguments are Holistic's ``pose_landmarks``, ``left_hand_landmarks`` and
    ``right_hand_landmarks`` (or arrays of the same landmarks, or None when not detected).
    """
    return np.concatenate([body_from_pose(pose), hand_from_mediapipe(left_hand),
                           hand_from_mediapipe(right_hand)]).astype(np.float32)

