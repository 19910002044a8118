"""Writing frames to MP4 (OpenCV) or GIF (Pillow), atomically.

Frames go to a temporary file beside the target, which is renamed over it on :meth:`close`; so
an interrupted writer (Ctrl-C) that is closed leaves a complete, playable file, and a crash leaves
the previous file (if any) untouched.
"""

import os
import tempfile
from pathlib import Path
from typing import List, Optional

import numpy as np

SUFFIXES = (".mp4", ".gif")


class RenderError(ValueError):
    """Rendering cannot run (bad output name, no frames, a codec OpenCV lacks)."""


class VideoWriter:
    """``write(bgr)`` frames of one size, then ``close()``; MP4 (mp4v) or GIF by the suffix."""

    def __init__(self, path, fps: float):
        self.path = Path(path)
        self.suffix = self.path.suffix.lower()
        if self.suffix not in SUFFIXES:
            raise RenderError(f"{self.path}: the output must end in .mp4 or .gif")
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.frames = 0
        self._writer = None
        self._gif: List = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                   suffix=self.suffix)
        os.close(fd)
        self._tmp = Path(tmp)
        self.size: Optional[tuple] = None

    def write(self, bgr: np.ndarray) -> None:
        height, width = bgr.shape[:2]
        if self.size is None:
            self.size = (width, height)
            if self.suffix == ".mp4":
                import cv2
                self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"),
                                               self.fps, self.size)
                if not self._writer.isOpened():
                    self.abort()
                    raise RenderError(f"{self.path}: OpenCV cannot write MP4 (mp4v) here")
        elif (width, height) != self.size:
            raise RenderError(f"frame size {width}x{height} differs from the first ({self.size})")
        if self._writer is not None:
            self._writer.write(np.ascontiguousarray(bgr))
        else:
            from PIL import Image
            self._gif.append(Image.fromarray(np.ascontiguousarray(bgr[..., ::-1])))
        self.frames += 1

    def close(self) -> Path:
        """Finish the file and move it into place; RenderError when no frame was written."""
        if self.frames == 0:
            self.abort()
            raise RenderError(f"{self.path}: nothing to write (no frames)")
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        else:
            self._gif[0].save(self._tmp, format="GIF", save_all=True, append_images=self._gif[1:],
                              duration=max(20, round(1000 / self.fps)), loop=0)
            self._gif = []
        os.chmod(self._tmp, 0o644)
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._tmp.exists():
            self._tmp.unlink()
