"""``slr bench quantization``: INT8 (ONNX Runtime) and bf16 (torch autocast) against fp32 on the
CPU: accuracy on a held-out CSV and batch-1 latency at several lengths, interleaved.

Latency: every repeat runs each length and each runtime once, in turn, so a slow patch of a
shared machine hits every runtime alike; medians with 20th/80th percentiles and the ratio of each
reduced-precision runtime to its fp32 counterpart and to fp32 ONNX Runtime (the issue's yardstick)
per repeat. Accuracy: top-1 agreement with fp32,
top-1 change and the classes that changed most (:mod:`slr_fused.precision`). Every result carries
the CPU's ISA flags: int8 speed depends on VNNI, bf16 on AVX512-BF16/AMX, and machines differ.

Targets (issue 15): reduced precision <= 0.6x of fp32 ONNX Runtime at T = 204, batch 1, with
<= 1 point of top-1 change.
"""

import argparse
import tempfile
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

import torch

from slr_fused.bench.common import (add_output_arguments, command_main, environment,
                                    measure_cell, paired_ratio, random_inputs, summarize,
                                    write_and_report)

RUNTIMES = ("onnx-fp32", "onnx-int8", "eager-fp32", "eager-bf16")
BASELINE = {"onnx-int8": "onnx-fp32", "eager-bf16": "eager-fp32"}
TARGET_RATIO, TARGET_POINTS, TARGET_LENGTH = 0.6, 1.0, 204


def build_models(checkpoint, calibration, scratch: Path, onnx_path=None,
                 calibration_samples: Optional[int] = None, log: Callable = print) -> Dict[str, object]:
    """name -> (Model, precision) for the four runtimes (bf16 only where the CPU has it)."""
    from slr_fused.export.onnx import export_onnx
    from slr_fused.export.quantize import quantize_int8
    from slr_fused.extract.predict import load_predictor
    from slr_fused.precision import cpu_supports_bf16
    if onnx_path is None:
        onnx_path = scratch / "fp32.onnx"
        log("exporting the fp32 ONNX model (dynamic length) ...")
        export_onnx(checkpoint, onnx_path, dynamic_length=True, with_mask=True)
    int8_path = scratch / "int8.onnx"
    log(f"quantizing to INT8, calibrated on {calibration} ...")
    quantize_int8(onnx_path, int8_path, calibration, limit=calibration_samples)
    eager = load_predictor(checkpoint)
    models = {"onnx-fp32": (_without_spinning(load_predictor(onnx_path), onnx_path), "fp32"),
              "onnx-int8": (_without_spinning(load_predictor(int8_path), int8_path), "fp32"),
              "eager-fp32": (eager, "fp32")}
    if cpu_supports_bf16():
        models["eager-bf16"] = (eager, "bf16")
    return models


def _without_spinning(model, path):
    """The same model on an ONNX Runtime session whose worker threads do not spin-wait after a
    run: by default they keep a small CPU busy and slow whatever is timed next (the eager rows
    came out ~10x slow), which is why the deployment bench turns spinning off too."""
    from dataclasses import replace

    from slr_fused.export.runtime import OnnxRuntimeRunner
    return replace(model, runner=OnnxRuntimeRunner(path, spinning=False))


def measure_accuracy(models: Dict[str, tuple], held_out) -> Dict[str, dict]:
    from slr_fused.precision import class_logits, compare_predictions
    probabilities = {name: class_logits(model, held_out, precision)
                     for name, (model, precision) in models.items()}
    out = {}
    for name, baseline in BASELINE.items():
        if name in probabilities:
            (ref, labels), (new, _) = probabilities[baseline], probabilities[name]
            out[name] = compare_predictions(ref, new, labels, models[baseline][0].class_names)
            out[name]["reference"] = baseline
    return out


@torch.no_grad()
def measure_latency(models: Dict[str, tuple], lengths: Sequence[int], repeats: int,
                    warmup: int) -> Dict[str, Dict[str, dict]]:
    """runtime -> str(length) -> summary of milliseconds (plus ratio to its fp32 baseline)."""
    from slr_fused.stream.window_model import precision_context
    calls = {}
    for name, (model, precision) in models.items():
        for length in lengths:
            # An exported model carries no weights to read widths from: the pose format's.
            lh, rh, body = random_inputs(1, length, seed=length, scale=1.0)
            mask = torch.zeros(1, length, dtype=torch.bool)

            def call(_, model=model, precision=precision, inputs=(lh, rh, body, mask)):
                with precision_context(precision, model):
                    return model.runner(*inputs)
            calls[(name, length)] = call
    # Interleaved: every repeat runs each length and each runtime once, in turn.
    order = [(name, length) for length in lengths for name in models]
    samples = measure_cell({key: calls[key] for key in order}, None, repeats, warmup)
    out: Dict[str, Dict[str, dict]] = {}
    for (name, length), values in samples.items():
        block = {k: (v * 1000 if k != "n" else v) for k, v in summarize(values).items()}
        baseline = BASELINE.get(name)
        if baseline in models:
            block["ratio_to_fp32"] = paired_ratio(values, samples[(baseline, length)])
        if name != "onnx-fp32" and "onnx-fp32" in models:   # the yardstick
            block["ratio_to_onnx_fp32"] = paired_ratio(values, samples[("onnx-fp32", length)])
        out.setdefault(name, {})[str(length)] = block
    return out


