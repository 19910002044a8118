"""``slr render``: CSV rows and extraction results -> MP4/GIF with the skeleton drawn where the
joints are; over a video; side by side with the normalised pose; one-line errors."""

import numpy as np
import pytest

from slr_fused.cli import main
from slr_fused.data.csv_format import write_pose_csv
from slr_fused.render.compose import CANVAS, fit_box, to_pixels
from video_helpers import read_video

cv2 = pytest.importorskip("cv2", reason="OpenCV (slr-fused[mediapipe]) is needed to render")

FRAMES = 12


def _pose(frames=FRAMES):
    """A plausible pose drifting right: body joints and two hands, in image coordinates."""
    rng = np.random.default_rng(0)
    pose = np.zeros((frames, 54, 2), np.float32)
    base = rng.uniform(0.3, 0.7, size=(54, 2)).astype(np.float32)
    for t in range(frames):
        pose[t] = base + np.float32(0.005 * t)
    pose[:, 12 + 21 + 5] = 0.0            # one right-hand joint never detected
    return pose


def test_csv_row_to_mp4_draws_at_the_joints(tmp_path, capsys):
    pose = _pose()
    csv = tmp_path / "poses.csv"
    write_pose_csv(csv, [pose[:5], pose], [0, 1])
    out = tmp_path / "row.mp4"
    assert main(["render", str(csv), "--row", "2", "-o", str(out), "--size", "240"]) == 0
    assert "12 frames" in capsys.readouterr().out
    frames = read_video(cv2, out)
    assert len(frames) == FRAMES and frames[0].shape == (240, 240, 3)
    box = fit_box(pose)
    for t in (0, FRAMES - 1):
        pixels = np.rint(to_pixels(pose[t], box, 240, 240)).astype(int)
        for j in (0, 7, 12, 40):   # nose, leftShoulder, left wrist, a right-hand joint
            x, y = pixels[j]
            patch = frames[t][max(0, y - 1):y + 2, max(0, x - 1):x + 2].astype(int)
            assert np.abs(patch - np.array(CANVAS)).sum(-1).max() > 60, f"nothing drawn at joint {j}"
    # Far from every joint the canvas is untouched (codec noise aside).
    assert np.abs(frames[0][:3, -3:].astype(int) - np.array(CANVAS)).max() < 20


def test_whole_csv_to_gif_and_side_by_side(tmp_path):
    from PIL import Image
    pose = _pose()
    csv = tmp_path / "poses.csv"
    write_pose_csv(csv, [pose[:5], pose], [0, 1])
    gif = tmp_path / "all.gif"
    assert main(["render", str(csv), "-o", str(gif), "--size", "120"]) == 0
    with Image.open(gif) as image:
        assert image.n_frames == 5 + FRAMES and image.size == (120, 120)
    wide = tmp_path / "wide.mp4"
    assert main(["render", str(csv), "--row", "1", "-o", str(wide), "--size", "120",
                 "--side_by_side"]) == 0
    frames = read_video(cv2, wide)
    assert len(frames) == 5 and frames[0].shape == (120, 240, 3)
    assert (np.abs(frames[0][:, 120:].astype(int) - np.array(CANVAS)).sum(-1) > 60).sum() > 50


def test_extraction_result_over_a_video(tmp_path):
    pose = _pose()
    result = tmp_path / "result.npz"
    np.savez(result, frames=pose)
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (160, 120))
    for _ in range(FRAMES):
        writer.write(np.full((120, 160, 3), 200, np.uint8))
    writer.release()
    out = tmp_path / "over.mp4"
    assert main(["render", str(result), "--video", str(video), "-o", str(out)]) == 0
    frames = read_video(cv2, out)
    assert len(frames) == FRAMES and frames[0].shape == (120, 160, 3)
    x, y = np.rint(pose[3, 0] * [160, 120]).astype(int)   # the nose, in the video's pixels
    assert np.abs(frames[3][y, x].astype(int) - 200).max() > 40


@pytest.mark.parametrize("arguments, message", [
    (["missing.csv", "-o", "x.mp4"], "no such file"),
    (["poses.csv", "-o", "x.avi"], ".mp4 or .gif"),
    (["poses.csv", "--row", "9", "-o", "x.mp4"], "out of range"),
    (["poses.csv", "-o", "poses.csv"], "replace an input"),
])
def test_bad_inputs_give_one_line(tmp_path, monkeypatch, capsys, arguments, message):
    monkeypatch.chdir(tmp_path)
    write_pose_csv(tmp_path / "poses.csv", [_pose()], [0])
    before = (tmp_path / "poses.csv").read_bytes()
    assert main(["render", *arguments]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err
    assert (tmp_path / "poses.csv").read_bytes() == before
    assert not list(tmp_path.glob(".*.mp4")) and not (tmp_path / "x.mp4").exists()
