"""Joint names and CSV columns (slr/data/joints.py), the single definition of the joint order."""

from slr_fused.data import joints


def test_counts_and_feature_widths():
    assert (joints.NUM_BODY, joints.NUM_HAND) == (12, 21)
    assert joints.FEATURE_DIMS == {"lh": 42, "rh": 42, "body": 24}
    assert tuple(joints.FEATURE_DIMS) == joints.MODALITIES
    assert len(set(joints.BODY_JOINTS)) == 12 and len(set(joints.HAND_JOINTS)) == 21
    assert joints.HAND_JOINTS[0] == "wrist" and joints.BODY_INDEX["neck"] == 1


def test_column_names():
    assert joints.body_columns("X")[:2] == ["nose_X", "neck_X"]
    assert joints.hand_columns("left", "Y")[0] == "wrist_left_Y"
    assert joints.hand_columns("right", "X", suffix="1")[-1] == "thumbCMC_1_X"   # SPOTER spelling


def test_all_columns_is_labels_body_left_right_with_x_before_y():
    cols = joints.all_columns()
    assert len(cols) == 1 + 2 * (12 + 21 + 21) and len(set(cols)) == len(cols)
    assert cols[:3] == ["labels", "nose_X", "nose_Y"]
    assert cols[1 + 24] == "wrist_left_X" and cols[1 + 24 + 42] == "wrist_right_X"
    assert cols[-1] == "thumbCMC_right_Y"
