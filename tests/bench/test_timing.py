"""Timing statistics (bench/timing.py)."""

import pytest

from slr_fused.bench.timing import summarize


def test_summarize_percentiles():
    stats = summarize([5.0, 1.0, 2.0, 4.0, 3.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0])
    assert stats["median"] == 6.0 and stats["min"] == 1.0 and stats["max"] == 11.0
    assert stats["p20"] == pytest.approx(3.0) and stats["p80"] == pytest.approx(9.0)
    assert stats["n"] == 11
    with pytest.raises(ValueError):
        summarize([])
