"""Which source landmark each of the 54 CSV joints is, for every pose source, written once as data.

Used by MediaPipe extraction (:mod:`slr_fused.extract.landmarks`) and by every converter
(:mod:`slr_fused.convert`), so a sample converted from stored landmarks equals, coordinate for
coordinate, what ``slr extract`` makes of the same landmarks.

Conventions (those of the MediaPipe-recorded datasets this project is tested on):

* "left" is the signer's left, in every source: MediaPipe's ``LEFT_*`` pose landmarks and
  ``left_hand_landmarks``, OpenPose's ``L*`` keypoints and ``hand_left_keypoints`` all describe the
  person's left side, so ``leftWrist`` and the ``_left_`` hand columns are the same hand.
* A body joint is a list of candidates tried in order, frame by frame; a candidate is a tuple of
  source point names whose mean is the joint (a name repeated counts twice). A candidate is usable
  in a frame only when all its points were detected, otherwise the next one is tried, and the
  joint is missing (0, 0) when none is usable.
* The neck is the mid-point of the shoulders where the source has no neck (MediaPipe); OpenPose's
  own neck is used when detected.
"""

from typing import Dict, Mapping, Sequence, Tuple

import numpy as np

from .joints import BODY_JOINTS, HAND_JOINTS

# --- Source landmark lists, in each source's documented index order -----------------------------

# mp.solutions.pose.PoseLandmark (33 points).
MP_POSE_LANDMARKS = (
    "NOSE", "LEFT_EYE_INNER", "LEFT_EYE", "LEFT_EYE_OUTER", "RIGHT_EYE_INNER", "RIGHT_EYE",
    "RIGHT_EYE_OUTER", "LEFT_EAR", "RIGHT_EAR", "MOUTH_LEFT", "MOUTH_RIGHT", "LEFT_SHOULDER",
    "RIGHT_SHOULDER", "LEFT_ELBOW", "RIGHT_ELBOW", "LEFT_WRIST", "RIGHT_WRIST", "LEFT_PINKY",
    "RIGHT_PINKY", "LEFT_INDEX", "RIGHT_INDEX", "LEFT_THUMB", "RIGHT_THUMB", "LEFT_HIP",
    "RIGHT_HIP", "LEFT_KNEE", "RIGHT_KNEE", "LEFT_ANKLE", "RIGHT_ANKLE", "LEFT_HEEL",
    "RIGHT_HEEL", "LEFT_FOOT_INDEX", "RIGHT_FOOT_INDEX",
)
# mp.solutions.hands.HandLandmark (21 points). OpenPose's hand keypoints use the same order.
MP_HAND_LANDMARKS = (
    "WRIST", "THUMB_CMC", "THUMB_MCP", "THUMB_IP", "THUMB_TIP",
    "INDEX_FINGER_MCP", "INDEX_FINGER_PIP", "INDEX_FINGER_DIP", "INDEX_FINGER_TIP",
    "MIDDLE_FINGER_MCP", "MIDDLE_FINGER_PIP", "MIDDLE_FINGER_DIP", "MIDDLE_FINGER_TIP",
    "RING_FINGER_MCP", "RING_FINGER_PIP", "RING_FINGER_DIP", "RING_FINGER_TIP",
    "PINKY_MCP", "PINKY_PIP", "PINKY_DIP", "PINKY_TIP",
)
# OpenPose BODY_25 (output_formats: pose_keypoints_2d), index order.
OPENPOSE_BODY_25 = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
    "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)
OPENPOSE_HAND = MP_HAND_LANDMARKS  # hand_{left,right}_keypoints_2d: same 21-point order

# --- Body maps: our joint -> candidates (tuples of source point names, averaged) ---------------

Candidates = Tuple[Tuple[str, ...], ...]

MEDIAPIPE_BODY: Dict[str, Candidates] = {
    "nose": (("NOSE",),),
    "neck": (("LEFT_SHOULDER", "RIGHT_SHOULDER"),),
    "rightEye": (("RIGHT_EYE",),),
    "leftEye": (("LEFT_EYE",),),
    "rightEar": (("RIGHT_EAR",),),
    "leftEar": (("LEFT_EAR",),),
    "rightShoulder": (("RIGHT_SHOULDER",),),
    "leftShoulder": (("LEFT_SHOULDER",),),
    "rightElbow": (("RIGHT_ELBOW",),),
    "leftElbow": (("LEFT_ELBOW",),),
    "rightWrist": (("RIGHT_WRIST",),),
    "leftWrist": (("LEFT_WRIST",),),
}

