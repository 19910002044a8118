"""Per-stage latency summary (stream/latency.py): percentiles, empty stages, the printed table."""

from slr_fused.stream.latency import STAGES, LatencyLog, format_summary


def test_latency_percentiles():
    log = LatencyLog()
    for ms in range(1, 101):
        log.add("model", ms / 1000)
    row = log.summary()["stages"]["model"]
    assert row["n"] == 100 and abs(row["p50_ms"] - 50.5) < 1e-6 and row["p99_ms"] > row["p90_ms"]
    assert "model" in log.table() and "dropped: 0" in log.table()


def test_every_stage_is_reported_even_without_samples():
    log = LatencyLog()
    log.frames, log.dropped = 12, 3
    summary = log.summary()
    assert list(summary["stages"]) == list(STAGES)
    assert all(row == {"n": 0} for row in summary["stages"].values())
    assert (summary["frames"], summary["dropped_frames"]) == (12, 3)
    lines = format_summary(summary).splitlines()
    assert len(lines) == 1 + len(STAGES) + 1
    assert lines[-1] == "frames: 12, dropped: 3"
    assert lines[1].split() == ["capture", "0", "-", "-", "-"]
