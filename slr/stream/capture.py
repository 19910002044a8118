"""Cameras, video files and URLs through OpenCV, landmarks through MediaPipe Holistic.

A reader thread grabs frames into a small queue. For a live source (camera, URL) a full queue
means the recogniser has fallen behind: the oldest waiting frame is dropped (and counted) so the
stream stays current. A video file is read completely (the reader waits instead of dropping),
unless ``realtime`` asks for it to be treated like a live source.
"""

import contextlib
import os
import queue
import threading
import time
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from .source import Frame, StreamError, is_camera, is_url

_END = object()


@contextlib.contextmanager
def native_stderr_silenced():
    """FFmpeg and OpenCV's backends write their own warnings straight to file descriptor 2
    while a source is opened; the user gets our one line instead."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_capture(source: str):
    """(cv2.VideoCapture, is live) for a camera index, URL or video file; StreamError otherwise."""
    from ..extract.video import VideoError, import_cv2
    try:
        cv2 = import_cv2()
    except VideoError as error:
        raise StreamError(str(error)) from None
    if is_camera(source):
        with native_stderr_silenced():
            capture = cv2.VideoCapture(int(source))
        if not capture.isOpened():
            capture.release()
            raise StreamError(f"camera {source}: cannot be opened (no such camera, or it is in use)")
        return capture, True
    if is_url(source):
        with native_stderr_silenced():
            capture = cv2.VideoCapture(source)
        if not capture.isOpened():
            capture.release()
            raise StreamError(f"{source}: OpenCV cannot open this URL (unreachable, or not a "
                              f"stream it can decode)")
        return capture, True
    from ..extract.video import open_video
    try:
        with native_stderr_silenced():
            capture, count, _ = open_video(Path(source))
    except VideoError as error:
        raise StreamError(str(error)) from None
    if count == 0:
        capture.release()
        raise StreamError(f"{source}: the video has no frames")
    return capture, False


class CaptureSource:
    """Frames of a camera/video/URL with their MediaPipe landmarks, as :class:`Frame`s."""

    def __init__(self, source: str, fps: Optional[float] = None, model_complexity: int = 1,
                 queue_size: int = 2, realtime: bool = False):
        from ..extract.extractor import ExtractionError, ensure_pose_model
        try:
            self._holistic_module = ensure_pose_model(model_complexity)
        except ExtractionError as error:
            raise StreamError(str(error)) from None
        self.name = source
        self._capture, self.live = open_capture(source)
        import cv2
        native = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = float(fps or (native if 0 < native <= 1000 else 30.0))
        self.drop = self.live or realtime
        self.realtime = realtime and not self.live
        self.model_complexity = model_complexity
        self.dropped = 0
        self._queue: "queue.Queue" = queue.Queue(maxsize=max(1, queue_size))
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._holistic = None

    def _read(self) -> None:
        """Reader thread: (index, capture time, BGR) into the queue, then _END."""
        index = 0
        start = time.perf_counter()
        try:
            while not self._stop.is_set():
                if self.realtime:   # a file played as if live: one frame per 1/fps
                    due = start + index / self.fps
                    now = time.perf_counter()
                    if due > now:
                        time.sleep(due - now)
                ok, bgr = self._capture.read()
                if not ok or bgr is None:
                    break
                item = (index, time.perf_counter(), bgr)
                index += 1
                if self.drop:
                    while True:
                        try:
                            self._queue.put_nowait(item)
                            break
                        except queue.Full:
                            try:
                                self._queue.get_nowait()
                                self.dropped += 1
                            except queue.Empty:
                                pass
                else:
                    while not self._stop.is_set():
                        try:
                            self._queue.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
        finally:
            while not self._stop.is_set():
                try:
                    self._queue.put(_END, timeout=0.1)
                    break
                except queue.Full:
                    continue

    def __iter__(self) -> Iterator[Frame]:
        import cv2
        from ..extract.landmarks import frame_from_holistic
        self._holistic = self._holistic_module.Holistic(
            static_image_mode=False, model_complexity=self.model_complexity, smooth_landmarks=True,
            enable_segmentation=False, refine_face_landmarks=False)
        self._thread = threading.Thread(target=self._read, name="slr-capture", daemon=True)
        self._thread.start()
        while True:
            waited = time.perf_counter()
            item = self._queue.get()
            if item is _END:
                return
            index, captured_at, bgr = item
            got = time.perf_counter()
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            rgb.flags.writeable = False
            found = self._holistic.process(rgb)
            landmarks = frame_from_holistic(found.pose_landmarks, found.left_hand_landmarks,
                                            found.right_hand_landmarks)
            yield Frame(index, np.asarray(landmarks, np.float32), captured_at,
                        capture_s=got - waited, landmarks_s=time.perf_counter() - got, image=bgr)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._capture.release()
        if self._holistic is not None:
            self._holistic.close()
            self._holistic = None
