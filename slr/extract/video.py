"""Reading the frames of a video that extraction needs, with OpenCV.

Which frames: a start/end range, then resampling to a target frame rate (nearest frame in time,
so a slower video repeats frames and a faster one skips them), then, for videos still longer than
``max_frames``, uniform subsampling that keeps the whole sign. Frames that are not needed are
skipped with ``grab()`` (no colour conversion), and a frame needed twice is decoded once.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Tuple

import numpy as np

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv",
                  ".flv", ".3gp", ".ogv", ".mts", ".ts")


class VideoError(ValueError):
    """A video that cannot be used; the message names the file and says why in one sentence."""


@dataclass(frozen=True)
class FrameOptions:
    """Which frames of a video to use (all in source frame numbers, 0-based, end exclusive)."""

    fps: Optional[float] = None          # target frame rate; None keeps the video's own
    max_frames: Optional[int] = None     # longer results are subsampled uniformly to this
    start_frame: int = 0
    end_frame: Optional[int] = None

    def __post_init__(self):
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"the target frame rate must be positive, got {self.fps}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"the maximum length must be at least 1 frame, got {self.max_frames}")
        if self.start_frame < 0:
            raise ValueError(f"the start frame must be 0 or more, got {self.start_frame}")
        if self.end_frame is not None and self.end_frame <= self.start_frame:
            raise ValueError(f"the end frame ({self.end_frame}) must be after the start frame "
                             f"({self.start_frame})")


def import_cv2():
    try:
        import cv2
    except ImportError as error:  # the wheel is missing, or libGL is (opencv-contrib-python)
        raise VideoError(f"reading videos needs OpenCV, which cannot be imported ({error}); install "
                         f"slr-fused[mediapipe], and on Linux without a desktop also the libgl1 and "
                         f"libglib2.0-0 system packages") from None
    return cv2


def plan_frames(num_frames: int, source_fps: float, options: FrameOptions) -> np.ndarray:
    """Source frame indices to use, in output order (may repeat when the target rate is higher)."""
    end = num_frames if options.end_frame is None else min(options.end_frame, num_frames)
    start = options.start_frame
    if start >= end:
        return np.zeros(0, np.int64)
    indices = np.arange(start, end)
    if options.fps is not None and source_fps > 0 and abs(source_fps - options.fps) > 1e-3:
        duration = (end - start) / source_fps
        # Output frames at times k / fps that fall inside the source's duration.
        count = max(1, int(np.ceil(duration * options.fps - 1e-6)))
        times = np.arange(count) / options.fps
        indices = start + np.minimum(np.rint(times * source_fps).astype(np.int64), end - start - 1)
    if options.max_frames is not None and len(indices) > options.max_frames:
        keep = np.rint(np.linspace(0, len(indices) - 1, options.max_frames)).astype(np.int64)
        indices = indices[keep]
    return indices


def _count_frames(cap) -> int:
    """Frame count by grabbing every frame: containers whose header has no count report 0."""
    count = 0
    while cap.grab():
        count += 1
    return count


def open_video(path) -> Tuple[object, int, float]:
    """(capture, frame count, frames per second); VideoError for a missing or unreadable file."""
    cv2 = import_cv2()
    path = Path(path)
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if not path.is_file():
        raise VideoError(f"{path}: not a file")
    if not os.access(path, os.R_OK):
        raise VideoError(f"{path}: permission denied")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"{path}: not a video OpenCV can read (unknown format or corrupt file)")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    if count <= 0:
        count = _count_frames(cap)
        cap.release()
        cap = cv2.VideoCapture(str(path))
    if not np.isfinite(fps) or fps <= 0 or fps > 1000:
        fps = 0.0  # unknown: no frame-rate resampling is possible
    return cap, count, fps


def read_planned_frames(path, options: FrameOptions) -> Tuple[Iterator[Tuple[int, np.ndarray]], dict]:
    """Open a video and plan its frames; returns (iterator of (source index, RGB frame), info).

    The iterator yields each planned source frame once, in increasing order; info: ``frames``
    (count in the file), ``fps``, ``planned`` (source indices in output order, possibly
    repeated). It stops early if the file holds fewer frames than its header said.
    Raises VideoError for a missing, unreadable or empty video, or a start frame past its end.
    """
    cv2 = import_cv2()
    cap, count, fps = open_video(path)
    if count == 0:
        cap.release()
        raise VideoError(f"{path}: the video has no frames")
    planned = plan_frames(count, fps, options)
    if len(planned) == 0:
        cap.release()
        raise VideoError(f"{path}: the start frame {options.start_frame} is at or past the end of "
                         f"the video ({count} frames)")

    def frames():
        try:
            position = 0          # index of the frame the next grab()/read() returns
            for source in np.unique(planned):
                while position < source:
                    if not cap.grab():
                        return
                    position += 1
                ok, bgr = cap.read()
                position += 1
                if not ok or bgr is None:
                    return
                yield int(source), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()

    return frames(), {"frames": count, "fps": fps, "planned": planned}
