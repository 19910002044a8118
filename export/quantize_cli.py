"""``slr export onnx ... --quantize int8 --calibration VAL.csv``: the fp32 export, its INT8
quantization, and the accuracy report of one against the other on a held-out CSV."""

import argparse
import tempfile
from pathlib import Path
from typing import Callable


def add_quantize_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("INT8 quantization (fast CPU inference)")
    group.add_argument("--quantize", choices=("int8",), default=None,
                       help="write an INT8 model (ONNX Runtime static quantization) instead of fp32")
    group.add_argument("--calibration", metavar="CSV", default=None,
                       help="pose CSV whose samples calibrate the INT8 activation ranges "
                            "(e.g. the validation split); required with --quantize")
    group.add_argument("--held-out", dest="held_out", metavar="CSV", default=None,
                       help="pose CSV of the accuracy report, INT8 vs fp32 (e.g. the test split; "
                            "default: the calibration CSV, which is then not held out)")
    group.add_argument("--calibration-samples", dest="calibration_samples", type=int, default=None,
                       help="use only the first N calibration samples (default: all)")


def run_quantized_export(args: argparse.Namespace, log: Callable[[str], None] = print) -> int:
    from ..extract.predict import load_predictor
    from ..precision import class_logits, compare_predictions, format_comparison
    from .onnx import ExportError, export_onnx
    from .quantize import quantize_int8
    if not args.calibration:
        raise ExportError("--quantize int8 needs --calibration CSV (samples to calibrate on)")
    for name in (args.calibration, args.held_out):
        if name and not Path(name).is_file():
            raise ExportError(f"{name}: no such file")
    output = Path(args.output)
    if output.resolve() == Path(args.checkpoint).resolve():
        raise ExportError(f"{output}: the export would replace the checkpoint")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".slr-fp32-") as scratch:
        fp32 = Path(scratch) / "fp32.onnx"
        summary = export_onnx(args.checkpoint, fp32, opset=args.opset,
                              dynamic_length=args.dynamic_length, with_mask=args.with_mask,
                              length=args.length, verify=args.verify)
        log(f"Exported the fp32 model (opset {summary['opset']}, inputs {', '.join(summary['inputs'])})"
            + (f"; ONNX Runtime vs PyTorch max |logit difference| {summary['max_abs_diff']:.2e}"
               if "max_abs_diff" in summary else ""))
        quantize_int8(fp32, output, args.calibration, limit=args.calibration_samples)
        log(f"Quantized to INT8, calibrated on {args.calibration}: {output}")
        held_out = args.held_out or args.calibration
        reference = load_predictor(fp32)
        candidate = load_predictor(output)
        ref_probs, labels = class_logits(reference, held_out)
        new_probs, _ = class_logits(candidate, held_out)
    report = compare_predictions(ref_probs, new_probs, labels, reference.class_names)
    note = "" if args.held_out else " (the calibration CSV: not held out; pass --held-out)"
    log(f"Accuracy report on {held_out}{note}:")
    log(format_comparison(report, "INT8"))
    return 0
