"""``slr export onnx|tensorrt|aoti``: argument parsing and printing only.

The work is in :func:`slr_fused.export.onnx.export_onnx`,
:func:`slr_fused.export.tensorrt.build_engine` and :func:`slr_fused.export.aoti.export_aoti`,
which take the same options. Errors are
``ValueError``/``RuntimeError`` subclasses with one sentence; ``slr``'s main prints them as
``error: <message>`` and exits with status 2.
"""

import argparse
from typing import Callable

from .onnx import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET


def add_export_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``export`` (with ``onnx``, ``tensorrt`` and ``aoti``) to the ``slr`` subcommands."""
    export = subparsers.add_parser(
        "export", help="export a trained model to ONNX, a TensorRT engine or an AOTInductor package")
    formats = export.add_subparsers(dest="export_format", metavar="FORMAT")
    formats.required = True

    onnx = formats.add_parser(
        "onnx", help="checkpoint -> .onnx (runs anywhere; TensorRT-compatible opset and operators)")
    onnx.add_argument("checkpoint", help="model file written by `slr train` (runs/<name>/model.pt)")
    onnx.add_argument("--output", "-o", required=True, help="the .onnx file to write")
    _overwrite_flag(onnx)
    onnx.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                      help=f"ONNX opset, {MIN_OPSET}-{MAX_OPSET} (default: %(default)s; TensorRT 8.6 "
                           f"parses up to 17, 10.0 up to 20)")
    onnx.add_argument("--dynamic-length", action="store_true",
                      help="make the number of frames a dynamic axis (default: fixed, see --length)")
    onnx.add_argument("--with-mask", action="store_true",
                      help="add the padding_mask input (True = padded frame), for batches of "
                           "different lengths and models trained without --num_frames")
    onnx.add_argument("--length", type=int, default=None,
                      help="frames of a fixed-length export (default: the training --num_frames, "
                           "else 204)")
    onnx.add_argument("--no-verify", dest="verify", action="store_false",
                      help="skip the ONNX Runtime vs PyTorch check on random inputs")
    from .quantize_cli import add_quantize_arguments
    add_quantize_arguments(onnx)

    trt = formats.add_parser(
        "tensorrt", help=".onnx -> TensorRT engine (run it on the GPU that will serve it)")
    trt.add_argument("onnx", help="file written by `slr export onnx`")
    trt.add_argument("--output", "-o", required=True,
                     help="the engine file to write; its build record goes to <output>.json")
    _overwrite_flag(trt)
    trt.add_argument("--precision", choices=("fp32", "fp16"), default="fp16",
                     help="fp16 keeps LayerNorm and softmax in fp32 (default: %(default)s)")
    trt.add_argument("--int8-calib", metavar="CSV", default=None,
                     help="also allow INT8, calibrated on this pose CSV")
    for axis, defaults in (("batch", (1, 8, 32)), ("length", (None, None, None))):
        for kind, default in zip(("min", "opt", "max"), defaults):
            shown = default if default is not None else (
                "from the ONNX file" if kind != "opt" else "fixed length, or min(128, max)")
            trt.add_argument(f"--{kind}-{axis}", type=int, default=default,
                             help=f"{kind} {axis} of the optimisation profile (default: {shown})")
    trt.add_argument("--timing-cache", default=None,
                     help="timing cache file, read if present and updated (faster rebuilds)")
    trt.add_argument("--workspace-gib", type=float, default=None,
                     help="builder workspace limit in GiB (default: TensorRT's)")
    trt.add_argument("--print-trtexec", action="store_true",
                     help="print the equivalent trtexec command instead of building (needs no "
                          "TensorRT here)")

    aoti = formats.add_parser(
        "aoti", help="checkpoint -> AOTInductor .pt2 package (PyTorch, compiled ahead of time; "
                     "keeps the fused Triton block)")
    aoti.add_argument("checkpoint", help="model file written by `slr train`")
    aoti.add_argument("--output", "-o", required=True, help="the .pt2 package to write")
    _overwrite_flag(aoti)
    aoti.add_argument("--kernel", choices=("auto", "reference", "triton"), default="auto",
                      help="cross-modal block inside the package (default: triton on CUDA, "
                           "else the reference)")
    aoti.add_argument("--device", default="auto",
                      help="cpu, cuda or cuda:N: the package runs on this device type "
                           "(default: cuda when available)")
    aoti.add_argument("--with-mask", action="store_true",
                      help="add the padding_mask input (True = padded frame)")
    aoti.add_argument("--max-batch", type=int, default=1024,
                      help="largest batch the package accepts (default: %(default)s)")
    aoti.add_argument("--no-verify", dest="verify", action="store_false",
                      help="skip the package vs eager model check on random inputs")
    return export


def _overwrite_flag(parser) -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing output file (never an input)")


def _check_outputs(args: argparse.Namespace) -> None:
    """No export writes over its input or, without --overwrite, over an existing file."""
    from ..guards import check_output
    if args.export_format == "tensorrt":
        inputs = [args.onnx, args.int8_calib, args.timing_cache]
        check_output(args.output, inputs, args.overwrite)
        check_output(args.output + ".json", inputs + [args.output], args.overwrite,
                     flag="build record")
    else:   # onnx (--quantize reads calibration/held-out CSVs too) or aoti
        inputs = [args.checkpoint, getattr(args, "calibration", None), getattr(args, "held_out", None)]
        check_output(args.output, inputs, args.overwrite)


def run_export(args: argparse.Namespace, log: Callable[[str], None] = print) -> int:
    """Run a parsed ``slr export ...``; returns the exit status."""
    if not getattr(args, "print_trtexec", False):
        _check_outputs(args)
    if args.export_format == "onnx" and getattr(args, "quantize", None):
        from .quantize_cli import run_quantized_export
        return run_quantized_export(args, log)
    if args.export_format == "onnx":
        from .onnx import export_onnx, unsupported_operators
        summary = export_onnx(args.checkpoint, args.output, opset=args.opset,
                              dynamic_length=args.dynamic_length, with_mask=args.with_mask,
                              length=args.length, verify=args.verify)
        operators = summary["operators"]
        log(f"Exported {summary['path']}: opset {summary['opset']}, inputs "
            f"{', '.join(summary['inputs'])}, {sum(operators.values())} nodes of "
            f"{len(operators)} operator types")
        if "max_abs_diff" in summary:
            log(f"ONNX Runtime vs PyTorch on random inputs: max |logit difference| "
                f"{summary['max_abs_diff']:.2e}")
        problems = unsupported_operators(summary["path"])
        if problems:
            log("Warning: TensorRT 10.0 would reject this graph: " + "; ".join(problems[:5]))
        else:
            log("TensorRT 10.0 operator check: every operator is supported")
        return 0
    if args.export_format == "tensorrt":
        from .tensorrt import Profile, build_engine, trtexec_command
        lengths = {f"{k}_length": getattr(args, f"{k}_length") for k in ("min", "opt", "max")}
        profile = Profile(min_batch=args.min_batch, opt_batch=args.opt_batch,
                          max_batch=args.max_batch, **lengths)
        if args.print_trtexec:
            if args.int8_calib:
                raise ValueError("--print-trtexec cannot express --int8-calib (trtexec calibrates "
                                 "only from a cache): build with `slr export tensorrt` instead")
            log(trtexec_command(args.onnx, args.output, args.precision, profile,
                                args.timing_cache, args.workspace_gib))
            return 0
        build_engine(args.onnx, args.output, precision=args.precision, profile=profile,
                     timing_cache=args.timing_cache, int8_calib=args.int8_calib,
                     workspace_gib=args.workspace_gib, log=log)
        return 0
    if args.export_format == "aoti":
        from .aoti import export_aoti
        summary = export_aoti(args.checkpoint, args.output, kernel=args.kernel, device=args.device,
                              with_mask=args.with_mask, max_batch=args.max_batch,
                              verify=args.verify, log=log)
        meta = summary["metadata"]
        log(f"Exported {summary['path']} for {meta['device_type']} (cross-modal block: "
            f"{meta['kernel']}) in {summary['compile_seconds']:.0f} s; batch 1-{meta['max_batch']},"
            f" length 1-{meta['max_frames']}")
        if "max_abs_diff" in summary:
            log(f"Package vs eager PyTorch on random inputs: max |logit difference| "
                f"{summary['max_abs_diff']:.2e}")
        return 0
    raise ValueError(f"unknown export format {args.export_format!r}")
