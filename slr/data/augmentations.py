"""SPOTER's augmentations, on raw image coordinates before normalisation, plus Gaussian noise.

SPOTER applies one of rotate, perspective shear, squeeze and arm-joint rotation, chosen at
random, with probability 0.5 per sample; Gaussian noise is added after normalisation. Joints that
were not detected (0, 0) stay exactly zero so that the presence marks remain true. Random numbers
come from ``torch``'s generator so that DataLoader worker seeding makes runs reproducible.
"""

import math
from typing import Optional

import numpy as np
import torch

from .joints import BODY_INDEX, NUM_BODY, NUM_HAND
from .normalization import joint_present

ROTATE_DEGREES = (-13.0, 13.0)
PERSPECTIVE_RATIO = (0.0, 0.1)
SQUEEZE_RATIO = (0.0, 0.15)
ARM_DEGREES = (-4.0, 4.0)
ARM_PROBABILITY = 0.3
AUGMENTATIONS = ("rotate", "shear", "squeeze", "arm")


def _uniform(low: float, high: float, generator: Optional[torch.Generator] = None) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _keep_missing(original: np.ndarray, moved: np.ndarray) -> np.ndarray:
    return np.where(joint_present(original)[..., None], moved, 0.0).astype(np.float32)


def _rotate_about(points: np.ndarray, centre: np.ndarray, degrees: float) -> np.ndarray:
    angle = math.radians(degrees)
    c, s = math.cos(angle), math.sin(angle)
    rel = points - centre
    return np.stack([c * rel[..., 0] - s * rel[..., 1], s * rel[..., 0] + c * rel[..., 1]], -1) + centre


def rotate(frames: np.ndarray, generator=None, degrees=ROTATE_DEGREES) -> np.ndarray:
    """Rotate the whole pose about the image centre."""
    angle = _uniform(*degrees, generator)
    return _keep_missing(frames, _rotate_about(frames, np.array([0.5, 0.5], np.float32), angle))


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """3x3 projective map taking the 4 points ``src`` to ``dst`` (direct linear transform)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y]); rhs.append(u)
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y]); rhs.append(v)
    h = np.linalg.solve(np.array(rows, np.float64), np.array(rhs, np.float64))
    return np.append(h, 1.0).reshape(3, 3)


def apply_homography(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    ones = np.ones(points.shape[:-1] + (1,), np.float64)
    mapped = np.concatenate([points.astype(np.float64), ones], -1) @ matrix.T
    return (mapped[..., :2] / mapped[..., 2:3]).astype(np.float32)


def shear(frames: np.ndarray, generator=None, ratio=PERSPECTIVE_RATIO) -> np.ndarray:
    """Perspective shear: the image's top corners move inwards by random amounts."""
    left, right = _uniform(*ratio, generator), _uniform(*ratio, generator)
    src = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float64)
    dst = np.array([[left, 0], [1 - right, 0], [0, 1], [1, 1]], np.float64)
    return _keep_missing(frames, apply_homography(frames, homography(src, dst)))


def squeeze(frames: np.ndarray, generator=None, ratio=SQUEEZE_RATIO) -> np.ndarray:
    """Squeeze horizontally: the left and right image borders move inwards by random amounts."""
    left, right = _uniform(*ratio, generator), _uniform(*ratio, generator)
    moved = frames.copy()
    moved[..., 0] = left + frames[..., 0] * (1 - left - right)
    return _keep_missing(frames, moved)


ARM_CHAINS = {
    # body joints of the chain, and the hand (slice of the 54 joints) attached to its wrist
    "left": (("leftShoulder", "leftElbow", "leftWrist"), slice(NUM_BODY, NUM_BODY + NUM_HAND)),
    "right": (("rightShoulder", "rightElbow", "rightWrist"), slice(NUM_BODY + NUM_HAND, None)),
}


def arm_joint_rotate(frames: np.ndarray, generator=None, probability=ARM_PROBABILITY,
                     degrees=ARM_DEGREES) -> np.ndarray:
    """Rotate each arm joint (shoulder, elbow), with some probability, moving what hangs below it.

    SPOTER rotates the body's arm joints only; the hand landmarks are moved with the wrist here so
    that hands and body stay consistent.
    """
    moved = frames.copy()
    for joints, hand in ARM_CHAINS.values():
        for k, pivot_name in enumerate(joints[:-1]):
            if float(torch.rand((), generator=generator)) >= probability:
                continue
            angle = _uniform(*degrees, generator)
            pivot = moved[:, BODY_INDEX[pivot_name]][:, None, :].copy()
            below = [BODY_INDEX[name] for name in joints[k + 1:]]
            moved[:, below] = _rotate_about(moved[:, below], pivot, angle)
            moved[:, hand] = _rotate_about(moved[:, hand], pivot, angle)
    return _keep_missing(frames, moved)


AUGMENT = {"rotate": rotate, "shear": shear, "squeeze": squeeze, "arm": arm_joint_rotate}


def augment(frames: np.ndarray, probability: float = 0.5, generator=None, enabled=AUGMENTATIONS):
    """SPOTER's policy: with ``probability``, apply one augmentation chosen uniformly."""
    if not enabled or float(torch.rand((), generator=generator)) >= probability:
        return frames
    choice = enabled[int(torch.randint(len(enabled), (), generator=generator))]
    return AUGMENT[choice](frames, generator)


def gaussian_noise(points: np.ndarray, std: float, generator=None) -> np.ndarray:
    """Add N(0, std) to detected joints of normalised coordinates; missing joints stay zero."""
    if std <= 0:
        return points
    noise = torch.randn(points.shape, generator=generator).numpy() * std
    return _keep_missing(points, points + noise.astype(np.float32))
