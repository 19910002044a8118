"""`slr export onnx --quantize int8` options and refusals before any export
(export/quantize_cli.py); the INT8 export itself runs in tests/export/test_quantize.py."""

import pytest

from slr_fused.export.interface import ExportError
from slr_fused.export.quantize_cli import run_quantized_export

from export_helpers import export_parser


def _args(*flags):
    return export_parser().parse_args(["export", "onnx", "model.pt", "-o", "x.onnx", *flags])


def test_quantize_options_parse():
    args = _args("--quantize", "int8", "--calibration", "v.csv", "--held-out", "t.csv",
                 "--calibration-samples", "64")
    assert (args.quantize, args.calibration, args.held_out, args.calibration_samples) == \
        ("int8", "v.csv", "t.csv", 64)
    assert _args().quantize is None


def test_quantize_needs_a_calibration_csv(capsys):
    from slr_fused.cli import main
    assert main(["export", "onnx", "model.pt", "-o", "x.onnx", "--quantize", "int8"]) == 2
    assert "--calibration" in capsys.readouterr().err


def test_missing_csvs_and_overwriting_the_checkpoint_are_refused(tmp_path):
    pytest.importorskip("onnx", reason="the export extra (onnx) is needed")
    with pytest.raises(ExportError, match="needs --calibration CSV"):
        run_quantized_export(_args("--quantize", "int8"))
    with pytest.raises(ExportError, match=f"{tmp_path / 'v.csv'}: no such file"):
        run_quantized_export(_args("--quantize", "int8", "--calibration", str(tmp_path / "v.csv")))
    csv = tmp_path / "v.csv"
    csv.write_text("labels\n")
    args = export_parser().parse_args(["export", "onnx", "model.pt", "-o", "model.pt",
                                       "--quantize", "int8", "--calibration", str(csv)])
    with pytest.raises(ExportError, match="the export would replace the checkpoint"):
        run_quantized_export(args)
