"""``slr stream --annotate``: every frame with its skeleton, the sign being recognised and the
latest window's best guess, written with :mod:`slr_fused.render` (complete on Ctrl-C too, since
the file is finished in ``close``)."""

import numpy as np

from ..render.compose import raw_panel
from ..render.skeleton import draw_label
from ..render.writer import VideoWriter

CANVAS_SIZE = (640, 480)
UNIT_BOX = (0.0, 0.0, 1.0, 1.0)   # image coordinates, for sources without pictures


class Annotator:
    def __init__(self, path, fps: float):
        self.writer = VideoWriter(path, fps)

    def draw(self, frame, current_label, last_top) -> None:
        picture = raw_panel(frame.landmarks, frame.image, UNIT_BOX, CANVAS_SIZE)
        draw_label(picture, f"sign: {current_label}" if current_label else "sign: -")
        if last_top is not None:
            name, probability, accepted = last_top
            draw_label(picture, f"window: {name} {probability:.2f}" + ("" if accepted else " (no sign)"), line=1)
        self.writer.write(np.ascontiguousarray(picture))

    def close(self):
        if self.writer.frames == 0:
            self.writer.abort()
            return None
        return self.writer.close()
