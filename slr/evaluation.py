"""Evaluation: a model's top-1/top-5 on a loader (every training epoch), and ``slr evaluate``'s
report of a saved model on a CSV (top-1/top-5, per-class accuracy, confusion matrix)."""

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader

from .checkpoint import CheckpointError, load_model
from .data.csv_format import read_class_names
from .data.dataset import PoseDataset, collate_poses
from .atomic import write_text_atomic
from .devices import batch_to, pick_device
from .metrics import topk_correct


@torch.no_grad()
def evaluate_counts(model, loader: DataLoader, device: torch.device, amp=nullcontext):
    """(top-1 hits, top-5 hits, samples) over a loader; counts, so ranks can sum them."""
    model.eval()
    hits1 = hits5 = total = 0
    for batch in loader:
        batch = batch_to(batch, device)
        with amp():
            logits = model(batch["lh"], batch["rh"], batch["body"], batch["padding_mask"])
        correct = topk_correct(logits.float(), batch["label"])
        hits1, hits5, total = hits1 + correct[1], hits5 + correct[5], total + len(batch["label"])
    return hits1, hits5, total


@torch.no_grad()
def evaluate_checkpoint(checkpoint, data, output: Optional[str] = None, batch_size: int = 64,
                        device: str = "auto", num_frames: Optional[int] = None) -> Dict:
    """Metrics of ``checkpoint`` on the CSV ``data``; writes JSON and a confusion PNG to ``output``."""
    device = pick_device(device)
    model, info = load_model(checkpoint, device)
    config = info["config"]
    train_config = (info.get("metadata") or {}).get("train_config") or {}
    dataset = PoseDataset(data, num_frames=num_frames,
                          max_frames=None if num_frames else config.max_frames,
                          canonical_hand=train_config.get("canonical_hand"))
    if dataset.num_classes > config.num_classes:
        raise CheckpointError(f"{checkpoint}: the model has {config.num_classes} classes but {data} "
                              f"has labels up to {dataset.num_classes - 1}")
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate_poses)
    n = config.num_classes
    confusion = np.zeros((n, n), dtype=np.int64)
    hits1 = hits5 = 0
    for batch in loader:
        batch = batch_to(batch, device)
        logits = model(batch["lh"], batch["rh"], batch["body"], batch["padding_mask"]).float()
        correct = topk_correct(logits, batch["label"])
        hits1, hits5 = hits1 + correct[1], hits5 + correct[5]
        np.add.at(confusion, (batch["label"].cpu().numpy(), logits.argmax(-1).cpu().numpy()), 1)
    total = int(confusion.sum())
    names = info["class_names"] or read_class_names(data, n) or [str(i) for i in range(n)]
    support = confusion.sum(1)
    per_class = {names[i]: {"accuracy": float(confusion[i, i] / support[i]), "support": int(support[i])}
                 for i in range(n) if support[i] > 0}
    result = {"checkpoint": str(checkpoint), "data": str(data), "samples": total,
              "top1": hits1 / total, "top5": hits5 / total, "per_class": per_class,
              "class_names": names, "confusion_matrix": confusion.tolist()}
    if output:
        out = Path(output)
        write_text_atomic(out / "evaluation.json", json.dumps(result, indent=2) + "\n")
        try:
            from .plots import plot_confusion
            plot_confusion(confusion, names, out / "confusion_matrix.png",
                           f"{Path(data).name}: top-1 {result['top1']:.3f}")
            result["confusion_png"] = str(out / "confusion_matrix.png")
        except ImportError:
            pass
        result["json"] = str(out / "evaluation.json")
    return result


def format_report(result: Dict) -> str:
    lines = [f"{result['data']}: {result['samples']} samples",
             f"top-1 {result['top1']:.4f}  top-5 {result['top5']:.4f}", "", "per-class accuracy:"]
    width = max(len(name) for name in result["per_class"]) if result["per_class"] else 5
    for name, values in result["per_class"].items():
        lines.append(f"  {name:{width}}  {values['accuracy']:.3f}  ({values['support']} samples)")
    for key in ("json", "confusion_png"):
        if key in result:
            lines.append(f"wrote {result[key]}")
    return "\n".join(lines)