# Face-mesh stand-ins for the pose's face points, used only where a file has no such pose point:
# pose-format's reduce_holistic (common in sign-language datasets) drops the pose's face points
# and keeps 128 face-mesh points without the nose tip. Mesh 33/133 are the right eye's corners,
# 362/263 the left eye's, 234/454 the face contour at the right/left ear, 1 the nose tip, 0 the
# upper lip. Without the nose tip, the nose is estimated half-way between the eyes and the upper
# lip (outer eye corners once each, upper lip twice).
MEDIAPIPE_FACE_BODY: Dict[str, Candidates] = {
    "nose": (("1",), ("33", "263", "0", "0")),
    "rightEye": (("33", "133"),),
    "leftEye": (("362", "263"),),
    "rightEar": (("234",),),
    "leftEar": (("454",),),
}

OPENPOSE_BODY: Dict[str, Candidates] = {
    "nose": (("Nose",),),
    "neck": (("Neck",), ("LShoulder", "RShoulder")),
    "rightEye": (("REye",),),
    "leftEye": (("LEye",),),
    "rightEar": (("REar",),),
    "leftEar": (("LEar",),),
    "rightShoulder": (("RShoulder",),),
    "leftShoulder": (("LShoulder",),),
    "rightElbow": (("RElbow",),),
    "leftElbow": (("LElbow",),),
    "rightWrist": (("RWrist",),),
    "leftWrist": (("LWrist",),),
}

# --- Hand map: our hand joint -> MediaPipe hand landmark name ----------------------------------
# SPOTER names the thumb's second joint "MP" where MediaPipe says "MCP", the little finger "PINKY".
HAND_MAP: Dict[str, str] = {
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
# Index of each of our 21 hand joints in the MediaPipe (= OpenPose) 21-point hand order.
HAND_ORDER = np.array([MP_HAND_LANDMARKS.index(HAND_MAP[name]) for name in HAND_JOINTS])

# Our left/right body joint pairs (for mirroring): indices into BODY_JOINTS.
BODY_MIRROR = np.array([BODY_JOINTS.index(name.replace("left", "@").replace("right", "left")
                                          .replace("@", "right")) for name in BODY_JOINTS])


# --- Applying a map ----------------------------------------------------------------------------

BodyPlan = Tuple[Tuple[np.ndarray, ...], ...]


def body_plan(point_names: Sequence[str], *maps: Mapping[str, Candidates]) -> BodyPlan:
    """For each of our 12 body joints, the usable candidates as index arrays into ``point_names``.

    ``maps`` are tried in order (e.g. the pose map, then face stand-ins); candidates naming a point
    that the source does not have are left out, so a joint with no candidate stays missing.
    """
    position = {name: i for i, name in enumerate(point_names)}
    plan = []
    for joint in BODY_JOINTS:
        candidates = [np.array([position[p] for p in candidate], np.int64)
                      for source in maps for candidate in source.get(joint, ())
                      if all(p in position for p in candidate)]
        plan.append(tuple(candidates))
    return tuple(plan)


def gather_body(xy: np.ndarray, present: np.ndarray, plan: BodyPlan) -> np.ndarray:
    """(T, N, 2) source points and (T, N) detection flags -> (T, 12, 2) float32 body joints.

    Each joint takes, frame by frame, the first candidate whose points were all detected (their
    mean, computed in float32 as the extraction does), and (0, 0) when there is none.
    """
    xy = np.asarray(xy, dtype=np.float32)
    present = np.asarray(present, dtype=bool)
    out = np.zeros((xy.shape[0], len(plan), 2), np.float32)
    for j, candidates in enumerate(plan):
        filled = np.zeros(xy.shape[0], bool)
        for index in candidates:
            usable = present[:, index].all(1) & ~filled
            value = xy[:, index].sum(1) / np.float32(len(index))
            out[usable, j] = value[usable]
            filled |= usable
    return out


def gather_hand(xy: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(T, 21, 2) hand points in MediaPipe/OpenPose order -> (T, 21, 2) float32 in SPOTER order,
    undetected points (0, 0)."""
    xy = np.asarray(xy, dtype=np.float32)[:, HAND_ORDER]
    keep = np.asarray(present, dtype=bool)[:, HAND_ORDER]
    return np.where(keep[..., None], xy, np.float32(0.0)).astype(np.float32)


MEDIAPIPE_POSE_PLAN = body_plan(MP_POSE_LANDMARKS, MEDIAPIPE_BODY)
OPENPOSE_BODY_PLAN = body_plan(OPENPOSE_BODY_25, OPENPOSE_BODY)
