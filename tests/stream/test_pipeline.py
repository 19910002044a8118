"""Option checks of the stream pipeline (slr/stream/pipeline.py); streaming itself runs in
tests/stream/test_cli.py and test_capture.py."""

from types import SimpleNamespace

import pytest

from slr_fused.stream.pipeline import StreamOptions, check_options

MODEL = SimpleNamespace(max_frames=40, num_frames=None, class_names=["idle", "hello"])


def test_defaults_are_accepted():
    check_options(StreamOptions(), MODEL)
    check_options(StreamOptions(window=40, min_window=40, no_sign=("idle", "1")), MODEL)
    check_options(StreamOptions(window=100), SimpleNamespace(**{**vars(MODEL), "num_frames": 32}))  # resampled: any window


@pytest.mark.parametrize("options, message", [
    (StreamOptions(stride=0), "--window and --stride must be at least 1 frame"),
    (StreamOptions(window=10, min_window=11), r"--min_window must be between 1 and --window \(10\)"),
    (StreamOptions(min_window=0), "--min_window must be between 1"),
    (StreamOptions(window=41), r"--window 41 is longer than the model takes \(40\)"),
    (StreamOptions(no_sign=("bye",)), "--no_sign 'bye': the model has no such class"),
])
def test_bad_options_are_one_value_error(options, message):
    with pytest.raises(ValueError, match=message):
        check_options(options, MODEL)
