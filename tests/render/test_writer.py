"""The video writer (slr/render/writer.py): output names, atomic finish, one-line errors."""

import numpy as np
import pytest

from slr_fused.render.writer import RenderError, VideoWriter


def _hidden(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_a_gif_appears_only_when_closed(tmp_path):
    pytest.importorskip("PIL", reason="Pillow is needed to write GIFs")
    target = tmp_path / "out" / "clip.gif"
    writer = VideoWriter(target, fps=0)            # no fps: 30
    assert writer.fps == 30.0
    for value in (0, 255):
        writer.write(np.full((8, 10, 3), value, np.uint8))
    assert not target.exists()
    assert writer.close() == target and writer.frames == 2
    assert target.read_bytes()[:6] in (b"GIF87a", b"GIF89a") and _hidden(target.parent) == []


def test_bad_names_sizes_and_empty_writers(tmp_path):
    with pytest.raises(RenderError, match="the output must end in .mp4 or .gif"):
        VideoWriter(tmp_path / "clip.avi", 25)
    writer = VideoWriter(tmp_path / "clip.gif", 25)
    writer.write(np.zeros((8, 10, 3), np.uint8))
    with pytest.raises(RenderError, match=r"frame size 12x8 differs from the first \(\(10, 8\)\)"):
        writer.write(np.zeros((8, 12, 3), np.uint8))
    writer.abort()
    empty = VideoWriter(tmp_path / "none.mp4", 25)
    with pytest.raises(RenderError, match="nothing to write"):
        empty.close()
    assert list(tmp_path.iterdir()) == []          # no temporary left behind
