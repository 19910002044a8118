"""``.pose`` files of the pose-format library (sign-language-processing/pose): MediaPipe Holistic
or OpenPose components, coordinates in pixels of the header's width and height.

pose-format is an optional dependency (the ``convert`` extra), imported only when a ``.pose`` file
is read.
"""

from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from ..data.joint_maps import (MEDIAPIPE_BODY, MEDIAPIPE_FACE_BODY, OPENPOSE_BODY, body_plan,
                               gather_body, gather_hand)

# Component names of each estimator, as pose-format writes them: body, face, left hand, right hand.
SOURCES: Dict[str, Tuple[str, str, str, str]] = {
    "mediapipe": ("POSE_LANDMARKS", "FACE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS"),
    "openpose": ("pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d",
                 "hand_right_keypoints_2d"),
}
BODY_MAPS = {"mediapipe": (MEDIAPIPE_BODY, MEDIAPIPE_FACE_BODY), "openpose": (OPENPOSE_BODY,)}


def import_pose_format():
    try:
        from pose_format import Pose
    except ImportError:
        raise ValueError("reading .pose files needs pose-format: pip install 'slr-fused[convert]'") from None
    return Pose


def _slices(components) -> Dict[str, Tuple[slice, List[str]]]:
    """Component name -> (its points' slice in the body data, its point names)."""
    out, start = {}, 0
    for component in components:
        out[component.name] = (slice(start, start + len(component.points)), list(component.points))
        start += len(component.points)
    return out


def frames_from_pose(pose, path="") -> np.ndarray:
    """A pose-format ``Pose`` -> (T, 54, 2) frames in normalised image coordinates."""
    header = pose.header
    parts = _slices(header.components)
    names = ", ".join(parts) or "none"
    source = next((s for s, comps in SOURCES.items() if comps[2] in parts and comps[3] in parts), None)
    if source is None:
        raise ValueError(f"{path}: no hand components (it has: {names}); expected MediaPipe Holistic "
                         f"(LEFT_HAND_LANDMARKS, RIGHT_HAND_LANDMARKS) or OpenPose "
                         f"(hand_left_keypoints_2d, hand_right_keypoints_2d)")
    body_name, face_name, left_name, right_name = SOURCES[source]
    width, height = float(header.dimensions.width), float(header.dimensions.height)
    if not (width > 0 and height > 0):
        raise ValueError(f"{path}: the header gives no image size ({width} x {height}) to "
                         f"normalise pixel coordinates by")
    data = np.ma.getdata(pose.body.data)
    if data.ndim != 4 or data.shape[0] == 0:
        raise ValueError(f"{path}: no frames")
    confidence = np.asarray(pose.body.confidence)
    present = (confidence > 0) & ~np.ma.getmaskarray(pose.body.data).any(-1)
    person = int(np.argmax(np.where(present, confidence, 0).sum((0, 2))))  # the most confident one
    xy = data[:, person, :, :2].astype(np.float64) / np.array([width, height])
    present = present[:, person] & np.isfinite(xy).all(-1)
    xy = np.where(present[..., None], xy, 0.0).astype(np.float32)

    hands = []
    for name in (left_name, right_name):
        where, points = parts[name]
        if len(points) != 21:
            raise ValueError(f"{path}: component {name} has {len(points)} points, expected 21")
        hands.append(gather_hand(xy[:, where], present[:, where]))
    body_names, body_index = [], []
    for name in (body_name, face_name):
        if name in parts:
            where, points = parts[name]
            body_names += points
            body_index += range(where.start, where.stop)
    plan = body_plan(body_names, *BODY_MAPS[source])
    body = gather_body(xy[:, body_index], present[:, body_index], plan)
    return np.concatenate([body, *hands], axis=1)


def read_pose_file(path) -> np.ndarray:
    """One ``.pose`` file -> (T, 54, 2) frames."""
    Pose = import_pose_format()
    try:
        buffer = Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"{path}: cannot read ({error.strerror})") from None
    try:
        pose = Pose.read(buffer)
    except Exception as error:  # pose-format raises assorted errors on foreign or cut files
        raise ValueError(f"{path}: not a readable .pose file ({type(error).__name__}: {error})") from None
    return frames_from_pose(pose, path)
