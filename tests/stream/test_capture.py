"""``slr stream`` from a video through MediaPipe with ``--annotate``, the capture thread's
dropping, and one-line errors for sources that cannot be opened."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from slr_fused.cli import main
from video_helpers import read_video

HELPERS = Path(__file__).resolve().parents[1] / "extract" / "extract_helpers.py"


def _helpers():
    spec = importlib.util.spec_from_file_location("extract_helpers_for_stream", HELPERS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cv2():
    return pytest.importorskip("cv2", reason="OpenCV (slr-fused[mediapipe]) is needed for video sources")


@pytest.fixture(scope="module")
def mediapipe(cv2):
    try:
        import mediapipe as mp
        mp.solutions.holistic
    except (ImportError, AttributeError) as error:
        reason = f"MediaPipe 0.10.21 not importable ({error}); install slr-fused[mediapipe]"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return mp


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """An untrained 16-class SiFormer: these tests are about the video path, not recognition."""
    from slr_fused.checkpoint import save_model
    from slr_fused.models.siformer import SiFormer, SiFormerConfig
    torch.manual_seed(0)
    model = SiFormer(SiFormerConfig(num_classes=16, d_ff=32, num_enc_layers=1, num_dec_layers=1)).eval()
    return save_model(tmp_path_factory.mktemp("capture-model") / "model.pt", model,
                      [f"sign{i}" for i in range(16)])


@pytest.fixture(scope="module")
def astronaut(cv2, tmp_path_factory):
    helpers = _helpers()
    folder = tmp_path_factory.mktemp("stream-video")
    return helpers.write_video(cv2, folder / "astronaut.avi", helpers.astronaut_frames(cv2))


def test_video_with_annotation(mediapipe, cv2, tiny_model, astronaut, tmp_path, capsys):
    from slr_fused.extract.extractor import extract_video
    out = tmp_path / "annotated.mp4"
    assert main(["stream", str(astronaut), "-m", str(tiny_model), "--window", "8", "--stride", "2",
                 "--threshold", "0.0", "--annotate", str(out), "--json_summary"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    summary = json.loads(err[-1])
    original = read_video(cv2, astronaut)
    assert summary["frames"] == len(original) and summary["dropped_frames"] == 0
    assert summary["stages"]["landmarks"]["n"] == len(original)
    assert summary["stages"]["model"]["n"] >= 1
    written = read_video(cv2, out)
    assert len(written) == len(original)
    assert written[0].shape == original[0].shape
    # The skeleton is drawn where MediaPipe found the joints (the same extraction, run again).
    landmarks = extract_video(astronaut).frames
    height, width = original[0].shape[:2]
    changed = 0
    for t in (0, len(original) - 1):
        present = np.flatnonzero((landmarks[t] != 0).any(-1))
        assert len(present) >= 8, "MediaPipe should find the astronaut's body"
        for j in present:
            x, y = np.rint(landmarks[t, j] * [width, height]).astype(int)
            if 2 <= x < width - 2 and 40 <= y < height - 2:   # below the caption bands
                patch_new = written[t][y - 1:y + 2, x - 1:x + 2].astype(int)
                patch_old = original[t][y - 1:y + 2, x - 1:x + 2].astype(int)
                changed += int(np.abs(patch_new - patch_old).sum(-1).max() > 80)
    assert changed >= 8


def test_ctrl_c_leaves_a_valid_annotated_file(mediapipe, cv2, tiny_model, astronaut, tmp_path,
                                              monkeypatch, capsys):
    from slr_fused.stream import capture as capture_module
    original_iter = capture_module.CaptureSource.__iter__

    def interrupted(self):
        for frame in original_iter(self):
            if frame.index == 5:
                raise KeyboardInterrupt
            yield frame

    monkeypatch.setattr(capture_module.CaptureSource, "__iter__", interrupted)
    out = tmp_path / "partial.mp4"
    assert main(["stream", str(astronaut), "-m", str(tiny_model), "--window", "4", "--annotate",
                 str(out), "--json_summary"]) == 0
    summary = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert summary["interrupted"] is True
    assert len(read_video(cv2, out)) == 5
    assert not list(tmp_path.glob(".partial*"))


def test_a_live_source_drops_frames_rather_than_fall_behind(mediapipe, cv2, astronaut):
    """With the recogniser slower than the source, the reader keeps only the newest frames."""
    import time
    from slr_fused.stream.capture import CaptureSource
    source = CaptureSource(str(astronaut), fps=200.0, realtime=True, queue_size=1)
    seen = []
    for frame in source:
        seen.append(frame.index)
        time.sleep(0.05)            # 20 frames per second against a 200 fps source
    source.close()
    assert source.dropped > 0 and len(seen) + source.dropped == 12
    assert seen == sorted(seen) and seen[-1] == 11


def _one_line(arguments, model):
    """Run the command in a fresh process: OpenCV and FFmpeg write to the real stderr."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "slr_fused", "stream", *arguments, "-m", str(model)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_bad_live_sources_give_one_line(mediapipe, tiny_model):
    assert "camera 57: cannot be opened" in _one_line(["57"], tiny_model)
    assert "cannot open this URL" in _one_line(["http://127.0.0.1:9/nothing.mp4"], tiny_model)


def test_a_file_that_is_not_a_video_gives_one_line(mediapipe, tiny_model, tmp_path, capsys):
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video\n" * 10)
    assert main(["stream", str(fake), "-m", str(tiny_model)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a video OpenCV can read" in err
