"""Boxes and pixel mapping of the pictures (slr/render/compose.py); drawn videos are checked in
tests/render/test_render.py."""

import numpy as np
import pytest

from slr_fused.render.compose import MARGIN, fit_box, to_pixels


def test_fit_box_covers_the_detected_joints_with_a_margin():
    frames = np.zeros((2, 54, 2), np.float32)
    frames[0, 0] = (0.2, 0.4)
    frames[1, 5] = (0.6, 0.5)
    x0, y0, x1, y1 = fit_box(frames)
    pad = MARGIN * 0.4
    assert (x0, y0, x1, y1) == pytest.approx((0.2 - pad, 0.4 - pad, 0.6 + pad, 0.5 + pad))
    assert fit_box(np.zeros((3, 54, 2))) == (0.0, 0.0, 1.0, 1.0)   # nothing detected


def test_to_pixels_keeps_the_aspect_ratio_and_centres():
    box = (0.0, 0.0, 1.0, 0.5)
    corners = np.array([[0.0, 0.0], [1.0, 0.5]])
    assert to_pixels(corners, box, 200, 200).tolist() == [[0.0, 50.0], [200.0, 150.0]]
    assert to_pixels(corners, box, 400, 100).tolist() == [[100.0, 0.0], [300.0, 100.0]]
