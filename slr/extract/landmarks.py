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

The tables themselves live in :mod:`slr_fused.data.joint_maps`, shared with ``slr convert``.
"""

from typing import Optional

import numpy as np

from ..data.joint_maps import (MEDIAPIPE_POSE_PLAN, MP_HAND_LANDMARKS, MP_POSE_LANDMARKS,
                               gather_body, gather_hand)
from ..data.joints import NUM_BODY, NUM_HAND

NUM_JOINTS = NUM_BODY + 2 * NUM_HAND  # 54: body, left hand, right hand (write_pose_csv's order)
__all__ = ["MP_HAND_LANDMARKS", "MP_POSE_LANDMARKS", "NUM_JOINTS", "body_from_pose",
           "frame_from_holistic", "hand_from_mediapipe"]


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
    return gather_body(xy[None], np.ones((1, len(xy)), bool), MEDIAPIPE_POSE_PLAN)[0]


def hand_from_mediapipe(hand) -> np.ndarray:
    """21 MediaPipe hand landmarks -> (21, 2) in SPOTER order; zeros when there is no hand."""
    xy = _as_xy(hand, len(MP_HAND_LANDMARKS), "hand")
    if xy is None:
        return np.zeros((NUM_HAND, 2), np.float32)
    return gather_hand(xy[None], np.ones((1, len(xy)), bool))[0]


def frame_from_holistic(pose, left_hand, right_hand) -> np.ndarray:
    """One frame's Holistic results -> (54, 2): body, signer's left hand, signer's right hand.

    Arguments are Holistic's ``pose_landmarks``, ``left_hand_landmarks`` and
    ``right_hand_landmarks`` (or arrays of the same landmarks, or None when not detected).
    """
    return np.concatenate([body_from_pose(pose), hand_from_mediapipe(left_hand),
                           hand_from_mediapipe(right_hand)]).astype(np.float32)

