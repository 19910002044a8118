"""What reduced precision costs in accuracy: a model (int8 ONNX, bf16 autocast, ...) against the
fp32 reference on a held-out pose CSV, sample by sample.

Reported: top-1 agreement with the reference, top-1 accuracy of both and its change in points,
and the classes whose accuracy changed most (with how many of their predictions changed).
"""

from typing import Dict, List, Optional

import numpy as np

from .data.csv_format import read_pose_csv

ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8",
             "amx_tile", "neon", "asimd", "sve")


def cpu_flags() -> set:
    """The ISA flags of this CPU from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_supports_bf16() -> bool:
    """AVX512-BF16 or AMX-BF16: bf16 matrix products in hardware (elsewhere bf16 is emulated
    and slower than fp32)."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def check_precision(precision: str) -> None:
    if precision == "bf16" and not cpu_supports_bf16():
        raise ValueError("--precision bf16: this CPU has neither AVX512-BF16 nor AMX-BF16 "
                         "(see /proc/cpuinfo flags); use fp32")


def precision_scope(precision: str, model_path, device: str = "cpu"):
    """The context a whole run goes in: nothing for fp32; CPU bf16 autocast for a ``.pt`` model
    on a CPU that has bf16 (one clear error otherwise)."""
    from contextlib import nullcontext
    from pathlib import Path
    if precision == "fp32":
        return nullcontext()
    check_precision(precision)
    if Path(model_path).suffix.lower() != ".pt":
        raise ValueError(f"--precision {precision} runs .pt checkpoints (torch autocast); "
                         f"{model_path} is an export: quantize it instead (slr export onnx --quantize int8)")
    import torch
    if device not in ("cpu", "auto") or (device == "auto" and torch.cuda.is_available()):
        raise ValueError(f"--precision {precision} is CPU autocast; run with --device cpu")
    return torch.autocast(device_type="cpu", dtype=torch.bfloat16)


def isa_report() -> dict:
    """The CPU model and which of the flags that decide int8/bf16 speed it has."""
    flags = cpu_flags()
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle
                          if line.startswith("model name")), "")
    except OSError:
        pass
    import os
    return {"cpu": model, "cores": os.cpu_count(), "flags": [f for f in ISA_FLAGS if f in flags]}


def class_logits(model, csv, precision: str = "fp32", limit: Optional[int] = None):
    """(probabilities (N, C), labels (N,)) of every sample of ``csv`` (one at a time, as the
    stream and ``slr predict`` run them)."""
    from .stream.window_model import window_probabilities
    sequences = read_pose_csv(csv)
    count = len(sequences) if limit is None else min(limit, len(sequences))
    probabilities = np.stack([window_probabilities(model, sequences.sample(i), precision)
                              for i in range(count)])
    return probabilities, sequences.labels[:count].astype(np.int64)


def compare_predictions(reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray,
                        class_names: List[str], most_changed: int = 5) -> Dict[str, object]:
    """Agreement and accuracy change of ``candidate`` against ``reference`` (both (N, C))."""
    ref_top, new_top = reference.argmax(1), candidate.argmax(1)
    ref_acc = float((ref_top == labels).mean())
    new_acc = float((new_top == labels).mean())
    classes = []
    for c in np.unique(labels):
        mask = labels == c
        change = float((new_top[mask] == c).mean() - (ref_top[mask] == c).mean())
        flips = int((new_top[mask] != ref_top[mask]).sum())
        if flips or change:
            name = class_names[c] if c < len(class_names) else str(int(c))
            classes.append({"class": name, "samples": int(mask.sum()), "predictions_changed": flips,
                            "accuracy_change_points": round(100 * change, 2)})
    classes.sort(key=lambda row: (-abs(row["accuracy_change_points"]), -row["predictions_changed"]))
    return {"samples": int(len(labels)),
            "top1_agreement": round(float((ref_top == new_top).mean()), 4),
            "top1_reference": round(ref_acc, 4), "top1_candidate": round(new_acc, 4),
            "top1_change_points": round(100 * (new_acc - ref_acc), 2),
            "max_probability_difference": round(float(np.abs(reference - candidate).max()), 4),
            "most_changed_classes": classes[:most_changed]}


def format_comparison(report: Dict[str, object], name: str = "candidate") -> str:
    lines = [f"accuracy of {name} vs fp32 on {report['samples']} held-out samples: "
             f"top-1 agreement {report['top1_agreement']:.2%}, top-1 {report['top1_reference']:.2%} -> "
             f"{report['top1_candidate']:.2%} ({report['top1_change_points']:+.2f} points)"]
    changed = report["most_changed_classes"]
    if changed:
        lines.append("classes that changed most: " + ", ".join(
            f"{row['class']} {row['accuracy_change_points']:+.1f} pt ({row['predictions_changed']} of "
            f"{row['samples']} changed)" for row in changed))
    else:
        lines.append("no prediction changed")
    return "\n".join(lines)
