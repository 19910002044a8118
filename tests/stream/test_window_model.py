"""Window helpers (slr/stream/window_model.py) without a model; the model path (window
probabilities, bf16) runs in tests/stream/test_cli.py."""

import numpy as np
import pytest

from slr_fused.stream.window_model import (hand_fraction, label_of, nobody_in_view,
                                           precision_context, top_k)


def test_hand_fraction_and_nobody_in_view():
    frames = np.zeros((4, 54, 2), np.float32)
    assert nobody_in_view(frames) and hand_fraction(frames) == 0.0
    frames[1, 0] = 0.5                  # a body joint only: somebody, but no hand
    assert not nobody_in_view(frames) and hand_fraction(frames) == 0.0
    frames[2, 12 + 3, 1] = 0.3          # a left-hand joint
    frames[3, 53, 0] = 0.7              # a right-hand joint
    assert hand_fraction(frames) == 0.5
    assert hand_fraction(np.zeros((0, 54, 2))) == 0.0


def test_top_k_names_ties_in_class_order():
    probabilities = np.array([0.1, 0.4, 0.1, 0.4])
    assert top_k(probabilities, ["a", "b", "c"], 3) == [(1, "b", 0.4), (3, "3", 0.4), (0, "a", 0.1)]


def test_label_of_name_or_number():
    names = ["hello", "7", "bye"]
    assert label_of(names, "bye") == 2
    assert label_of(names, "7") == 1          # a name wins over a number
    assert label_of(names, "0") == 0
    assert label_of(names, "3") is None and label_of(names, "-1") is None
    assert label_of(names, "nope") is None
    assert label_of([], "0") == 0             # a model without names: numbers only


def test_bf16_needs_a_checkpoint():
    class Exported:
        source = "model.onnx"
    with pytest.raises(ValueError, match="--precision bf16 needs a .pt checkpoint; model.onnx"):
        precision_context("bf16", Exported())
