"""OpenPose JSON folders: one ``<name>_<frame>_keypoints.json`` per frame, BODY_25 and hands.

Each file holds ``people``, each with flat ``pose_keypoints_2d`` (25 x (x, y, confidence)),
``hand_left_keypoints_2d`` and ``hand_right_keypoints_2d`` (21 x 3); confidence 0 = not detected.
OpenPose writes pixels unless run with ``--keypoint_scale 3``; pixels need the video's size.
"""

import json
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from ..data.joint_maps import OPENPOSE_BODY_PLAN, gather_body, gather_hand
from .mp_data import natural_key

PARTS = (("pose_keypoints_2d", 25), ("hand_left_keypoints_2d", 21), ("hand_right_keypoints_2d", 21))


def _person_points(person: dict, file: Path) -> np.ndarray:
    """One person -> (67, 3) x, y, confidence: body 25, left hand 21, right hand 21."""
    pieces = []
    for key, count in PARTS:
        values = np.asarray(person.get(key) or np.zeros(3 * count), dtype=np.float64)
        if values.size != 3 * count:
            raise ValueError(f"{file}: {key} has {values.size} values, expected {3 * count} "
                             f"(BODY_25 body, 21-point hands)")
        pieces.append(values.reshape(count, 3))
    return np.concatenate(pieces)


def read_frame(file: Path) -> np.ndarray:
    """One JSON file -> (67, 3); the person with the most confident body; zeros when nobody."""
    try:
        people = json.loads(file.read_text(encoding="utf-8")).get("people", [])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as error:
        raise ValueError(f"{file}: not an OpenPose JSON file ({error})") from None
    candidates = [_person_points(person, file) for person in people]
    if not candidates:
        return np.zeros((67, 3))
    return max(candidates, key=lambda points: points[:25, 2].sum())


def read_sequence(folder, image_size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """One folder of per-frame JSON files -> (T, 54, 2) frames in normalised coordinates."""
    folder = Path(folder)
    files = sorted(folder.glob("*.json"), key=natural_key)
    if not files:
        raise ValueError(f"{folder}: no OpenPose .json frames in the folder")
    points = np.stack([read_frame(file) for file in files])     # (T, 67, 3)
    present = points[..., 2] > 0
    xy = points[..., :2]
    if image_size is None:
        if np.abs(xy[present]).max(initial=0.0) > 1.5:
            raise ValueError(f"{folder}: OpenPose wrote pixel coordinates; give the video's size "
                             f"with --image_size WIDTHxHEIGHT")
    else:
        xy = xy / np.asarray(image_size, dtype=np.float64)
    xy = np.where(present[..., None], xy, 0.0).astype(np.float32)
    body = gather_body(xy[:, :25], present[:, :25], OPENPOSE_BODY_PLAN)
    left = gather_hand(xy[:, 25:46], present[:, 25:46])
    right = gather_hand(xy[:, 46:], present[:, 46:])
    return np.concatenate([body, left, right], axis=1)
