"""Where stream frames come from: a replayed landmark CSV (or folder of CSVs), and, in
:mod:`.capture`, cameras, video files and URLs through OpenCV and MediaPipe.

Every source yields :class:`Frame` objects with the raw (54, 2) landmarks of one frame and what
getting them cost, and counts the frames it had to drop to keep up.
"""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from ..data.csv_format import PoseDataError, read_pose_csv


class StreamError(ValueError):
    """A source that cannot be streamed; the message is one line naming the source."""


@dataclass
class Frame:
    index: int                        # position in the source, 0-based (a dropped frame keeps its number)
    landmarks: np.ndarray             # (54, 2) raw image coordinates, 0.0 = not detected
    captured_at: float                # time.perf_counter() when the frame was captured
    capture_s: float = 0.0            # waiting for/reading the frame
    landmarks_s: float = 0.0          # MediaPipe (or parsing) time
    image: Optional[np.ndarray] = None  # BGR picture, for sources that have one


class ReplaySource:
    """The samples of a pose CSV (every row, in order) or of every CSV in a folder (sorted by
    name), played back one frame at a time at ``fps`` (``pace=False``: as fast as possible)."""

    def __init__(self, path, fps: float = 30.0, pace: bool = True):
        path = Path(path)
        if path.is_dir():
            files = sorted(path.glob("*.csv"))
            if not files:
                raise StreamError(f"{path}: no .csv files in the folder")
        elif path.is_file():
            files = [path]
        else:
            raise StreamError(f"{path}: no such file or folder")
        pieces = []
        for file in files:
            try:
                sequences = read_pose_csv(file)
            except PoseDataError as error:
                raise StreamError(str(error)) from None
            pieces.append(sequences.frames)
        self.frames = np.concatenate(pieces)
        self.fps = float(fps)
        self.pace = pace
        self.dropped = 0
        self.name = str(path)

    def __iter__(self) -> Iterator[Frame]:
        start = time.perf_counter()
        for index, landmarks in enumerate(self.frames):
            due = start + index / self.fps
            waited = time.perf_counter()
            if self.pace and due > waited:
                time.sleep(due - waited)
            now = time.perf_counter()
            yield Frame(index, landmarks, now, capture_s=now - waited)

    def close(self) -> None:
        pass


def is_camera(source: str) -> bool:
    return source.strip().isdigit()


def is_url(source: str) -> bool:
    return "://" in source


def open_source(source: str, fps: Optional[float] = None, pace: bool = True, **capture_options):
    """The right source for a command-line SOURCE: camera index, URL, video, CSV or folder.
    ``capture_options`` (model_complexity, realtime) go to cameras, videos and URLs."""
    path = Path(source)
    if is_camera(source) or is_url(source) or (path.is_file() and path.suffix.lower() != ".csv"):
        from .capture import CaptureSource
        return CaptureSource(source, fps=fps, **capture_options)
    return ReplaySource(path, fps=fps or 30.0, pace=pace)
