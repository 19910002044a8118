import numpy as np
import pytest

from slr_fused.data.joints import BODY_INDEX
from slr_fused.data.normalization import normalize_body, normalize_hand, normalize_sample
from slr_fused.data.synthetic import make_sample


def _sample(seed=0, label=3):
    return make_sample(label, np.random.default_rng(seed))


def _similarity(frames, scale, shift):
    """Scale and translate every detected joint (missing joints stay 0)."""
    present = (frames != 0).any(-1, keepdims=True)
    return np.where(present, frames * scale + np.asarray(shift, np.float32), 0.0).astype(np.float32)


@pytest.mark.parametrize("scale, shift", [(1.7, (0.2, -0.1)), (0.4, (-0.3, 0.25))])
def test_invariant_to_translating_and_scaling_the_pose(scale, shift):
    frames = _sample()
    a = normalize_sample(frames)
    b = normalize_sample(_similarity(frames, scale, shift))
    for key in ("body", "lh", "rh"):
        np.testing.assert_allclose(a[key], b[key], atol=2e-5)
    np.testing.assert_array_equal(a["lh_present"], b["lh_present"])


def test_each_hand_invariant_to_its_own_translation_and_scale():
    frames = _sample()
    hand = frames[:, 12:33]
    base, _ = normalize_hand(hand)
    moved, _ = normalize_hand(_similarity(hand, 2.5, (0.3, 0.1)))
    np.testing.assert_allclose(base, moved, atol=2e-5)


def test_normalised_ranges_and_centring():
    out = normalize_sample(_sample())
    hand = out["lh"][out["lh_present"]]
    assert np.abs(hand).max() <= 0.5 / 1.2 + 1e-5  # the box is 1.2 x the hand's extent
    # the hand's bounding box is centred on 0 in its larger dimension
    for frame in hand:
        extent = frame.max(0) - frame.min(0)
        big = int(np.argmax(extent))
        assert abs(frame[:, big].max() + frame[:, big].min()) < 1e-5
    body = out["body"]
    neck = body[:, BODY_INDEX["neck"]]
    np.testing.assert_allclose(neck[:, 0], 0.0, atol=1e-6)  # box centred on the neck


def test_missing_hand_frames_stay_zero_and_are_marked():
    frames = _sample()
    frames[4, 12:33] = 0.0
    frames[6, 12:33] = 0.0
    frames[7, 12 + 5] = 0.0  # one undetected joint in a detected hand
    out = normalize_sample(frames)
    assert not out["lh_present"][4] and not out["lh_present"][6]
    assert out["lh_present"][7]
    assert np.all(out["lh"][[4, 6]] == 0)
    assert np.all(out["lh"][7, 5] == 0)
    assert np.isfinite(out["lh"]).all()


def test_degenerate_hand_box_is_marked_absent_without_division_by_zero():
    hand = np.zeros((3, 21, 2), np.float32)
    hand[0] = 0.4                        # every landmark on one point
    hand[1, 0] = (0.5, 0.5)              # a single landmark
    hand[2] = np.random.default_rng(0).uniform(0.3, 0.6, (21, 2))
    with np.errstate(all="raise"):
        out, present = normalize_hand(hand)
    assert list(present) == [False, False, True]
    assert np.all(out[:2] == 0) and np.isfinite(out).all()


def test_body_frames_without_a_box_borrow_the_nearest_one():
    frames = _sample()
    body = frames[:, :12].copy()
    reference, ok = normalize_body(body)
    broken = body.copy()
    # frame 5 loses both shoulders and the nose: no head metric. Its other joints are kept.
    for name in ("leftShoulder", "rightShoulder", "nose"):
        broken[5, BODY_INDEX[name]] = 0.0
    out, ok = normalize_body(broken)
    assert ok and np.isfinite(out).all()
    # its joints are expressed in a neighbour's box: close to what the true box gives
    wrist = BODY_INDEX["leftWrist"]
    assert np.abs(out[5, wrist] - reference[5, wrist]).max() < 0.05
    assert np.all(out[5, BODY_INDEX["nose"]] == 0)


def test_body_without_any_usable_frame_stays_zero():
    body = np.zeros((4, 12, 2), np.float32)
    body[:, BODY_INDEX["leftWrist"]] = 0.5
    with np.errstate(all="raise"):
        out, ok = normalize_body(body)
    assert not ok and np.all(out == 0)


def test_real_data_is_finite_and_bounded(shared_data):
    from slr_fused.data.csv_format import read_pose_csv
    data = read_pose_csv(shared_data / "isl13" / "isl13_test.csv")
    for k in range(len(data)):
        out = normalize_sample(data.sample(k))
        for key in ("body", "lh", "rh"):
            assert np.isfinite(out[key]).all()
            assert np.abs(out[key]).max() < 3.0
