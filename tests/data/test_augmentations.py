import numpy as np
import pytest
import torch

from slr_fused.data import augmentations as aug
from slr_fused.data.joints import BODY_INDEX
from slr_fused.data.synthetic import make_sample


def _frames():
    frames = make_sample(5, np.random.default_rng(1))
    frames[3, 12:33] = 0.0  # a missing hand
    return frames


@pytest.mark.parametrize("name", list(aug.AUGMENT))
def test_missing_joints_stay_missing_and_output_is_finite(name):
    frames = _frames()
    out = aug.AUGMENT[name](frames, torch.Generator().manual_seed(0))
    assert out.shape == frames.shape and out.dtype == np.float32
    assert np.all(out[3, 12:33] == 0)
    assert np.isfinite(out).all()


def test_rotation_is_rigid():
    frames = _frames()
    out = aug.rotate(frames, torch.Generator().manual_seed(3))
    a, b = frames[0, BODY_INDEX["nose"]], frames[0, BODY_INDEX["leftWrist"]]
    c, d = out[0, BODY_INDEX["nose"]], out[0, BODY_INDEX["leftWrist"]]
    assert abs(np.linalg.norm(a - b) - np.linalg.norm(c - d)) < 1e-5
    assert not np.allclose(out, frames)


def test_homography_maps_the_four_corners():
    src = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], float)
    dst = np.array([[0.1, 0], [0.95, 0], [0, 1], [1, 1]], float)
    mapped = aug.apply_homography(src.astype(np.float32), aug.homography(src, dst))
    np.testing.assert_allclose(mapped, dst, atol=1e-6)


def test_squeeze_only_moves_x():
    frames = _frames()
    out = aug.squeeze(frames, torch.Generator().manual_seed(0))
    present = (frames != 0).any(-1)
    np.testing.assert_allclose(out[present][:, 1], frames[present][:, 1])


def test_arm_rotation_keeps_the_shoulders_and_moves_the_hand_with_the_wrist():
    frames = _frames()
    out = aug.arm_joint_rotate(frames, torch.Generator().manual_seed(0), probability=1.0)
    for name in ("leftShoulder", "rightShoulder", "nose"):
        np.testing.assert_allclose(out[:, BODY_INDEX[name]], frames[:, BODY_INDEX[name]])
    wrist = BODY_INDEX["leftWrist"]
    hand_wrist = 12  # the left hand's own wrist landmark follows the body's wrist
    before = frames[0, hand_wrist] - frames[0, wrist]
    after = out[0, hand_wrist] - out[0, wrist]
    assert abs(np.linalg.norm(before) - np.linalg.norm(after)) < 1e-5
    assert not np.allclose(out[:, wrist], frames[:, wrist])


def test_policy_is_reproducible_and_sometimes_identity():
    frames = _frames()
    runs = [[aug.augment(frames, 0.5, torch.Generator().manual_seed(s)) for s in range(12)] for _ in range(2)]
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    unchanged = sum(np.array_equal(out, frames) for out in runs[0])
    assert 0 < unchanged < 12


def test_gaussian_noise_spares_missing_joints():
    points = np.zeros((5, 21, 2), np.float32)
    points[:3] = 0.1
    out = aug.gaussian_noise(points, 0.01, torch.Generator().manual_seed(0))
    assert np.all(out[3:] == 0)
    assert 0 < np.abs(out[:3] - 0.1).std() < 0.05
