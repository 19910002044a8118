"""Threshold choice and window lengths of the calibration (slr/stream/calibration.py); the whole
`slr stream --calibrate` runs in tests/stream/test_cli.py."""

import numpy as np
import pytest

from slr_fused.stream.calibration import best_threshold, prefix_lengths, sidecar_path


def test_sidecar_sits_beside_the_model(tmp_path):
    assert sidecar_path(tmp_path / "m.pt") == tmp_path / "m.pt.stream.json"


def test_threshold_separates_positives_from_negatives():
    assert best_threshold(np.array([0.8, 0.9]), np.array([0.3, 0.5])) == 0.8
    # overlap: the cut with the best TPR + TNR, the lowest on ties
    assert best_threshold(np.array([0.4, 0.7, 0.9]), np.array([0.2, 0.5])) == 0.7
    assert best_threshold(np.array([0.6]), np.array([])) == 0.0


def test_no_correct_window_is_one_clear_error():
    with pytest.raises(ValueError, match="got none right"):
        best_threshold(np.array([]), np.array([0.5]))


@pytest.mark.parametrize("length, expected", [
    (40, [15, 20, 25, 30]),     # capped at the window
    (27, [15, 20, 25, 27]),     # the full sign last
    (10, [10]),                 # shorter than min_window: only the whole sign
])
def test_prefix_lengths(length, expected):
    assert prefix_lengths(length, window=30, min_window=15, stride=5) == expected
