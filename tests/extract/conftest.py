"""Videos for the extraction tests, written with OpenCV, and skips when tools are missing."""

import numpy as np
import pytest

from extract_helpers import astronaut_frames, skip, write_video

@pytest.fixture(scope="session")
def cv2():
    try:
        import cv2
    except ImportError as error:
        skip(f"OpenCV not importable ({error}); install slr-fused[mediapipe] (and libgl1 on Linux)")
    return cv2


@pytest.fixture(scope="session")
def mediapipe(cv2):
    try:
        import mediapipe as mp
        mp.solutions.holistic
    except (ImportError, AttributeError) as error:
        skip(f"MediaPipe 0.10.21 not importable ({error}); install slr-fused[mediapipe]")
    return mp


@pytest.fixture(scope="session")
def astronaut_video(cv2, tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    return write_video(cv2, folder / "astronaut.avi", astronaut_frames(cv2))


@pytest.fixture(scope="session")
def bad_videos(cv2, tmp_path_factory):
    """One video of each kind of failure, with the message each must produce."""
    folder = tmp_path_factory.mktemp("bad")
    not_video = folder / "notes.mp4"
    not_video.write_text("this is a text file, not a video\n" * 20)
    empty = folder / "empty.avi"
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 64))
    writer.release()  # a valid container holding no frames
    rng = np.random.default_rng(0)
    noise = write_video(cv2, folder / "noise.avi",
                        [rng.integers(0, 256, (96, 96, 3), dtype=np.uint8) for _ in range(4)])
    return {folder / "missing.mp4": "no such file",
            not_video: "not a video OpenCV can read",
            empty: "the video has no frames",
            noise: "no person found in any of its 4 frames"}
