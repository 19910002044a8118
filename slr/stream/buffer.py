"""A fixed-size ring buffer of the most recent landmark frames.

It holds raw (54, 2) frames; the window handed to the model is normalised as a whole by the same
code as training and ``slr predict`` (the body box of a frame without one is taken from the
nearest frame that has one, which needs the window, not the single frame).
"""

import numpy as np

from ..data.csv_format import NUM_JOINTS


class LandmarkRing:
    """The last ``capacity`` frames, oldest first, without reallocating per frame."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"the window must hold at least one frame, got {capacity}")
        self.capacity = capacity
        self._data = np.zeros((capacity, NUM_JOINTS, 2), np.float32)
        self._index = np.zeros(capacity, np.int64)
        self._next = 0      # slot the next frame goes to
        self.count = 0      # frames pushed since the last clear

    def push(self, frame: np.ndarray, index: int = 0) -> None:
        """Add a frame; ``index`` is its position in the stream (for event times)."""
        self._data[self._next] = frame
        self._index[self._next] = index
        self._next = (self._next + 1) % self.capacity
        self.count += 1

    def clear(self) -> None:
        self._next = 0
        self.count = 0

    def __len__(self) -> int:
        return min(self.count, self.capacity)

    @property
    def full(self) -> bool:
        return self.count >= self.capacity

    def _ordered(self, data: np.ndarray) -> np.ndarray:
        if self.count < self.capacity:
            return data[:self.count].copy()
        return np.concatenate([data[self._next:], data[:self._next]])

    def window(self) -> np.ndarray:
        """(len, 54, 2) copy of the buffered frames, oldest first."""
        return self._ordered(self._data)

    def indices(self) -> np.ndarray:
        """Stream positions of the buffered frames, oldest first."""
        return self._ordered(self._index)
