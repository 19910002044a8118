"""The runners' shared input checks (export/runtime.py, PoseRunner.prepare) with a stand-in
runner; the ONNX Runtime runner itself runs in tests/export/test_onnx.py."""

import pytest
import torch

from slr_fused.export.runtime import BatchTooLargeError, PoseRunner, RunnerInputError


class Runner(PoseRunner):
    source = "m.onnx"

    def __init__(self, with_mask=False, batch_range=(1, None), length_range=(1, None)):
        self.with_mask, self.batch_range, self.length_range = with_mask, batch_range, length_range

    def _run(self, feeds, device):
        return torch.zeros(feeds["body"].shape[0], 3)


def _inputs(batch=2, length=5):
    return torch.zeros(batch, length, 42), torch.zeros(batch, length, 21, 2), torch.zeros(batch, length, 24)


def test_feeds_are_flat_float32_and_a_mask_is_added_when_the_model_takes_one():
    lh, rh, body = _inputs()
    feeds, device = Runner(with_mask=True).prepare(lh.double(), rh, body)
    assert list(feeds) == ["left_hand", "right_hand", "body", "padding_mask"]
    assert feeds["right_hand"].shape == (2, 5, 42) and feeds["left_hand"].dtype == torch.float32
    assert feeds["padding_mask"].dtype == torch.bool and not feeds["padding_mask"].any()
    assert Runner()(lh, rh, body).shape == (2, 3)


@pytest.mark.parametrize("runner, change, error, message", [
    (Runner(), dict(lh=torch.zeros(2, 5, 40)), RunnerInputError,
     r"left_hand must be \(B, T, 42\) or \(B, T, 21, 2\), got \(2, 5, 40\)"),
    (Runner(), dict(body=torch.zeros(2, 5, 24, dtype=torch.int64)), RunnerInputError,
     "body must be floating point"),
    (Runner(), dict(body=torch.zeros(2, 6, 24)), RunnerInputError, "must share batch and length"),
    (Runner(batch_range=(1, 1)), {}, BatchTooLargeError, "batch 2 is above the maximum 1 of m.onnx"),
    (Runner(batch_range=(4, 8)), {}, RunnerInputError, "batch 2 is below the minimum 4"),
    (Runner(length_range=(8, 8)), {}, RunnerInputError, "5 frames: m.onnx takes exactly 8 frames"),
    (Runner(length_range=(6, 64)), {}, RunnerInputError, "5 frames: m.onnx takes 6-64 frames"),
    (Runner(), dict(mask=torch.zeros(2, 5)), RunnerInputError, "padding_mask must be bool"),
    (Runner(with_mask=True), dict(mask=torch.tensor([[False] * 5, [True] * 5])), RunnerInputError,
     "a sample is entirely padding"),
    (Runner(), dict(mask=torch.tensor([[False] * 5, [False] * 4 + [True]])), RunnerInputError,
     "exported without --with-mask"),
])
def test_bad_inputs_are_one_runner_input_error(runner, change, error, message):
    lh, rh, body = _inputs()
    with pytest.raises(error, match=message):
        runner.prepare(change.get("lh", lh), rh, change.get("body", body), change.get("mask"))


def test_an_all_valid_mask_is_dropped_for_a_model_without_one():
    feeds, _ = Runner().prepare(*_inputs(), torch.zeros(2, 5, dtype=torch.bool))
    assert "padding_mask" not in feeds
