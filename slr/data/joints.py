"""Joint names and column layout of the SPOTER/Siformer CSV format, in one place.

Every other module (reader, normalisation, augmentation, MediaPipe extraction, synthetic data)
takes joint indices from here, so the order of joints is defined exactly once.
"""

BODY_JOINTS = (
    "nose", "neck", "rightEye", "leftEye", "rightEar", "leftEar",
    "rightShoulder", "leftShoulder", "rightElbow", "leftElbow", "rightWrist", "leftWrist",
)

# SPOTER hand order: wrist, then each finger from tip to base, thumb last.
HAND_JOINTS = (
    "wrist",
    "indexTip", "indexDIP", "indexPIP", "indexMCP",
    "middleTip", "middleDIP", "middlePIP", "middleMCP",
    "ringTip", "ringDIP", "ringPIP", "ringMCP",
    "littleTip", "littleDIP", "littlePIP", "littleMCP",
    "thumbTip", "thumbIP", "thumbMP", "thumbCMC",
)

NUM_BODY = len(BODY_JOINTS)   # 12 -> 24 features
NUM_HAND = len(HAND_JOINTS)   # 21 -> 42 features
FEATURE_DIMS = {"lh": 2 * NUM_HAND, "rh": 2 * NUM_HAND, "body": 2 * NUM_BODY}
MODALITIES = ("lh", "rh", "body")

BODY_INDEX = {name: i for i, name in enumerate(BODY_JOINTS)}

# Hand suffixes: Siformer files use "_left_"/"_right_"; SPOTER's original files use "_0_"/"_1_"
# (0 = left, 1 = right). Both are read; the first spelling found for a hand wins.
HAND_SUFFIXES = {"left": ("left", "0"), "right": ("right", "1")}

LABEL_COLUMN = "labels"


def body_columns(axis):
    """Column names of the body joints for one axis ("X" or "Y")."""
    return [f"{name}_{axis}" for name in BODY_JOINTS]


def hand_columns(side, axis, suffix=None):
    """Column names of one hand's joints for one axis, with the given side suffix."""
    suffix = suffix or HAND_SUFFIXES[side][0]
    return [f"{name}_{suffix}_{axis}" for name in HAND_JOINTS]


def all_columns():
    """The canonical column order this project writes: labels, body, left hand, right hand."""
    cols = [LABEL_COLUMN]
    for name in BODY_JOINTS:
        cols += [f"{name}_X", f"{name}_Y"]
    for side in ("left", "right"):
        for name in HAND_JOINTS:
            cols += [f"{name}_{side}_X", f"{name}_{side}_Y"]
    return cols
