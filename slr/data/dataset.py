"""Samples for training: normalised per-modality tensors, padded batches with a padding mask.

Sequences keep their own length by default; a batch is padded to its longest sample and carries
``padding_mask`` (B, T), True on padded frames, which every attention in the model respects (the
original Siformer zero-pads to 204 frames and attends to the padding). ``num_frames`` resamples
every sample to a fixed length instead, for Siformer-compatible training; ``max_frames`` only
shortens samples longer than the model's positional table.
"""

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .augmentations import AUGMENTATIONS, augment, gaussian_noise
from .csv_format import PoseSequences, read_pose_csv
from .handedness import canonicalise_hand, random_mirror
from .normalization import normalize_sample
from .temporal import random_temporal, resample_indices  # noqa: F401 (resample_indices: API)


class PoseDataset(Dataset):
    """Pose samples of one CSV (or parsed :class:`PoseSequences`) as model-ready tensors.

    Args:
        source: a CSV path or parsed sequences.
        augment: apply SPOTER's augmentations (training only).
        augmentations_prob: probability of augmenting a sample.
        augmentations: which augmentations may be chosen.
        gaussian_std: std of the noise added to normalised coordinates (0 = off).
        num_frames: resample every sample to this length (None keeps lengths).
        max_frames: resample samples longer than this down to it.
        seed: seed of per-sample augmentation streams (None: torch's global generator).
        mirror: probability of mirroring a sample (flip x, swap hands and left/right body
            joints; training only; None or 0 = off).
        canonical_hand: "left" or "right": mirror samples whose dominant hand is the other one
            (every split alike; None = off).
        speed: play training samples at a random speed in [1 - speed, 1 + speed] (0 = off).
        temporal_crop: crop up to this fraction of a training sample's frames (0 = off).
    """

    def __init__(self, source, augment: bool = False, augmentations_prob: float = 0.5,
                 augmentations: Sequence[str] = AUGMENTATIONS, gaussian_std: float = 0.0,
                 num_frames: Optional[int] = None, max_frames: Optional[int] = None,
                 seed: Optional[int] = None, mirror: Optional[float] = None,
                 canonical_hand: Optional[str] = None, speed: float = 0.0,
                 temporal_crop: float = 0.0):
        self.sequences = source if isinstance(source, PoseSequences) else read_pose_csv(source)
        self.augment = augment
        self.augmentations_prob = augmentations_prob
        self.augmentations = tuple(augmentations)
        self.gaussian_std = gaussian_std
        self.num_frames = num_frames
        self.max_frames = max_frames
        self.seed = seed
        self.mirror = mirror or 0.0
        self.canonical_hand = canonical_hand
        self.speed = speed or 0.0
        self.temporal_crop = temporal_crop or 0.0
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """With a seed, augmentation of sample i in epoch e depends on (seed, e, i) only."""
        self.epoch = epoch

    def _generator(self, index: int) -> Optional[torch.Generator]:
        # Per-sample streams make augmentation independent of worker processes and of how
        # data-parallel ranks split a batch, so runs are reproducible and DDP matches one process.
        if self.seed is None:
            return None
        key = ((self.seed * 1_000_003 + self.epoch) * 1_000_033 + index) % (2**63 - 1)
        return torch.Generator().manual_seed(key)

    @property
    def labels(self) -> np.ndarray:
        return self.sequences.labels

    @property
    def num_classes(self) -> int:
        return int(self.sequences.labels.max()) + 1

    def __len__(self) -> int:
        return len(self.sequences)

    def frames(self, index: int, generator: Optional[torch.Generator] = None) -> np.ndarray:
        frames = self.sequences.sample(index)
        if self.augment and (self.speed > 0 or self.temporal_crop > 0):
            frames = random_temporal(frames, self.speed, self.temporal_crop, generator)
        target = self.num_frames
        if target is None and self.max_frames is not None and len(frames) > self.max_frames:
            target = self.max_frames
        if target is not None and target != len(frames):
            frames = frames[resample_indices(len(frames), target)]
        return frames

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        generator = self._generator(index) if self.augment else None
        frames = self.frames(index, generator)
        if self.augment:
            frames = augment(frames, self.augmentations_prob, generator, enabled=self.augmentations)
        sample = normalize_sample(frames)
        if self.canonical_hand:
            sample, _ = canonicalise_hand(sample, frames, self.canonical_hand)
        if self.augment and self.mirror > 0:
            sample = random_mirror(sample, self.mirror, generator)
        if self.augment and self.gaussian_std > 0:
            for key in ("body", "lh", "rh"):
                sample[key] = gaussian_noise(sample[key], self.gaussian_std, generator)
        out = {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in sample.items()}
        out["label"] = torch.tensor(int(self.sequences.labels[index]))
        return out


def collate_poses(samples: List[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Pad a list of samples to the longest one; ``padding_mask`` is True on padded frames."""
    lengths = torch.tensor([len(s["body"]) for s in samples])
    batch, longest = len(samples), int(lengths.max())
    out = {}
    for key in ("lh", "rh", "body"):
        tail = samples[0][key].shape[1:]
        padded = torch.zeros((batch, longest, *tail), dtype=torch.float32)
        for i, s in enumerate(samples):
            padded[i, :len(s[key])] = s[key]
        out[key] = padded
    for key in ("lh_present", "rh_present"):
        padded = torch.zeros((batch, longest), dtype=torch.bool)
        for i, s in enumerate(samples):
            padded[i, :len(s[key])] = s[key]
        out[key] = padded
    out["padding_mask"] = torch.arange(longest)[None, :] >= lengths[:, None]
    out["lengths"] = lengths
    out["label"] = torch.stack([s["label"] for s in samples])
    return out
