"""Seeded, stratified splits of a training set (validation split, experimental subsets)."""

from typing import Tuple

import numpy as np


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Indices (kept, taken) with about ``fraction`` of every class in ``taken``.

    Every class keeps at least one sample on the kept side, so no class disappears from training.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"split fraction must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    kept, taken = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = min(int(round(fraction * len(members))), len(members) - 1)
        taken.extend(members[:count])
        kept.extend(members[count:])
    return np.sort(np.array(kept, np.int64)), np.sort(np.array(taken, np.int64))
