"""Videos or pose CSVs -> the top-k signs of a trained model, with probabilities and timings.

A video goes through the same extraction as ``slr extract``; its frames (like each row of a CSV)
then go through :class:`slr_fused.data.dataset.PoseDataset` with the frame settings the model was
trained with, so normalisation and resampling are exactly those of training and evaluation.
Samples are run one at a time: no padding, and the same call works for exported runners.
"""

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..data.csv_format import PoseDataError, PoseSequences, read_pose_csv
from ..data.dataset import PoseDataset, collate_poses
from .extractor import ExtractOptions, ensure_pose_model, extract_video
from .video import VIDEO_SUFFIXES

EXPORTED_SUFFIXES = (".onnx", ".engine", ".trt", ".plan", ".pt2")


class PredictionError(ValueError):
    """Prediction cannot run at all (no model, no inputs, an unsupported model file)."""


@dataclass
class Model:
    """Something callable as ``runner(lh, rh, body, padding_mask) -> logits``, and its facts."""

    runner: Callable
    class_names: List[str]             # may be empty (an export without names): labels shown
    num_classes: int
    max_frames: Optional[int]          # longest sequence the model takes (None: no limit)
    num_frames: Optional[int]          # the fixed length the model was trained with, if any
    source: str
    canonical_hand: Optional[str] = None  # the training's --canonical_hand, applied alike


@dataclass
class Prediction:
    """The top-k of one input (a video, or one row of a CSV), or why there is none."""

    input: str
    top: List[Tuple[int, str, float]] = field(default_factory=list)   # (label, class, probability)
    frames: int = 0
    error: Optional[str] = None
    note: Optional[str] = None          # e.g. no hand found: predicted, but worth knowing
    true_label: Optional[int] = None    # CSV rows carry one
    extraction_s: float = 0.0           # MediaPipe on a video; reading the file for a CSV
    model_s: float = 0.0

    def to_dict(self, class_names: Sequence[str]) -> dict:
        out = {"input": self.input, "frames": self.frames, "error": self.error, "note": self.note,
               "extraction_s": round(self.extraction_s, 4), "model_s": round(self.model_s, 4),
               "predictions": [{"label": i, "class": name, "probability": p}
                               for i, name, p in self.top]}
        if self.true_label is not None:
            out["true_label"] = self.true_label
            out["true_class"] = _class_name(class_names, self.true_label)
        return out


@dataclass
class PredictionReport:
    predictions: List[Prediction]
    model: Model
    load_s: float = 0.0
    extraction_s: float = 0.0
    model_s: float = 0.0

    def to_dict(self) -> dict:
        names = self.model.class_names
        return {"model": self.model.source,
                "results": [p.to_dict(names) for p in self.predictions],
                "timing": {"model_load_s": round(self.load_s, 4),
                           "extraction_s": round(self.extraction_s, 4),
                           "model_s": round(self.model_s, 4)}}

    def table(self) -> str:
        """A plain-text table: one block of k lines per input, then the timings."""
        rows = [("input", "rank", "class", "probability")]
        for p in self.predictions:
            if p.error:
                rows.append((p.input, "-", f"error: {p.error}", ""))
                continue
            for rank, (label, name, prob) in enumerate(p.top, start=1):
                rows.append((p.input if rank == 1 else "", str(rank), name, f"{prob:.4f}"))
        # An error row carries its message in the class column; it must not widen the table.
        widths = [max(len(r[c]) for r in rows if c != 2 or not r[2].startswith("error:"))
                  for c in range(4)]
        lines = ["  ".join(cell.ljust(widths[c]) if c < 3 else cell for c, cell in enumerate(row)).rstrip()
                 for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths[:3]) + "  " + "-" * 11)
        notes = [f"note: {p.note}" for p in self.predictions if p.note]
        done = [p for p in self.predictions if not p.error]
        timing = (f"time: model load {self.load_s:.2f} s, landmark extraction {self.extraction_s:.2f} s, "
                  f"model {self.model_s * 1000:.1f} ms"
                  + (f" ({self.model_s * 1000 / len(done):.1f} ms per input)" if done else ""))
        return "\n".join(lines + notes + [timing])


def _class_name(names: Sequence[str], label: int) -> str:
    return names[label] if 0 <= label < len(names) else str(label)


