"""Bohacek (SPOTER/Siformer) normalisation of body and hand landmarks.

Body: every frame is expressed in a signing-space box centred on the neck, 6 head metrics wide
and high, the head metric being the shoulder width (the neck-nose distance when a shoulder is
missing); the box's top is half a head metric above the eyes. Hands: every frame is expressed in
a square box around the hand, 1.2 times its larger extent, centred on the hand. Coordinates are
shifted to about [-0.5, 0.5] (SPOTER subtracts 0.5 after normalising).

Edge cases handled where SPOTER divides by zero or crashes: a frame whose body box cannot be
computed takes the box of the nearest frame that has one; a sequence with none keeps its body at
zero and reports it absent; a hand frame with no landmark or a degenerate box (all landmarks on
one point) stays zero and is marked absent. Joints that were not detected (0.0) stay 0.0.
Unlike SPOTER the box is not clipped to the image, so normalisation is exactly invariant to
translating and scaling the whole pose (tested).
"""

from typing import Tuple

import numpy as np

from .joints import BODY_INDEX, NUM_BODY, NUM_HAND

EPS = 1e-6
BOX_SCALE = 6.0
HAND_MARGIN = 1.2


def joint_present(points: np.ndarray) -> np.ndarray:
    """(..., J, 2) -> (..., J) bool: a joint counts as detected unless both coordinates are 0."""
    return (points != 0).any(-1)


def _fill_from_nearest(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Replace rows of ``values`` where ``valid`` is False by the nearest valid row in time."""
    index = np.arange(len(valid))
    valid_index = index[valid]
    nearest = np.searchsorted(valid_index, index).clip(0, len(valid_index) - 1)
    before = (nearest - 1).clip(0)
    closer_before = np.abs(valid_index[before] - index) < np.abs(valid_index[nearest] - index)
    return values[valid_index[np.where(closer_before, before, nearest)]]


def normalize_body(body: np.ndarray) -> Tuple[np.ndarray, bool]:
    """(T, 12, 2) raw body landmarks -> (normalised copy, whether any frame had a usable box)."""
    body = np.asarray(body, dtype=np.float32)
    present = joint_present(body)
    idx = BODY_INDEX
    shoulders_ok = present[:, idx["leftShoulder"]] & present[:, idx["rightShoulder"]]
    shoulder_width = np.linalg.norm(body[:, idx["leftShoulder"]] - body[:, idx["rightShoulder"]], axis=-1)
    neck_nose_ok = present[:, idx["neck"]] & present[:, idx["nose"]]
    neck_nose = np.linalg.norm(body[:, idx["neck"]] - body[:, idx["nose"]], axis=-1)
    head = np.where(shoulders_ok, shoulder_width, np.where(neck_nose_ok, neck_nose, 0.0))

    eye_y = np.where(present[:, idx["leftEye"]], body[:, idx["leftEye"], 1],
                     np.where(present[:, idx["rightEye"]], body[:, idx["rightEye"], 1],
                              body[:, idx["nose"], 1]))
    eye_ok = present[:, idx["leftEye"]] | present[:, idx["rightEye"]] | present[:, idx["nose"]]
    valid = (head > EPS) & present[:, idx["neck"]] & eye_ok
    if not valid.any():
        return np.zeros_like(body), False

    box = np.stack([body[:, idx["neck"], 0] - 0.5 * BOX_SCALE * head,   # left
                    eye_y - 0.5 * head,                                  # top
                    BOX_SCALE * head], axis=-1)                          # size
    box = _fill_from_nearest(box, valid)
    origin, size = box[:, None, :2], box[:, None, 2:3]
    normalised = (body - origin) / size - 0.5
    return np.where(present[..., None], normalised, 0.0).astype(np.float32), True


def normalize_hand(hand: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(T, 21, 2) raw hand landmarks -> (normalised copy, (T,) bool: hand present in frame)."""
    hand = np.asarray(hand, dtype=np.float32)
    present = joint_present(hand)
    frame_has = present.any(-1)
    big = np.float32(np.inf)
    low = np.where(present[..., None], hand, big).min(axis=1)          # (T, 2)
    high = np.where(present[..., None], hand, -big).max(axis=1)
    low = np.where(frame_has[:, None], low, 0.0)                        # no +-inf past here
    high = np.where(frame_has[:, None], high, 0.0)
    extent = high - low
    size = HAND_MARGIN * extent.max(-1)                                 # (T,)
    frame_ok = frame_has & (size > EPS)
    centre = np.where(frame_ok[:, None], 0.5 * (low + high), 0.0)
    safe_size = np.where(frame_ok, size, 1.0)
    normalised = (hand - centre[:, None]) / safe_size[:, None, None]
    keep = present & frame_ok[:, None]
    return np.where(keep[..., None], normalised, 0.0).astype(np.float32), frame_ok


def normalize_sample(frames: np.ndarray):
    """(T, 54, 2) raw frames -> dict of normalised body/lh/rh and hand presence per frame."""
    body, _ = normalize_body(frames[:, :NUM_BODY])
    lh, lh_present = normalize_hand(frames[:, NUM_BODY:NUM_BODY + NUM_HAND])
    rh, rh_present = normalize_hand(frames[:, NUM_BODY + NUM_HAND:])
    return {"body": body, "lh": lh, "rh": rh, "lh_present": lh_present, "rh_present": rh_present}