def run_quantization(checkpoint, calibration, held_out, lengths: Sequence[int] = (30, 64, 204),
                     repeats: int = 50, warmup: int = 5, onnx_path=None,
                     calibration_samples: Optional[int] = None, log: Callable = print) -> dict:
    from slr_fused.precision import isa_report
    for name in (checkpoint, calibration, held_out) + ((onnx_path,) if onnx_path else ()):
        if not Path(name).is_file():
            raise ValueError(f"{name}: no such file")
    if repeats < 1 or warmup < 0 or not lengths:
        raise ValueError("--repeats must be at least 1, --warmup at least 0, and --lengths non-empty")
    with tempfile.TemporaryDirectory(prefix="slr-bench-quantization-") as scratch:
        models = build_models(checkpoint, calibration, Path(scratch), onnx_path,
                              calibration_samples, log)
        log(f"accuracy on {held_out} ...")
        accuracy = measure_accuracy(models, held_out)
        log(f"latency at batch 1, lengths {list(lengths)}, {repeats} interleaved repeats ...")
        latency = measure_latency(models, lengths, repeats, warmup)
    missing = [{"name": name, "reason": "this CPU has neither AVX512-BF16 nor AMX-BF16"}
               for name in RUNTIMES if name not in models]
    return {"benchmark": "quantization", "environment": environment(torch.device("cpu")),
            "isa": isa_report(), "checkpoint": str(checkpoint), "calibration": str(calibration),
            "held_out": str(held_out), "lengths": list(lengths), "repeats": repeats,
            "accuracy": accuracy, "latency": latency, "not_measured": missing,
            "targets": {"ratio_at_204": TARGET_RATIO, "top1_change_points": TARGET_POINTS}}


def markdown_report(result: dict) -> str:
    isa = result["isa"]
    lines = [f"# INT8 and bf16 vs fp32 on the CPU ({result['environment']['device']})", "",
             f"CPU: {isa['cpu']} ({isa['cores']} cores), ISA flags: {', '.join(isa['flags']) or 'none'}; "
             f"torch threads {result['environment']['torch_num_threads']}; "
             f"{result['environment']['date']}, commit {result['environment']['git_commit']}.", "",
             f"## Accuracy on {result['held_out']}", "",
             "| runtime | vs | top-1 agreement | top-1 fp32 | top-1 reduced | change (points) | classes that changed most |",
             "|---|---|---|---|---|---|---|"]
    for name, row in result["accuracy"].items():
        changed = "; ".join(f"{c['class']} {c['accuracy_change_points']:+.1f}"
                            for c in row["most_changed_classes"]) or "none"
        lines.append(f"| {name} | {row['reference']} | {row['top1_agreement']:.2%} | "
                     f"{row['top1_reference']:.2%} | {row['top1_candidate']:.2%} | "
                     f"{row['top1_change_points']:+.2f} | {changed} |")
    lines += ["", f"## Latency at batch 1 (ms, median [p20, p80]; {result['repeats']} interleaved repeats)", "",
              "| T | " + " | ".join(result["latency"]) + " | int8 / fp32 ORT | bf16 / fp32 ORT | bf16 / fp32 eager |",
              "|---|" + "---|" * (len(result["latency"]) + 3)]
    for length in result["lengths"]:
        key = str(length)
        cells = [f"{blocks[key]['median']:.2f} [{blocks[key]['p20']:.2f}, {blocks[key]['p80']:.2f}]"
                 for blocks in result["latency"].values()]
        ratios = []
        for name, field in (("onnx-int8", "ratio_to_onnx_fp32"), ("eager-bf16", "ratio_to_onnx_fp32"),
                            ("eager-bf16", "ratio_to_fp32")):
            block = result["latency"].get(name, {}).get(key, {})
            ratio = block.get(field)
            ratios.append("-" if ratio is None else f"{ratio['median']:.2f}x")
        lines.append(f"| {length} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    lines += ["", f"Targets: <= {TARGET_RATIO}x of fp32 at T = {TARGET_LENGTH}, <= {TARGET_POINTS} point "
              "of top-1 change."]
    for item in result["not_measured"]:
        lines.append(f"- {item['name']}: not measured ({item['reason']})")
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--model", required=True, help="trained checkpoint (.pt)")
    parser.add_argument("--calibration", required=True, help="pose CSV the INT8 model is calibrated on")
    parser.add_argument("--held-out", dest="held_out", required=True,
                        help="pose CSV of the accuracy comparison (e.g. the test split)")
    parser.add_argument("--onnx", default=None,
                        help="an existing fp32 export of the model (default: exported here, "
                             "dynamic length with mask)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[30, 64, 204])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--calibration-samples", dest="calibration_samples", type=int, default=None)
    add_output_arguments(parser, "quantization")


def run_from_args(args, log: Callable[[str], None] = print) -> Dict[str, Path]:
    result = run_quantization(args.model, args.calibration, args.held_out, args.lengths,
                              args.repeats, args.warmup, args.onnx, args.calibration_samples, log)
    return write_and_report(result, args, markdown_report, log)


main = command_main("quantization", __doc__, add_arguments, run_from_args)


if __name__ == "__main__":
    raise SystemExit(main())
