"""Stratified splits (slr/data/splits.py): seeded, disjoint, every class kept on the training side."""

import numpy as np
import pytest

from slr_fused.data.splits import stratified_split

LABELS = np.array([0] * 10 + [1] * 5 + [2] * 1 + [3] * 2)


def test_split_is_a_seeded_partition_with_per_class_fractions():
    kept, taken = stratified_split(LABELS, 0.2, seed=3)
    assert np.array_equal(np.sort(np.concatenate([kept, taken])), np.arange(len(LABELS)))
    assert kept.dtype == taken.dtype == np.int64
    assert np.all(np.diff(kept) > 0) and np.all(np.diff(taken) > 0)
    assert [int((LABELS[taken] == c).sum()) for c in range(4)] == [2, 1, 0, 0]
    again = stratified_split(LABELS, 0.2, seed=3)
    assert np.array_equal(again[1], taken)
    other = [stratified_split(LABELS, 0.2, seed=s)[1] for s in range(5)]
    assert any(not np.array_equal(o, taken) for o in other)


def test_every_class_keeps_a_training_sample():
    kept, taken = stratified_split(LABELS, 0.9, seed=0)
    assert set(LABELS[kept]) == {0, 1, 2, 3}
    assert int((LABELS[taken] == 3).sum()) == 1   # 2 samples: round(1.8)=2 capped at 1


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5, 1.5])
def test_a_fraction_outside_0_1_is_refused(fraction):
    with pytest.raises(ValueError, match=f"between 0 and 1, got {fraction}"):
        stratified_split(LABELS, fraction, seed=0)
