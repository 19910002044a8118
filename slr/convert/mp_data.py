"""``MP_Data/<class>/<sequence>/<frame>.npy`` folders (one flat MediaPipe vector per frame).

The layout of the vector is known by its width: pose 33 x (x, y, z, visibility), face 468 x
(x, y, z), left hand 21 x (x, y, z), right hand 21 x (x, y, z), in that order, with some parts left
out. A part that is all zeros in a frame was not detected. Coordinates are MediaPipe's normalised
image coordinates already.
"""

import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..data.joint_maps import MEDIAPIPE_POSE_PLAN, gather_body, gather_hand

# width -> the parts of the vector in order: (name, points, values per point). "pose11" is the
# first 11 pose landmarks (nose, eyes, ears, mouth), as repositories keeping only the head write.
LAYOUTS: Dict[int, Tuple[Tuple[str, int, int], ...]] = {
    1662: (("pose", 33, 4), ("face", 468, 3), ("lh", 21, 3), ("rh", 21, 3)),
    258: (("pose", 33, 4), ("lh", 21, 3), ("rh", 21, 3)),
    126: (("lh", 21, 3), ("rh", 21, 3)),
    170: (("pose11", 11, 4), ("lh", 21, 3), ("rh", 21, 3)),
}


def natural_key(path: Path):
    """Sort ``2.npy`` before ``10.npy`` (and ``x_2_keypoints.json`` before ``x_10_...``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def split_parts(vectors: np.ndarray, layout: int) -> Dict[str, np.ndarray]:
    """(T, width) -> {part: (T, points, values)}."""
    parts, start = {}, 0
    for name, points, values in LAYOUTS[layout]:
        parts[name] = vectors[:, start:start + points * values].reshape(len(vectors), points, values)
        start += points * values
    return parts


def frames_from_vectors(vectors: np.ndarray, layout: Optional[int] = None) -> np.ndarray:
    """(T, width) MP_Data vectors -> (T, 54, 2) frames; the width picks the layout."""
    layout = layout or vectors.shape[1]
    if layout not in LAYOUTS:
        raise ValueError(f"unknown MP_Data layout: {vectors.shape[1]} values per frame (known: "
                         f"{', '.join(map(str, LAYOUTS))})")
    if vectors.shape[1] != sum(p * v for _, p, v in LAYOUTS[layout]):
        raise ValueError(f"{vectors.shape[1]} values per frame do not fit layout {layout}")
    parts = split_parts(vectors, layout)
    count = len(vectors)
    pose = np.zeros((count, 33, 2), np.float32)
    pose_present = np.zeros((count, 33), bool)
    for name in ("pose", "pose11"):
        if name in parts:
            points = parts[name].shape[1]
            pose[:, :points] = parts[name][..., :2]
            pose_present[:, :points] = (parts[name] != 0).any((1, 2))[:, None]
    hands = []
    for side in ("lh", "rh"):
        hand = parts[side]
        detected = (hand != 0).any((1, 2))
        hands.append(gather_hand(hand[..., :2], np.repeat(detected[:, None], 21, 1)))
    body = gather_body(pose, pose_present, MEDIAPIPE_POSE_PLAN)
    return np.concatenate([body, *hands], axis=1)


def read_sequence(folder, layout: Optional[int] = None) -> np.ndarray:
    """One sequence folder of ``<frame>.npy`` vectors -> (T, 54, 2) frames."""
    folder = Path(folder)
    files = sorted(folder.glob("*.npy"), key=natural_key)
    if not files:
        raise ValueError(f"{folder}: no .npy frames in the folder")
    vectors: List[np.ndarray] = []
    for file in files:
        try:
            vector = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise ValueError(f"{file}: not a readable .npy frame ({error})") from None
        vector = np.asarray(vector, dtype=np.float64).reshape(-1)
        if vectors and vector.size != vectors[0].size:
            raise ValueError(f"{folder}: ragged MP_Data sequence: {file.name} has {vector.size} "
                             f"values, {files[0].name} has {vectors[0].size}")
        vectors.append(vector)
    stacked = np.stack(vectors)
    if not np.isfinite(stacked).all():
        raise ValueError(f"{folder}: NaN or infinite values in the frames")
    try:
        return frames_from_vectors(stacked, layout)
    except ValueError as error:
        raise ValueError(f"{folder}: {error}") from None