def load_predictor(path, device: str = "cpu", trust_model: bool = False) -> Model:
    """A checkpoint (``.pt`` from training) or, through slr_fused.export, an ONNX file, a
    TensorRT engine or an AOTInductor package (``.pt2``); the last two run native code when
    loaded, so one not exported on this machine needs ``trust_model`` (see slr_fused.trust)."""
    path = Path(path)
    if path.suffix.lower() in EXPORTED_SUFFIXES:
        from ..trust import check_trusted
        check_trusted(path, trust_model)   # before the export package (or TensorRT) is imported
        return _load_exported(path, device, trust_model)
    from ..checkpoint import load_model
    from ..devices import pick_device
    device = pick_device(device)  # "auto" as in training and evaluation
    model, info = load_model(path, device=device)
    config = info["config"]
    train_config = (info.get("metadata") or {}).get("train_config") or {}
    names = info.get("class_names") or [str(i) for i in range(config.num_classes)]

    def runner(lh, rh, body, padding_mask=None):
        return model(lh.to(device), rh.to(device), body.to(device),
                     None if padding_mask is None else padding_mask.to(device))

    return Model(runner, list(names), config.num_classes, config.max_frames,
                 train_config.get("num_frames"), str(path), train_config.get("canonical_hand"))


def _load_exported(path: Path, device: str, trust: bool = False) -> Model:
    """An ONNX file (ONNX Runtime), TensorRT engine or AOTInductor package, through
    slr_fused.export's runners.

    The runners take the model's call interface; what a checkpoint's config says (classes,
    lengths) comes from the export's metadata and its input shapes instead.
    """
    suffix = path.suffix.lower()
    onnx = suffix == ".onnx"
    try:
        if onnx:
            from ..export.runtime import OnnxRuntimeRunner as runner_class
        elif suffix == ".pt2":
            from ..export.aoti import AotiRunner as runner_class
        else:
            from ..export.tensorrt import TensorRTRunner as runner_class
    except ImportError as error:
        raise PredictionError(f"{path}: exported models need slr_fused.export, which cannot be "
                              f"imported here ({error}); predict with the .pt checkpoint") from None
    if suffix == ".pt2":
        from ..devices import pick_device
        # auto: the device the package was compiled for (it runs nowhere else).
        runner = runner_class(path, device=None if device == "auto" else pick_device(device),
                              trust=trust)
        metadata = runner.metadata
    elif onnx:
        providers = (["CUDAExecutionProvider", "CPUExecutionProvider"] if device.startswith("cuda")
                     else ["CPUExecutionProvider"])
        runner = runner_class(path, providers=providers)
        metadata = getattr(runner, "metadata", {})
    else:
        index = int(device.split(":")[1]) if device.startswith("cuda:") else 0
        runner = runner_class(path, device=index, trust=trust)
        metadata = getattr(runner, "record", {})
    low, high = runner.length_range
    # A static export takes exactly one length: every sample is resampled to it, as training
    # with --num_frames does. Otherwise the training num_frames, when the export recorded it.
    num_frames = low if low == high else metadata.get("num_frames")
    names = list(runner.class_names or [])
    return Model(runner, names, len(names), high, int(num_frames) if num_frames else None, str(path))


def expand_inputs(inputs: Sequence) -> List[Path]:
    """Folders become their videos (recursively, sorted); files are kept, existing or not."""
    out: List[Path] = []
    for entry in inputs:
        path = Path(entry)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise PredictionError(f"{path}: no video files in the folder")
            out.extend(found)
        else:
            out.append(path)
    if not out:
        raise PredictionError("nothing to predict: no inputs were given")
    return out


def sample_batch(model: Model, frames: np.ndarray) -> dict:
    """One raw (T, 54, 2) sample as the model's batch of one, through PoseDataset exactly as an
    evaluation set would go: same resampling (``num_frames`` when the model was trained with it,
    else capped at ``max_frames``), same normalisation, no augmentation."""
    frames = np.asarray(frames, dtype=np.float32)
    sequences = PoseSequences(frames, np.array([0, len(frames)], np.int64), np.zeros(1, np.int64))
    dataset = PoseDataset(sequences, num_frames=model.num_frames,
                          max_frames=None if model.num_frames else model.max_frames,
                          canonical_hand=model.canonical_hand)
    batch = collate_poses([dataset[0]])
    return batch


