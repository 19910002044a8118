"""The export contract (export/interface.py): input layout and the interface check's messages.

The ONNX-file paths (as_proto, read_metadata) run in tests/export/test_onnx.py."""

import pytest

from slr_fused.export.interface import (INPUT_NAMES, MASK_NAME, OUTPUT_NAME, ExportError,
                                        ModelMismatchError, check_interface, input_layout)

GOOD = {"left_hand": ["batch", "length", 42], "right_hand": ["batch", "length", 42],
        "body": ["batch", "length", 24]}


def test_layout_names_shapes_and_mask():
    dynamic = input_layout(with_mask=True, length=None)
    assert list(dynamic) == [*INPUT_NAMES, MASK_NAME]
    assert dynamic["body"]["shape"] == ["batch", "length", 24]
    assert dynamic[MASK_NAME] == {"shape": ["batch", "length"], "dtype": "bool",
                                  "meaning": dynamic[MASK_NAME]["meaning"]}
    fixed = input_layout(with_mask=False, length=64)
    assert MASK_NAME not in fixed and fixed["left_hand"]["shape"] == ["batch", 64, 42]


def test_check_interface_says_whether_there_is_a_mask():
    assert check_interface(GOOD, [OUTPUT_NAME], "m.onnx") is False
    assert check_interface({**GOOD, MASK_NAME: ["batch", "length"]}, ["logits"], "m.onnx") is True
    assert check_interface({**GOOD, "body": [-1, -1, -1]}, ["logits"], "m.onnx") is False


@pytest.mark.parametrize("inputs, outputs, fragment", [
    ({k: v for k, v in GOOD.items() if k != "body"}, ["logits"], "are not those of an"),
    ({**GOOD, "extra": [1]}, ["logits"], "are not those of an"),
    (GOOD, ["scores"], "are not those of an"),
    ({**GOOD, "body": ["batch", "length", 42]}, ["logits"],
     "input body has shape ['batch', 'length', 42], expected (batch, length, 24)"),
    ({**GOOD, "left_hand": ["batch", 42]}, ["logits"], "input left_hand has shape"),
])
def test_a_foreign_model_is_one_mismatch_error(inputs, outputs, fragment):
    with pytest.raises(ModelMismatchError) as error:
        check_interface(inputs, outputs, "other.onnx")
    assert str(error.value).startswith("other.onnx: ") and fragment in str(error.value)
    assert isinstance(error.value, ExportError) and isinstance(error.value, ValueError)
