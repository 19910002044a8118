"""The landmark ring buffer (stream/buffer.py): order, stream positions, partial fill, bad size."""

import numpy as np
import pytest

from slr_fused.stream.buffer import LandmarkRing


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


def test_a_partly_filled_ring_gives_only_what_was_pushed():
    ring = LandmarkRing(4)
    ring.push(np.full((54, 2), 5, np.float32), index=1)
    ring.push(np.full((54, 2), 6, np.float32), index=2)
    assert not ring.full and len(ring) == 2
    window = ring.window()
    assert window.shape == (2, 54, 2) and window[:, 3, 1].tolist() == [5, 6]


def test_the_window_is_a_copy():
    ring = LandmarkRing(2)
    ring.push(np.zeros((54, 2), np.float32))
    window = ring.window()
    window[:] = 9
    assert ring.window().max() == 0


def test_an_empty_window_is_refused():
    with pytest.raises(ValueError, match="at least one frame, got 0"):
        LandmarkRing(0)
