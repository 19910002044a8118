"""Bones, colours and drawing (slr/render/skeleton.py); whole videos in tests/render/test_render.py."""

import numpy as np
import pytest

from slr_fused.data.joints import BODY_JOINTS, HAND_JOINTS
from slr_fused.render.skeleton import (BODY_BONES, BODY_COLOUR, BONES, HAND_BONES, LEFT_COLOUR,
                                       RIGHT_COLOUR, draw_label, draw_skeleton, joint_colour)


def test_bones_use_the_layout_names():
    assert {name for bone in BODY_BONES for name in bone} <= set(BODY_JOINTS)
    assert {name for bone in HAND_BONES for name in bone} == set(HAND_JOINTS)
    assert len(BONES) == len(BODY_BONES) + 2 * len(HAND_BONES)


def test_colours_by_part():
    assert [joint_colour(i) for i in (0, 11, 12, 32, 33, 53)] == \
        [BODY_COLOUR, BODY_COLOUR, LEFT_COLOUR, LEFT_COLOUR, RIGHT_COLOUR, RIGHT_COLOUR]
    assert all(a < b or a > b for a, b, _ in BONES) and max(max(a, b) for a, b, _ in BONES) == 53


def test_only_detected_joints_are_drawn():
    pytest.importorskip("cv2", reason="OpenCV (slr-fused[mediapipe]) is needed to draw")
    image = np.zeros((100, 100, 3), np.uint8)
    pixels = np.full((54, 2), 50.0)
    pixels[0], pixels[1] = (20, 20), (80, 80)       # nose and neck: one body bone
    present = np.zeros(54, bool)
    present[[0, 1]] = True
    draw_skeleton(image, pixels, present, thickness=1)
    assert image[50, 50].any()                       # on the nose-neck line
    assert not image[20, 80].any() and not image[80, 20].any()          # off the line: blank
    present[1] = False
    blank = draw_skeleton(np.zeros((100, 100, 3), np.uint8), pixels, present, thickness=1)
    assert not blank[50, 50].any()                   # no bone without both joints
    assert blank[20, 20].any()                       # the lone joint is still a dot


def test_label_is_drawn_top_left():
    pytest.importorskip("cv2", reason="OpenCV (slr-fused[mediapipe]) is needed to draw")
    image = np.full((120, 200, 3), 128, np.uint8)
    draw_label(image, "hello")
    band = image[:30, :80]
    assert (band == 0).all(-1).any() and (band > 200).all(-1).any()   # white text on a black band
    assert (image[60:] == 128).all()                                 # the rest untouched
