"""Speed and temporal-crop augmentation: what it keeps, its bounds, and that off means untouched."""

import numpy as np
import pytest
import torch

from slr_fused.data.csv_format import PoseSequences
from slr_fused.data.dataset import PoseDataset
from slr_fused.data.synthetic import make_sample
from slr_fused.data.temporal import random_temporal


def _frames(length=50):
    frames = np.zeros((length, 54, 2), np.float32)
    frames[:, :, 0] = np.arange(length, dtype=np.float32)[:, None]  # x = frame number
    return frames


def test_off_returns_the_frames_and_draws_nothing():
    frames = _frames()
    generator = torch.Generator().manual_seed(3)
    assert random_temporal(frames, 0.0, 0.0, generator) is frames
    assert torch.equal(generator.get_state(), torch.Generator().manual_seed(3).get_state())


def test_crop_keeps_a_contiguous_window_of_at_least_one_minus_crop():
    frames = _frames(50)
    lengths = set()
    for seed in range(40):
        out = random_temporal(frames, crop=0.3, generator=torch.Generator().manual_seed(seed))
        numbers = out[:, 0, 0]
        assert 35 <= len(out) <= 50
        assert np.all(np.diff(numbers) == 1)            # consecutive frames, order kept
        assert numbers[0] >= 0 and numbers[-1] <= 49
        lengths.add(len(out))
    assert len(lengths) > 5                              # it does vary


def test_speed_changes_the_length_within_its_range_and_keeps_the_ends():
    frames = _frames(60)
    lengths = set()
    for seed in range(40):
        out = random_temporal(frames, speed=0.25, generator=torch.Generator().manual_seed(seed))
        assert 60 / 1.25 - 1 <= len(out) <= 60 / 0.75 + 1
        assert out[0, 0, 0] == 0 and out[-1, 0, 0] == 59
        assert np.all(np.diff(out[:, 0, 0]) >= 0)
        lengths.add(len(out))
    assert min(lengths) < 55 and max(lengths) > 65


def test_out_of_range_values_are_refused():
    for speed, crop in [(1.0, 0.0), (-0.1, 0.0), (0.0, 1.0)]:
        with pytest.raises(ValueError, match="speed and crop"):
            random_temporal(_frames(), speed, crop)


def _sequences():
    rng = np.random.default_rng(0)
    samples = [make_sample(k, rng) for k in range(3)]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in samples])])
    return PoseSequences(np.concatenate(samples), offsets, np.arange(3))


def test_dataset_applies_it_to_training_samples_only_and_reproducibly():
    seqs = _sequences()
    plain = PoseDataset(seqs, augment=True, seed=5)
    off = PoseDataset(seqs, augment=True, seed=5, speed=0.0, temporal_crop=0.0)
    on = PoseDataset(seqs, augment=True, seed=5, speed=0.3, temporal_crop=0.3)
    again = PoseDataset(seqs, augment=True, seed=5, speed=0.3, temporal_crop=0.3)
    evaluation = PoseDataset(seqs, speed=0.3, temporal_crop=0.3)
    for i in range(3):
        assert torch.equal(plain[i]["body"], off[i]["body"])   # off: the seeds' samples exactly
        assert torch.equal(on[i]["body"], again[i]["body"])
        assert len(evaluation[i]["body"]) == len(seqs.sample(i))
    assert [len(on[i]["body"]) for i in range(3)] != [len(seqs.sample(i)) for i in range(3)]
