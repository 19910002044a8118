"""`slr export` options and the output guard that runs before any export (export/cli.py); each
format's export runs in tests/export/test_onnx.py, test_tensorrt.py and test_aoti.py."""

import pytest

from slr_fused.export.cli import run_export
from slr_fused.guards import OutputError

from export_helpers import export_parser


def test_each_format_and_its_defaults():
    parser = export_parser()
    onnx = parser.parse_args(["export", "onnx", "m.pt", "-o", "m.onnx"])
    assert (onnx.export_format, onnx.dynamic_length, onnx.with_mask, onnx.verify) == \
        ("onnx", False, False, True)
    trt = parser.parse_args(["export", "tensorrt", "m.onnx", "-o", "m.engine"])
    assert (trt.precision, trt.min_batch, trt.opt_batch, trt.max_batch, trt.max_length) == \
        ("fp16", 1, 8, 32, None)
    aoti = parser.parse_args(["export", "aoti", "m.pt", "-o", "m.pt2", "--no-verify"])
    assert (aoti.kernel, aoti.device, aoti.max_batch, aoti.verify) == ("auto", "auto", 1024, False)


@pytest.mark.parametrize("argv", [["export"], ["export", "onnx", "m.pt"],
                                  ["export", "tensorrt", "m.onnx", "-o", "e", "--precision", "int4"]])
def test_bad_command_lines_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        export_parser().parse_args(argv)
    assert exit_.value.code == 2 and "usage:" in capsys.readouterr().err


def test_an_existing_output_or_an_input_is_never_overwritten(tmp_path):
    checkpoint, existing = tmp_path / "m.pt", tmp_path / "m.onnx"
    checkpoint.write_bytes(b"x")
    existing.write_bytes(b"old")
    cases = [([str(existing)], "exists already; pass --overwrite"),
             ([str(checkpoint), "--overwrite"], "this is one of the inputs")]
    for output, message in cases:
        args = export_parser().parse_args(["export", "onnx", str(checkpoint), "-o", *output])
        with pytest.raises(OutputError, match=message):
            run_export(args)
    assert existing.read_bytes() == b"old" and checkpoint.read_bytes() == b"x"
