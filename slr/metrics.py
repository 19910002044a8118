"""Accuracy counting shared by training, evaluation and the benchmarks.

Counts (not fractions) so distributed ranks and batches can be summed before dividing.
"""

from typing import Dict

import torch


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks=(1, 5)) -> Dict[int, int]:
    """Number of samples whose label is among the k highest logits, per k (k capped at classes)."""
    ranked = logits.topk(min(max(ks), logits.shape[-1]), dim=-1).indices
    hits = ranked == labels[:, None]
    return {k: int(hits[:, :k].any(-1).sum()) for k in ks}
