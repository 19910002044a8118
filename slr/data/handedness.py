"""Handedness: mirror a sample (augmentation) and put every signer's dominant hand on one side.

Both work on normalised samples (the dict of :func:`slr_fused.data.normalization.normalize_sample`),
where every coordinate is relative to the neck's box or the hand's centre, so mirroring the image
is x -> -x: flipping raw image coordinates (x -> 1 - x) and normalising gives the same x (y can
differ slightly, as the box top follows the left eye when both are seen), but only the normalised
flip is exactly undone by flipping again (1 - (1 - x) rounds in floating point).
Mirroring also swaps the hands (the signer's left hand becomes the right one) and the left/right
body joints (eyes, ears, shoulders, elbows, wrists), as a mirrored video of the signer would.
"""

from typing import Dict, Optional, Tuple

import numpy as np
import torch

from .joint_maps import BODY_MIRROR
from .joints import NUM_BODY, NUM_HAND
from .normalization import joint_present

SIDES = ("left", "right")


def _flip_x(points: np.ndarray) -> np.ndarray:
    flipped = points.copy()
    flipped[..., 0] = np.where(points[..., 0] != 0, -points[..., 0], points[..., 0])
    return flipped


def mirror_sample(sample: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """The sample as its mirror image; ``mirror_sample(mirror_sample(s))`` equals ``s`` exactly."""
    out = dict(sample)
    out["body"] = _flip_x(sample["body"][:, BODY_MIRROR])
    out["lh"], out["rh"] = _flip_x(sample["rh"]), _flip_x(sample["lh"])
    out["lh_present"], out["rh_present"] = sample["rh_present"], sample["lh_present"]
    return out


def random_mirror(sample: Dict[str, np.ndarray], probability: float,
                  generator: Optional[torch.Generator] = None) -> Dict[str, np.ndarray]:
    """Mirror with ``probability`` (the ``--mirror`` augmentation)."""
    if probability <= 0 or float(torch.rand((), generator=generator)) >= probability:
        return sample
    return mirror_sample(sample)


def hand_activity(frames: np.ndarray) -> Tuple[float, float]:
    """How much each hand signs in raw (T, 54, 2) frames: the path its centre travels over the
    frames where it is detected, plus a small credit per detected frame (a hand held still but
    visible beats an absent one). Returns (left, right)."""
    scores = []
    for start in (NUM_BODY, NUM_BODY + NUM_HAND):
        hand = frames[:, start:start + NUM_HAND]
        present = joint_present(hand)
        seen = present.any(-1)
        counts = np.maximum(present.sum(-1, keepdims=True), 1)
        centre = (hand * present[..., None]).sum(1) / counts
        both = seen[1:] & seen[:-1]
        travel = np.linalg.norm(np.diff(centre, axis=0), axis=-1)[both].sum()
        scores.append(float(travel) + 1e-3 * float(seen.sum()))
    return scores[0], scores[1]


def dominant_hand(frames: np.ndarray) -> Optional[str]:
    """"left" or "right": the more active hand of a raw (T, 54, 2) sample; None without hands."""
    left, right = hand_activity(frames)
    if left == right == 0:
        return None
    return "left" if left > right else "right"


def canonicalise_hand(sample: Dict[str, np.ndarray], frames: np.ndarray,
                      side: str = "right") -> Tuple[Dict[str, np.ndarray], bool]:
    """Mirror the normalised ``sample`` when the dominant hand of its raw ``frames`` is not
    ``side``, so every signer signs with the same hand. Returns (sample, whether it was mirrored);
    mirroring the result again when it was mirrored gives the input back exactly."""
    if side not in SIDES:
        raise ValueError(f"the dominant hand must be left or right, got {side!r}")
    dominant = dominant_hand(frames)
    if dominant is None or dominant == side:
        return sample, False
    return mirror_sample(sample), True
