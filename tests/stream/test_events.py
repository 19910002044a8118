"""Hysteresis of the event segmenter (stream/events.py)."""

import numpy as np

from slr_fused.stream.events import EventSegmenter, WindowResult

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

