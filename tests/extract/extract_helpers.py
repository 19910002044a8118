"""Helpers of the extraction tests: videos written with OpenCV (imported by conftest and tests)."""

import numpy as np
import pytest

ASTRONAUT_SIZE = 256     # small frames keep MediaPipe at ~0.1 s per frame on one core
ASTRONAUT_FRAMES = 12
ASTRONAUT_SHIFT = 3      # pixels to the right per frame


def skip(reason):
    print(f"SKIP: {reason}")
    pytest.skip(reason)


def write_video(cv2, path, frames_rgb, fps=25.0, fourcc="MJPG"):
    height, width = frames_rgb[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} video {path}"
    for frame in frames_rgb:
        writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def astronaut_frames(cv2, count=ASTRONAUT_FRAMES, size=ASTRONAUT_SIZE, shift=ASTRONAUT_SHIFT):
    """A real photograph of a person, translated ``shift`` pixels right per frame."""
    try:
        from skimage import data
    except ImportError as error:
        skip(f"scikit-image not importable ({error}); it provides the test photograph")
    image = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    out = []
    for i in range(count):
        move = np.float32([[1, 0, shift * i], [0, 1, 0]])
        # Replicated borders: a black band entering the frame would be a moving edge of its own.
        out.append(cv2.warpAffine(image, move, (size, size), borderMode=cv2.BORDER_REPLICATE))
    return out
