"""Pictures of one frame: the raw pose (over its video frame or on a canvas fitted to the whole
sequence) and, side by side, the normalised pose the model sees (body in its signing-space box,
each hand in its own box)."""

from typing import Iterable, Optional, Sequence, Tuple

import numpy as np

from ..data.joints import NUM_BODY, NUM_HAND
from ..data.normalization import joint_present, normalize_sample
from .skeleton import draw_label, draw_skeleton

CANVAS = (32, 32, 32)
MARGIN = 0.08


def fit_box(frames: np.ndarray) -> Tuple[float, float, float, float]:
    """(x0, y0, x1, y1) around every detected joint of the sequence, with a margin; the unit
    square (image coordinates) when nothing was detected."""
    present = joint_present(frames)
    if not present.any():
        return 0.0, 0.0, 1.0, 1.0
    points = frames[present]
    low, high = points.min(0), points.max(0)
    pad = MARGIN * max(float((high - low).max()), 1e-3)
    return float(low[0] - pad), float(low[1] - pad), float(high[0] + pad), float(high[1] + pad)


def to_pixels(points: np.ndarray, box, width: int, height: int) -> np.ndarray:
    """Coordinates inside ``box`` -> pixels of a width x height picture, aspect ratio kept."""
    x0, y0, x1, y1 = box
    scale = min(width / max(x1 - x0, 1e-9), height / max(y1 - y0, 1e-9))
    offset_x = (width - scale * (x1 - x0)) / 2
    offset_y = (height - scale * (y1 - y0)) / 2
    out = np.empty_like(points, dtype=np.float64)
    out[..., 0] = (points[..., 0] - x0) * scale + offset_x
    out[..., 1] = (points[..., 1] - y0) * scale + offset_y
    return out


def raw_panel(frame: np.ndarray, image: Optional[np.ndarray] = None, box=None,
              size: Tuple[int, int] = (480, 480)) -> np.ndarray:
    """The raw (54, 2) pose: over ``image`` (BGR; coordinates are fractions of its size) or on
    a blank canvas of ``size`` showing ``box``."""
    present = joint_present(frame)
    if image is not None:
        picture = np.ascontiguousarray(image).copy()
        height, width = picture.shape[:2]
        pixels = frame.astype(np.float64) * np.array([width, height])
    else:
        width, height = size
        picture = np.empty((height, width, 3), np.uint8)
        picture[:] = CANVAS
        pixels = to_pixels(frame, box or fit_box(frame[None]), width, height)
    return draw_skeleton(picture, pixels, present)


def normalised_panel(sample: dict, t: int, present: np.ndarray, height: int) -> np.ndarray:
    """What the model sees in frame ``t``: the normalised body (upper two thirds, its box is
    [-0.5, 0.5]) and the two normalised hands (bottom: signer's left, then right)."""
    picture = np.empty((height, height, 3), np.uint8)
    picture[:] = CANVAS
    side = height * 2 // 3
    pixels = np.zeros((54, 2))
    pixels[:NUM_BODY] = to_pixels(sample["body"][t], (-0.5, -0.5, 0.5, 0.5), side, side)
    pixels[:NUM_BODY, 0] += (height - side) / 2
    hand_side = height - side
    for k, key in enumerate(("lh", "rh")):
        start = NUM_BODY + k * NUM_HAND
        hand = to_pixels(sample[key][t], (-0.6, -0.6, 0.6, 0.6), hand_side, hand_side)
        hand[:, 0] += k * hand_side + (height - 2 * hand_side) / 2
        hand[:, 1] += side
        pixels[start:start + NUM_HAND] = hand
    draw_skeleton(picture, pixels, present)
    return draw_label(picture, "normalised")


def compose_frames(frames: np.ndarray, images: Optional[Iterable[np.ndarray]] = None,
                   side_by_side: bool = False, captions: Optional[Sequence[str]] = None,
                   size: int = 480):
    """Yield one BGR picture per frame of the (T, 54, 2) sequence."""
    frames = np.asarray(frames, dtype=np.float32)
    box = fit_box(frames)
    sample = normalize_sample(frames) if side_by_side else None
    present = joint_present(frames)
    images = iter(images) if images is not None else None
    for t in range(len(frames)):
        image = next(images, None) if images is not None else None
        picture = raw_panel(frames[t], image, box, (size, size))
        if captions is not None and captions[t]:
            draw_label(picture, captions[t])
        if side_by_side:
            import cv2
            right = normalised_panel(sample, t, present[t], size)
            if right.shape[0] != picture.shape[0]:
                right = cv2.resize(right, (picture.shape[0], picture.shape[0]))
            picture = np.concatenate([picture, right], axis=1)
        yield picture
