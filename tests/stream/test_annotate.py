"""The annotated stream video (slr/stream/annotate.py): a file only when frames were drawn.
`slr stream --annotate` on a real video runs in tests/stream/test_capture.py."""

import numpy as np
import pytest

pytest.importorskip("cv2", reason="OpenCV (slr-fused[mediapipe]) is needed to draw")
pytest.importorskip("PIL", reason="Pillow writes the GIF")

from slr_fused.stream.annotate import CANVAS_SIZE, Annotator  # noqa: E402
from slr_fused.stream.source import Frame  # noqa: E402


def test_frames_are_drawn_into_the_video(tmp_path):
    annotator = Annotator(tmp_path / "a.gif", fps=10)
    landmarks = np.full((54, 2), 0.5, np.float32)
    annotator.draw(Frame(0, landmarks, 0.0), None, None)
    annotator.draw(Frame(1, landmarks, 0.1), "hello", ("hello", 0.9, True))
    assert annotator.writer.size == CANVAS_SIZE and annotator.writer.frames == 2
    path = annotator.close()
    assert path == tmp_path / "a.gif" and path.read_bytes()[:3] == b"GIF"


def test_no_frames_leave_no_file(tmp_path):
    assert Annotator(tmp_path / "b.gif", fps=10).close() is None
    assert list(tmp_path.iterdir()) == []
