"""The model on one window of raw frames -> class probabilities, as ``slr predict`` computes them.

The window goes through :class:`slr_fused.data.dataset.PoseDataset` with the model's frame
settings (resampling to its ``num_frames``, its ``canonical_hand``), so what the model sees in a
stream is exactly what it saw in training and evaluation.
"""

from contextlib import nullcontext
from typing import Optional

import numpy as np
import torch

from ..extract.predict import Model, sample_batch
from ..precision import check_precision, cpu_supports_bf16  # noqa: F401  (re-exported)


def precision_context(precision: str, model: Model):
    """fp32: nothing; bf16: CPU autocast (only for .pt checkpoints, which run in torch)."""
    if precision == "fp32":
        return nullcontext()
    if not model.source.lower().endswith(".pt"):
        raise ValueError(f"--precision {precision} needs a .pt checkpoint; {model.source} is an export")
    return torch.autocast(device_type="cpu", dtype=torch.bfloat16)


@torch.no_grad()
def window_probabilities(model: Model, frames: np.ndarray, precision: str = "fp32") -> np.ndarray:
    """(T, 54, 2) raw frames -> (num_classes,) float64 softmax probabilities."""
    batch = sample_batch(model, frames)
    with precision_context(precision, model):
        logits = model.runner(batch["lh"], batch["rh"], batch["body"], batch["padding_mask"])
    logits = np.asarray(logits.detach().float().cpu() if torch.is_tensor(logits) else logits,
                        dtype=np.float64).reshape(-1)
    logits = logits - logits.max()
    exp = np.exp(logits)
    return exp / exp.sum()


def hand_fraction(frames: np.ndarray) -> float:
    """Fraction of frames in which at least one hand joint was detected."""
    from ..data.joints import NUM_BODY
    hands = np.asarray(frames)[:, NUM_BODY:]
    if len(hands) == 0:
        return 0.0
    return float((hands != 0).any(-1).any(-1).mean())


def nobody_in_view(frames: np.ndarray) -> bool:
    """True when no landmark at all was detected in any of the frames."""
    return not np.asarray(frames).any()


def top_k(probabilities: np.ndarray, names, k: int):
    """[(label, name, probability)] of the k most probable classes."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(int(i), names[i] if 0 <= i < len(names) else str(int(i)), float(probabilities[i]))
            for i in order]


def label_of(names, name_or_index: str) -> Optional[int]:
    """A class given by name or number -> its label (None when the model has no such class)."""
    if name_or_index in names:
        return list(names).index(name_or_index)
    try:
        value = int(name_or_index)
    except ValueError:
        return None
    return value if 0 <= value < max(len(names), 1) else None
