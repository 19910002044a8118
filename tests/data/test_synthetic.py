"""The synthetic demo signs (slr/data/synthetic.py): shapes, determinism, classes, cache folder.
Training on the demo data runs in tests/test_cli.py."""

import numpy as np

from slr_fused.data import synthetic
from slr_fused.data.joints import NUM_BODY, NUM_HAND


def test_a_sample_is_raw_frames_with_each_hand_seen_at_least_once():
    sample = synthetic.make_sample(5, np.random.default_rng(0))
    assert sample.dtype == np.float32 and sample.shape[1:] == (NUM_BODY + 2 * NUM_HAND, 2)
    assert 24 <= len(sample) <= 40
    assert (sample[:, :NUM_BODY] != 0).all()                         # the body is always seen
    for hand in (slice(NUM_BODY, NUM_BODY + NUM_HAND), slice(NUM_BODY + NUM_HAND, None)):
        assert (sample[:, hand] != 0).any(-1).any(-1).any()
    assert np.array_equal(sample, synthetic.make_sample(5, np.random.default_rng(0)))


def test_split_labels_and_class_names():
    samples, labels = synthetic.make_split(2, seed=4)
    assert len(synthetic.CLASSES) == 8 and len(set(synthetic.CLASSES)) == 8
    assert labels == [c for c in range(8) for _ in range(2)] and len(samples) == 16
    assert synthetic.CLASSES[5] == "open-fist-alternate"     # left open, right fist, alternating


def test_the_demo_folder_follows_the_cache_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("SLR_CACHE_DIR", str(tmp_path))
    folder = synthetic.default_demo_folder()
    assert folder.parent == tmp_path and folder.name == f"demo-v{synthetic.DEMO_VERSION}"
