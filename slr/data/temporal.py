"""Time axis of a sample: fixed-length resampling, and the speed / temporal-crop augmentation.

Signers of a many-signer set sign the same gloss at different speeds and the clips start and end
at different moments; a random playback speed and a random crop of the clip's ends show the model
that variation. Frames are picked by nearest index, never interpolated: interpolating between a
detected joint and a missing one (0, 0) would invent positions.
"""

from typing import Optional

import numpy as np
import torch


def resample_indices(length: int, target: int) -> np.ndarray:
    """Frame indices that stretch or shrink a sequence to ``target`` frames, keeping its ends."""
    if target < 1:
        raise ValueError(f"target length must be positive, got {target}")
    return np.rint(np.linspace(0, length - 1, target)).astype(np.int64)


def _uniform(low: float, high: float, generator: Optional[torch.Generator]) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def random_temporal(frames: np.ndarray, speed: float = 0.0, crop: float = 0.0,
                    generator: Optional[torch.Generator] = None) -> np.ndarray:
    """Crop up to a fraction ``crop`` of the frames (split at random between the start and the
    end), then play the rest at a speed drawn uniformly from [1 - speed, 1 + speed].

    Draws random numbers only for the parts that are on, so with both off the caller's random
    stream is untouched (the seeds' runs stay bitwise the same).
    """
    if not 0 <= speed < 1 or not 0 <= crop < 1:
        raise ValueError(f"speed and crop must be in [0, 1), got {speed} and {crop}")
    length = len(frames)
    if crop > 0 and length > 1:
        keep = max(1, int(round(length * (1 - crop * _uniform(0, 1, generator)))))
        start = min(length - keep, int(_uniform(0, 1, generator) * (length - keep + 1)))
        frames = frames[start:start + keep]
    if speed > 0:
        factor = _uniform(1 - speed, 1 + speed, generator)
        frames = frames[resample_indices(len(frames), max(1, int(round(len(frames) / factor))))]
    return frames
