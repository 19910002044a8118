"""Top-k counting (slr/metrics.py): counts, not fractions; k capped at the number of classes."""

import torch

from slr_fused.metrics import topk_correct


def test_counts_per_k():
    logits = torch.tensor([[0.9, 0.05, 0.05, 0.0],    # label 0: top-1
                           [0.1, 0.2, 0.3, 0.4],      # label 1: rank 3
                           [0.4, 0.3, 0.2, 0.1]])     # label 3: rank 4
    labels = torch.tensor([0, 1, 3])
    assert topk_correct(logits, labels, ks=(1, 2, 3, 4)) == {1: 1, 2: 1, 3: 2, 4: 3}


def test_k_beyond_the_classes_counts_every_sample():
    logits = torch.randn(5, 3)
    labels = torch.tensor([0, 1, 2, 0, 1])
    counts = topk_correct(logits, labels)        # ks=(1, 5) with 3 classes
    assert counts[5] == 5 and 0 <= counts[1] <= 5
    assert counts[1] == int((logits.argmax(-1) == labels).sum())
    assert all(isinstance(v, int) for v in counts.values())
