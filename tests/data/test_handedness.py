"""Mirroring and dominant-hand canonicalisation: exact inverses, and what a mirror means."""

import numpy as np

from slr_fused.data.csv_format import PoseSequences
from slr_fused.data.dataset import PoseDataset
from slr_fused.data.handedness import canonicalise_hand, dominant_hand, mirror_sample
from slr_fused.data.joints import BODY_INDEX, NUM_BODY, NUM_HAND
from slr_fused.data.normalization import normalize_sample
from slr_fused.data.synthetic import make_sample

LEFT, RIGHT = slice(NUM_BODY, NUM_BODY + NUM_HAND), slice(NUM_BODY + NUM_HAND, None)


def _raw(seed=0):
    frames = make_sample(seed % 8, np.random.default_rng(seed))
    frames[3, LEFT] = 0  # a frame without the left hand: zeros must stay zeros
    return frames


def _equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype
        np.testing.assert_array_equal(a[key], b[key])
        assert a[key].tobytes() == b[key].tobytes(), key  # bit for bit, signs of zero included


def test_mirror_twice_is_the_identity_exactly():
    for seed in range(4):
        sample = normalize_sample(_raw(seed))
        _equal(mirror_sample(mirror_sample(sample)), sample)


def test_mirror_is_the_normalised_image_flip():
    """Flipping the raw image (x -> 1 - x, left and right swapped) then normalising gives the
    mirrored sample's x up to float rounding; the hands trade places."""
    raw = _raw(1)
    flipped = raw.copy()
    flipped[..., 0] = np.where((raw != 0).any(-1), 1 - raw[..., 0], 0)
    from slr_fused.data.joint_maps import BODY_MIRROR
    flipped[:, :NUM_BODY] = flipped[:, BODY_MIRROR]
    flipped[:, LEFT], flipped[:, RIGHT] = flipped[:, RIGHT].copy(), flipped[:, LEFT].copy()
    expected, mirrored = normalize_sample(flipped), mirror_sample(normalize_sample(raw))
    for key in ("body", "lh", "rh"):
        np.testing.assert_allclose(mirrored[key][..., 0], expected[key][..., 0], atol=1e-5)
    np.testing.assert_array_equal(mirrored["lh_present"], normalize_sample(raw)["rh_present"])
    left, right = BODY_INDEX["leftShoulder"], BODY_INDEX["rightShoulder"]
    original = normalize_sample(raw)["body"]
    assert mirrored["body"][0, left, 0] == -original[0, right, 0]


def test_canonicalise_puts_the_dominant_hand_on_one_side_and_undoes_exactly():
    raw = _raw(2)
    raw[:, RIGHT] = 0                               # a left-handed clip: only the left hand signs
    assert dominant_hand(raw) == "left"
    sample = normalize_sample(raw)
    canonical, mirrored = canonicalise_hand(sample, raw, "right")
    assert mirrored and canonical["rh_present"].any() and not canonical["lh_present"].any()
    _equal(mirror_sample(canonical), sample)
    again, mirrored_again = canonicalise_hand(sample, raw, "left")
    assert not mirrored_again and again is sample


def test_dataset_mirror_probability_one_mirrors_every_training_sample():
    frames = [_raw(s) for s in range(3)]
    offsets = np.concatenate([[0], np.cumsum([len(f) for f in frames])])
    sequences = PoseSequences(np.concatenate(frames), offsets, np.arange(3))
    plain = PoseDataset(sequences, augment=True, augmentations=(), seed=1)
    mirrored = PoseDataset(sequences, augment=True, augmentations=(), seed=1, mirror=1.0)
    for i in range(3):
        a, b = plain[i], mirrored[i]
        np.testing.assert_array_equal(b["lh"].numpy()[..., 1], a["rh"].numpy()[..., 1])
        np.testing.assert_array_equal(b["lh"].numpy()[..., 0], -a["rh"].numpy()[..., 0])
    evaluation = PoseDataset(sequences, mirror=1.0)   # no augmentation: never mirrored
    np.testing.assert_array_equal(evaluation[0]["lh"].numpy(), plain[0]["lh"].numpy())
