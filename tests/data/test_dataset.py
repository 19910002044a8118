import numpy as np
import pytest
import torch

from slr_fused.data.csv_format import PoseSequences, write_pose_csv
from slr_fused.data.dataset import PoseDataset, collate_poses, resample_indices
from slr_fused.data.synthetic import CLASSES, MOTIONS, SHAPES, make_sample, make_split, write_demo_dataset


def _sequences(lengths=(5, 9, 3)):
    rng = np.random.default_rng(0)
    samples = [make_sample(k % 8, rng)[:n] for k, n in enumerate(lengths)]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return PoseSequences(np.concatenate(samples), offsets, np.arange(len(lengths)) % 8)


def test_collate_pads_and_masks():
    ds = PoseDataset(_sequences())
    batch = collate_poses([ds[i] for i in range(3)])
    assert batch["lh"].shape == (3, 9, 21, 2) and batch["body"].shape == (3, 9, 12, 2)
    assert batch["padding_mask"].tolist()[2] == [False] * 3 + [True] * 6
    assert batch["lengths"].tolist() == [5, 9, 3]
    assert torch.all(batch["lh"][2, 3:] == 0) and not batch["lh_present"][2, 3:].any()


def test_resample_indices_keep_ends_and_length():
    for length, target in [(30, 204), (300, 204), (1, 5), (7, 7)]:
        idx = resample_indices(length, target)
        assert len(idx) == target and idx[0] == 0 and idx[-1] == length - 1
        assert np.all(np.diff(idx) >= 0)
    with pytest.raises(ValueError):
        resample_indices(5, 0)


def test_fixed_length_and_max_frames():
    seqs = _sequences()
    fixed = PoseDataset(seqs, num_frames=12)
    assert {len(fixed[i]["body"]) for i in range(3)} == {12}
    capped = PoseDataset(seqs, max_frames=4)
    assert [len(capped[i]["body"]) for i in range(3)] == [4, 4, 3]


def test_augmented_dataset_is_reproducible_under_a_seed():
    ds = PoseDataset(_sequences(), augment=True, augmentations_prob=1.0, gaussian_std=0.01)
    torch.manual_seed(0)
    a = ds[1]["rh"]
    torch.manual_seed(0)
    b = ds[1]["rh"]
    torch.manual_seed(1)
    c = ds[1]["rh"]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_demo_dataset_is_deterministic_and_balanced(tmp_path):
    a, la = make_split(2, seed=7)
    b, lb = make_split(2, seed=7)
    assert la == lb and all(np.array_equal(x, y) for x, y in zip(a, b))
    paths = write_demo_dataset(tmp_path / "demo")
    ds = PoseDataset(paths["train"])
    assert np.bincount(ds.labels).tolist() == [48] * len(CLASSES)
    lengths = ds.sequences.lengths
    assert lengths.min() < lengths.max()  # variable length, so padding is exercised


def _finger_extension(hand):
    """Fingertip-to-wrist over knuckle-to-wrist distance: about 2 for an open hand, ~1 for a fist."""
    tips = np.linalg.norm(hand[:, [1, 5, 9, 13]] - hand[:, :1], axis=-1)
    knuckles = np.linalg.norm(hand[:, [4, 8, 12, 16]] - hand[:, :1], axis=-1)
    return float((tips / knuckles).mean())


def test_demo_factors_live_in_different_modalities():
    """Handshape is visible in the hand streams, motion only in the body stream."""
    from slr_fused.data.normalization import normalize_sample
    rng = np.random.default_rng(3)
    stats = {}
    for label in range(len(CLASSES)):
        spreads, correlations = [], []
        for _ in range(6):
            out = normalize_sample(make_sample(label, rng))
            spreads.append(_finger_extension(out["lh"][out["lh_present"]]))
            left_y, right_y = out["body"][:, 11, 1], out["body"][:, 10, 1]
            correlations.append(np.corrcoef(left_y, right_y)[0, 1])
        stats[CLASSES[label]] = (np.mean(spreads), np.mean(correlations))
    for name, (spread, corr) in stats.items():
        left_shape, _, motion = name.split("-")
        assert (spread > 1.5) == (left_shape == "open"), (name, spread)
        assert (corr > 0.5) if motion == "together" else (corr < -0.5), (name, corr)
    assert SHAPES == ("open", "fist") and MOTIONS == ("together", "alternate")
