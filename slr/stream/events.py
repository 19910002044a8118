"""Window predictions -> one event per sign, with hysteresis.

A window is either accepted for a label (confident enough, hands in view, not a no-sign class) or
rejected. A sign opens once ``enter`` consecutive windows are accepted for the same label, and
closes once ``release`` consecutive windows are not (rejected, or accepted for another label);
single-window flickers in either direction therefore neither open nor split a sign.

An event spans the windows that voted for it: ``start`` is the first frame of the first such
window, ``end`` the last frame of the last one. Its label is the opening label; confidence and
top-k are those of the mean probabilities of its windows.
"""

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np

from .window_model import top_k


@dataclass
class WindowResult:
    start_frame: int                  # first frame of the window (stream index, inclusive)
    end_frame: int                    # last frame of the window (inclusive)
    probabilities: np.ndarray         # (num_classes,)
    label: Optional[int]              # accepted label, None when rejected as no sign


@dataclass
class _Run:
    label: int
    windows: List[WindowResult] = field(default_factory=list)
    misses: int = 0


class EventSegmenter:
    """Feed :meth:`update` every window result in order; it returns the events that closed."""

    def __init__(self, class_names: Sequence[str], fps: float, top_k: int = 5,
                 enter: int = 2, release: int = 2):
        if enter < 1 or release < 1:
            raise ValueError("--enter and --release must be at least 1 window")
        self.class_names = list(class_names)
        self.fps = fps
        self.k = top_k
        self.enter = enter
        self.release = release
        self.current: Optional[_Run] = None     # an open sign
        self.candidate: Optional[_Run] = None   # windows agreeing on a label, not yet a sign

    @property
    def current_label(self) -> Optional[str]:
        """Name of the sign open now (for drawing), None between signs."""
        return None if self.current is None else self._name(self.current.label)

    def _name(self, label: int) -> str:
        return self.class_names[label] if 0 <= label < len(self.class_names) else str(label)

    def update(self, result: WindowResult) -> List[dict]:
        closed = []
        if self.current is not None and result.label == self.current.label:
            self.current.windows.append(result)
            self.current.misses = 0
            self.candidate = None
            return closed
        if result.label is None:
            self.candidate = None
        elif self.candidate is not None and self.candidate.label == result.label:
            self.candidate.windows.append(result)
        else:
            self.candidate = _Run(result.label, [result])
        if self.current is not None:
            self.current.misses += 1
            ready = self.candidate is not None and len(self.candidate.windows) >= self.enter
            if self.current.misses >= self.release or ready:
                closed.append(self._event(self.current))
                self.current = None
        if self.current is None and self.candidate is not None and len(self.candidate.windows) >= self.enter:
            self.current, self.candidate = self.candidate, None
        return closed

    def finish(self) -> List[dict]:
        """End of stream: the open sign, if any, closes where its last window ended."""
        closed = [self._event(self.current)] if self.current is not None else []
        self.current = self.candidate = None
        return closed

    def _event(self, run: _Run) -> dict:
        mean = np.mean([w.probabilities for w in run.windows], axis=0)
        start, end = run.windows[0].start_frame, run.windows[-1].end_frame
        return {"event": "sign", "label": self._name(run.label), "label_index": run.label,
                "confidence": round(float(mean[run.label]), 4),
                "start_frame": int(start), "end_frame": int(end),
                "start_s": round(start / self.fps, 3), "end_s": round((end + 1) / self.fps, 3),
                "windows": len(run.windows),
                "top": [{"label": i, "class": name, "probability": round(p, 4)}
                        for i, name, p in top_k(mean, self.class_names, self.k)]}
