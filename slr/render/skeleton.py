"""Joints and bones of the 54-joint SPOTER layout, and drawing them on a picture with OpenCV.

Bones are named with the joint names of :mod:`slr_fused.data.joints` (the names of the CSV
columns), so the drawing follows the layout the model reads. Colours (BGR): body green, the
signer's left hand red, right hand blue; a bone is drawn only where both its joints were
detected.
"""

from typing import Optional, Tuple

import numpy as np

from ..data.joints import BODY_INDEX, HAND_JOINTS, NUM_BODY, NUM_HAND

BODY_BONES = (("nose", "neck"), ("neck", "rightShoulder"), ("neck", "leftShoulder"),
              ("rightShoulder", "rightElbow"), ("rightElbow", "rightWrist"),
              ("leftShoulder", "leftElbow"), ("leftElbow", "leftWrist"),
              ("nose", "rightEye"), ("nose", "leftEye"), ("rightEye", "rightEar"),
              ("leftEye", "leftEar"))
# Each finger from the wrist out: wrist-MCP-PIP-DIP-Tip (thumb: wrist-CMC-MP-IP-Tip), plus the palm.
HAND_BONES = tuple(
    [(a, b) for finger in ("index", "middle", "ring", "little")
     for a, b in zip(("wrist", f"{finger}MCP", f"{finger}PIP", f"{finger}DIP"),
                     (f"{finger}MCP", f"{finger}PIP", f"{finger}DIP", f"{finger}Tip"))]
    + [("wrist", "thumbCMC"), ("thumbCMC", "thumbMP"), ("thumbMP", "thumbIP"), ("thumbIP", "thumbTip"),
       ("indexMCP", "middleMCP"), ("middleMCP", "ringMCP"), ("ringMCP", "littleMCP")])

HAND_INDEX = {name: i for i, name in enumerate(HAND_JOINTS)}
LEFT_HAND_START, RIGHT_HAND_START = NUM_BODY, NUM_BODY + NUM_HAND

BODY_COLOUR = (80, 200, 60)
LEFT_COLOUR = (60, 60, 230)
RIGHT_COLOUR = (230, 120, 40)


def bones() -> Tuple[Tuple[int, int, Tuple[int, int, int]], ...]:
    """(joint a, joint b, colour) for every bone, as indices into the 54 joints."""
    out = [(BODY_INDEX[a], BODY_INDEX[b], BODY_COLOUR) for a, b in BODY_BONES]
    for start, colour in ((LEFT_HAND_START, LEFT_COLOUR), (RIGHT_HAND_START, RIGHT_COLOUR)):
        out += [(start + HAND_INDEX[a], start + HAND_INDEX[b], colour) for a, b in HAND_BONES]
    return tuple(out)


BONES = bones()


def joint_colour(index: int) -> Tuple[int, int, int]:
    if index < LEFT_HAND_START:
        return BODY_COLOUR
    return LEFT_COLOUR if index < RIGHT_HAND_START else RIGHT_COLOUR


def draw_skeleton(image: np.ndarray, pixels: np.ndarray, present: np.ndarray,
                  thickness: Optional[int] = None) -> np.ndarray:
    """Draw bones and joints in place. ``pixels``: (54, 2) x, y in pixels; ``present``: (54,)."""
    import cv2
    thickness = thickness or max(1, round(min(image.shape[:2]) / 240))
    points = np.rint(pixels).astype(np.int64)
    limit = 1 << 15          # OpenCV draws with int coordinates; far-off points are clipped
    points = points.clip(-limit, limit)
    for a, b, colour in BONES:
        if present[a] and present[b]:
            cv2.line(image, tuple(int(v) for v in points[a]), tuple(int(v) for v in points[b]),
                     colour, thickness, cv2.LINE_AA)
    radius = thickness + 1
    for j in np.flatnonzero(present):
        cv2.circle(image, tuple(int(v) for v in points[j]), radius, joint_colour(int(j)), -1, cv2.LINE_AA)
    return image


def draw_label(image: np.ndarray, text: str, line: int = 0) -> np.ndarray:
    """Text in the top-left corner on a dark band (line 0, 1, ...), in place."""
    import cv2
    scale = max(0.4, min(image.shape[:2]) / 500)
    thick = max(1, round(scale * 2))
    (width, height), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    top = 4 + line * (height + base + 8)
    cv2.rectangle(image, (0, top), (width + 12, top + height + base + 6), (0, 0, 0), -1)
    cv2.putText(image, text, (6, top + height + 3), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), thick, cv2.LINE_AA)
    return image