@torch.no_grad()
def predict_frames(model: Model, frames: np.ndarray, top_k: int = 5) -> Tuple[List[Tuple[int, str, float]], float]:
    """Top-k of one raw (T, 54, 2) sample; returns (top list, seconds spent in the model).

    The sample is prepared by :func:`sample_batch`; only the model call is timed.
    """
    batch = sample_batch(model, frames)
    start = time.perf_counter()
    logits = model.runner(batch["lh"], batch["rh"], batch["body"], batch["padding_mask"])
    logits = torch.as_tensor(np.asarray(logits.detach().float().cpu() if torch.is_tensor(logits) else logits))
    probabilities = torch.softmax(logits.float().reshape(-1), dim=0)
    seconds = time.perf_counter() - start
    k = min(top_k, probabilities.numel())
    values, indices = probabilities.topk(k)
    return ([(int(i), _class_name(model.class_names, int(i)), float(v)) for v, i in zip(values, indices)],
            seconds)


def predict(inputs: Sequence, model_path, top_k: int = 5, options: Optional[ExtractOptions] = None,
            device: str = "cpu", progress: Optional[bool] = False,
            trust_model: bool = False) -> PredictionReport:
    """Top-k signs for videos, pose CSVs (every row) and folders of videos.

    ``options`` controls extraction from videos; when it sets no maximum length the model's is
    used, so no frames are extracted that the model would drop. A bad input gets an error in its
    Prediction and the others go on; PredictionError/CheckpointError when nothing can run.
    ``progress``: a progress bar over the inputs (None: only on a terminal).
    """
    if top_k < 1:
        raise PredictionError(f"top-k must be at least 1, got {top_k}")
    paths = expand_inputs(inputs)
    start = time.perf_counter()
    model = load_predictor(model_path, device, trust_model)
    report = PredictionReport([], model, load_s=time.perf_counter() - start)
    options = options or ExtractOptions()
    if options.max_frames is None:  # extracting frames the model would drop is wasted time
        options = dataclasses.replace(options, max_frames=model.num_frames or model.max_frames)
    if any(p.suffix.lower() != ".csv" for p in paths):
        ensure_pose_model(options.model_complexity)  # one clear error up front, not per video
    from tqdm.auto import tqdm
    for path in tqdm(paths, desc="predicting", unit="input", leave=False,
                     disable=None if progress is None else not progress):
        if path.suffix.lower() == ".csv":
            report.predictions.extend(_predict_csv(model, path, top_k))
        else:
            report.predictions.append(_predict_video(model, path, options, top_k))
    report.extraction_s = sum(p.extraction_s for p in report.predictions)
    report.model_s = sum(p.model_s for p in report.predictions)
    return report


def _without_path(message: str, path: Path) -> str:
    """A message without its leading file name: the table already shows it in the input column."""
    for prefix in (f"{path}: ", f"{path}, "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def _predict_video(model: Model, path: Path, options: ExtractOptions, top_k: int) -> Prediction:
    result = extract_video(path, options)
    prediction = Prediction(str(path), extraction_s=result.seconds)
    if not result.usable:
        prediction.error = _without_path(result.message, path)
        return prediction
    if result.status != "ok":
        prediction.note = result.message
    prediction.frames = len(result.frames)
    prediction.top, prediction.model_s = predict_frames(model, result.frames, top_k)
    return prediction


def _predict_csv(model: Model, path: Path, top_k: int) -> List[Prediction]:
    start = time.perf_counter()
    try:
        sequences = read_pose_csv(path)
    except PoseDataError as error:
        return [Prediction(str(path), error=_without_path(str(error), path))]
    read_s = time.perf_counter() - start
    out = []
    for i in range(len(sequences)):
        frames = sequences.sample(i)
        prediction = Prediction(f"{path} row {i + 1}", frames=len(frames),
                                true_label=int(sequences.labels[i]),
                                extraction_s=read_s if i == 0 else 0.0)
        prediction.top, prediction.model_s = predict_frames(model, frames, top_k)
        out.append(prediction)
    return out
