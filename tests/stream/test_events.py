"""Hysteresis of the event segmenter, ring-buffer order and the latency summary."""

import numpy as np

from slr_fused.stream.buffer import LandmarkRing
from slr_fused.stream.events import EventSegmenter, WindowResult
from slr_fused.stream.latency import LatencyLog

NAMES = ["a", "b", "c"]


def _window(end, label, width=10):
    p = np.full(3, 0.1)
    if label is not None:
        p[label] = 0.8
    return WindowResult(end - width + 1, end, p, label)


def _run(labels, enter=2, release=2):
    segmenter = EventSegmenter(NAMES, fps=10.0, top_k=2, enter=enter, release=release)
    events = []
    for k, label in enumerate(labels):
        events += segmenter.update(_window(10 + 5 * k, label))
    return events + segmenter.finish()


def test_one_window_flicker_opens_nothing():
    assert _run([None, 1, None, None, 2, None]) == []


def test_a_one_window_dip_does_not_split_a_sign():
    events = _run([0, 0, None, 0, 0, 1, 0, 0, None, None])
    assert [e["label"] for e in events] == ["a"]
    assert events[0]["windows"] == 6


def test_two_signs_and_their_frames():
    events = _run([0, 0, 0, None, None, 2, 2])
    assert [e["label"] for e in events] == ["a", "c"]
    assert (events[0]["start_frame"], events[0]["end_frame"]) == (1, 20)
    assert events[0]["end_s"] == 2.1 and events[0]["top"][0]["class"] == "a"
    assert events[1]["start_frame"] == 26


def test_a_new_label_takes_over_after_enter_windows():
    events = _run([0, 0, 1, 1, 1], enter=2, release=3)
    assert [e["label"] for e in events] == ["a", "b"]


def test_ring_buffer_keeps_the_last_frames_in_order():
    ring = LandmarkRing(3)
    for k in range(5):
        ring.push(np.full((54, 2), k, np.float32), index=100 + k)
    assert ring.full and len(ring) == 3
    assert ring.window()[:, 0, 0].tolist() == [2, 3, 4]
    assert ring.indices().tolist() == [102, 103, 104]
    ring.clear()
    assert len(ring) == 0
    ring.push(np.ones((54, 2), np.float32), index=7)
    assert ring.indices().tolist() == [7]


def test_latency_percentiles():
    log = LatencyLog()
    for ms in range(1, 101):
        log.add("model", ms / 1000)
    row = log.summary()["stages"]["model"]
    assert row["n"] == 100 and abs(row["p50_ms"] - 50.5) < 1e-6 and row["p99_ms"] > row["p90_ms"]
    assert "model" in log.table() and "dropped: 0" in log.table()
