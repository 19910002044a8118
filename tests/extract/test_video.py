"""Which frames of a video extraction reads (needs OpenCV, not MediaPipe)."""

import numpy as np
import pytest

from slr_fused.extract.video import FrameOptions, VideoError, plan_frames, read_planned_frames

from extract_helpers import write_video


def test_plan_keeps_every_frame_by_default():
    np.testing.assert_array_equal(plan_frames(7, 30.0, FrameOptions()), np.arange(7))


def test_plan_resamples_to_the_target_frame_rate():
    # 50 fps -> 25 fps: every other frame; the duration (20 frames = 0.4 s) is kept.
    np.testing.assert_array_equal(plan_frames(20, 50.0, FrameOptions(fps=25)), np.arange(0, 20, 2))
    # 10 fps -> 25 fps: frames repeat (nearest in time); 0.5 s holds output times 0 .. 0.48 s.
    up = plan_frames(5, 10.0, FrameOptions(fps=25))
    assert len(up) == 13 and up[0] == 0 and up[-1] == 4 and (np.diff(up) >= 0).all()
    # Unknown source rate (0): nothing to resample against.
    np.testing.assert_array_equal(plan_frames(6, 0.0, FrameOptions(fps=25)), np.arange(6))


def test_plan_applies_range_then_rate_then_length():
    plan = plan_frames(100, 50.0, FrameOptions(fps=25, start_frame=10, end_frame=50, max_frames=5))
    # 10..49 at half rate = 10, 12, ..., 48 (20 frames), subsampled uniformly to 5 keeping both ends.
    np.testing.assert_array_equal(plan, [10, 20, 30, 38, 48])
    assert len(plan_frames(10, 25.0, FrameOptions(start_frame=10))) == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"fps": 0}, "frame rate must be positive"),
    ({"max_frames": 0}, "at least 1 frame"),
    ({"start_frame": -1}, "start frame must be 0 or more"),
    ({"start_frame": 5, "end_frame": 5}, "must be after the start frame"),
])
def test_frame_options_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FrameOptions(**kwargs)


def test_reader_decodes_exactly_the_planned_frames(cv2, tmp_path):
    """Frame i of the file is a flat grey of 10 * i, so each decoded frame says which it was."""
    frames = [np.full((32, 32, 3), 10 * i, np.uint8) for i in range(20)]
    path = write_video(cv2, tmp_path / "grey.avi", frames, fps=50)
    iterator, info = read_planned_frames(path, FrameOptions(fps=25, start_frame=3))
    decoded = list(iterator)
    assert info["frames"] == 20 and info["fps"] == pytest.approx(50)
    assert [source for source, _ in decoded] == list(range(3, 20, 2))
    for source, rgb in decoded:
        assert rgb.shape == (32, 32, 3)
        assert abs(float(rgb.mean()) - 10 * source) < 3, f"frame {source} decoded as {rgb.mean():.1f}"


def test_reader_rejects_a_start_past_the_end(cv2, tmp_path):
    path = write_video(cv2, tmp_path / "short.avi", [np.zeros((16, 16, 3), np.uint8)] * 3)
    with pytest.raises(VideoError, match="start frame 5 is at or past the end of the video \\(3 frames\\)"):
        read_planned_frames(path, FrameOptions(start_frame=5))
