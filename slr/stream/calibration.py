"""The no-sign threshold of a model, calibrated on a validation CSV and stored beside the model.

The windows are those a stream shows the model: every validation sample from its first frame to
``min_window``, ``min_window + stride``, ... frames and in full (after a pause the stream runs the
model on a sign's first frames). Positives are the windows the model classifies correctly;
negatives are what a stream must not report: windows it gets wrong, and windows that straddle two different signs (the second
half of one sample then the first half of another) classified as neither of them. The threshold on
the top-1 probability is the one that best separates them (highest true-positive plus
true-negative rate; the lowest such value on ties). It goes to ``<model file>.stream.json``,
written atomically; the model file itself is never written.
"""

import json
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..atomic import write_text_atomic
from ..data.csv_format import read_pose_csv
from ..extract.predict import Model
from .window_model import label_of, window_probabilities

SIDECAR_SUFFIX = ".stream.json"


def sidecar_path(model_path) -> Path:
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + SIDECAR_SUFFIX)


def _model_stamp(model_path) -> dict:
    stat = os.stat(model_path)
    return {"model_size": stat.st_size, "model_mtime": int(stat.st_mtime)}


def best_threshold(positives: np.ndarray, negatives: np.ndarray) -> float:
    """The top-1 probability cut maximising TPR + TNR (accept when probability >= cut)."""
    if len(positives) == 0:
        raise ValueError("calibration needs samples the model classifies correctly; it got none right")
    candidates = np.unique(np.concatenate([positives, negatives, [0.0]]))
    best, best_score = 0.0, -1.0
    for cut in candidates:
        tpr = float((positives >= cut).mean())
        tnr = float((negatives < cut).mean()) if len(negatives) else 1.0
        if tpr + tnr > best_score + 1e-12:
            best, best_score = float(cut), tpr + tnr
    return best


def prefix_lengths(length: int, window: int, min_window: int, stride: int):
    """Window lengths the stream uses on a sign of ``length`` frames seen from its start."""
    top = min(length, window)
    lengths = list(range(min(min_window, top), top, stride)) + [top]
    return sorted(set(lengths))


def calibrate(model: Model, model_path, val_csv, no_sign: Sequence[str] = (), seed: int = 0,
              precision: str = "fp32", window: int = 30, min_window: int = 15, stride: int = 5,
              write: bool = True) -> dict:
    """Calibrate and (``write``) store the threshold; returns what was stored."""
    sequences = read_pose_csv(val_csv)
    rejected = {label_of(model.class_names, name) for name in no_sign} - {None}
    positives, negatives = [], []
    keep = [i for i in range(len(sequences)) if int(sequences.labels[i]) not in rejected]
    sample_windows = 0
    for i in keep:
        sample = sequences.sample(i)
        for length in prefix_lengths(len(sample), window, min_window, stride):
            p = window_probabilities(model, sample[:length], precision)
            sample_windows += 1
            top = int(p.argmax())
            (positives if top == int(sequences.labels[i]) else negatives).append(float(p[top]))
    rng = np.random.default_rng(seed)
    straddles = 0
    for i in keep:
        j = int(rng.choice(keep))
        if sequences.labels[j] == sequences.labels[i]:
            continue
        a, b = sequences.sample(i)[-window:], sequences.sample(j)[:window]
        straddle = np.concatenate([a[len(a) // 2:], b[:len(b) - len(b) // 2]])
        p = window_probabilities(model, straddle, precision)
        top = int(p.argmax())
        straddles += 1
        if top not in (int(sequences.labels[i]), int(sequences.labels[j])):
            negatives.append(float(p[top]))
    positives, negatives = np.asarray(positives), np.asarray(negatives)
    threshold = best_threshold(positives, negatives)
    record = {"threshold": round(threshold, 6), "validation_csv": str(val_csv),
              "no_sign_classes": list(no_sign), "precision": precision,
              "window": window, "min_window": min_window, "stride": stride,
              "samples": len(keep), "windows": sample_windows, "correct": int(len(positives)),
              "negatives": int(len(negatives)), "straddle_windows": straddles,
              "correct_accepted": round(float((positives >= threshold).mean()), 4),
              "negatives_rejected": round(float((negatives < threshold).mean()), 4) if len(negatives) else None,
              **_model_stamp(model_path)}
    if write:
        target = sidecar_path(model_path)
        if target.resolve() == Path(model_path).resolve():
            raise ValueError(f"{target}: the calibration file would replace the model")
        write_text_atomic(target, json.dumps(record, indent=2) + "\n")
    return record


def load_calibration(model_path) -> Optional[dict]:
    """The stored calibration, or None; a calibration older than the model is not used."""
    path = sidecar_path(model_path)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: unreadable calibration ({error}); run slr stream --calibrate again") from None
    if not isinstance(record, dict) or "threshold" not in record:
        raise ValueError(f"{path}: not a calibration file; run slr stream --calibrate again")
    stamp = _model_stamp(model_path)
    if record.get("model_size") != stamp["model_size"]:
        raise ValueError(f"{path}: calibrated for a different model file (size differs); "
                         f"run slr stream --calibrate again")
    return record
