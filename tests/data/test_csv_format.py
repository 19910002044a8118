import ast
import csv
import os
import random
import sys

import numpy as np
import pytest

from slr_fused.data.csv_format import (PoseDataError, cache_locations, parse_pose_csv,
                                       read_class_names, read_pose_csv, write_pose_csv)
from slr_fused.data.joints import BODY_JOINTS, HAND_JOINTS, all_columns


def _random_samples(n=3, seed=0):
    rng = np.random.default_rng(seed)
    samples = [rng.uniform(0.1, 0.9, (int(rng.integers(3, 9)), 54, 2)).astype(np.float32) for _ in range(n)]
    samples[0][1, 20:30] = 0.0  # a missing hand in one frame
    return samples, list(range(n))


def _rows(path):
    csv.field_size_limit(sys.maxsize)
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def _write_rows(path, rows):
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)


@pytest.mark.parametrize("name", ["bsl16", "isl13", "vsl14"])
def test_real_files_match_literal_eval(shared_data, name):
    path = shared_data / name / f"{name}_test.csv"
    data = read_pose_csv(path)
    rows = _rows(path)
    header = rows[0]
    assert len(data) == len(rows) - 1
    assert data.frames.shape[1:] == (54, 2) and data.frames.dtype == np.float32
    assert set(data.lengths) == {30}
    assert sorted(set(data.labels)) == list(range(len(set(data.labels))))
    # spot-check cells against the slow, obviously-correct parser
    rng = random.Random(0)
    for row_index in rng.sample(range(1, len(rows)), 5):
        row = dict(zip(header, rows[row_index]))
        sample = data.sample(row_index - 1)
        assert int(row["labels"]) == data.labels[row_index - 1]
        checks = [("nose_X", 0, 0), ("leftWrist_Y", 11, 1), ("thumbCMC_left_X", 12 + 20, 0),
                  ("indexTip_right_Y", 33 + 1, 1), ("wrist_right_X", 33, 0)]
        for column, joint, axis in checks:
            np.testing.assert_allclose(sample[:, joint, axis], ast.literal_eval(row[column]), atol=1e-6)


def test_class_names_beside_csv(shared_data):
    names = read_class_names(shared_data / "bsl16" / "bsl16_train.csv")
    assert names is not None and len(names) == 16
    assert read_class_names(shared_data / "bsl16" / "bsl16_train.csv", num_classes=3) is None


def test_round_trip_any_column_order_extra_columns_and_spoter_suffixes(tmp_path):
    samples, labels = _random_samples()
    path = tmp_path / "a.csv"
    write_pose_csv(path, samples, labels)
    rows = _rows(path)
    # shuffle columns, add an unrelated column, and rename hands to SPOTER's _0_/_1_ spelling
    order = list(range(len(rows[0])))
    random.Random(1).shuffle(order)
    shuffled = [[row[i] for i in order] + ["extra"] for row in rows]
    shuffled[0] = [c.replace("_left_", "_0_").replace("_right_", "_1_") for c in shuffled[0][:-1]] + ["video_fps"]
    other = tmp_path / "b.csv"
    _write_rows(other, shuffled)
    for p in (path, other):
        data = read_pose_csv(p, use_cache=False)
        assert list(data.labels) == labels
        for k, sample in enumerate(samples):
            np.testing.assert_allclose(data.sample(k), sample, atol=1e-5)


@pytest.mark.parametrize("breakage, message", [
    ("missing_column", "missing column"),
    ("ragged", "ragged lists"),
    ("nan", "NaN"),
    ("not_a_list", "not a list"),
    ("not_a_number", "not a number"),
    ("bad_label", "not an integer"),
    ("short_row", "cells, header has"),
])
def test_malformed_files_name_file_and_row(tmp_path, breakage, message):
    samples, labels = _random_samples()
    path = tmp_path / "bad.csv"
    write_pose_csv(path, samples, labels)
    rows = _rows(path)
    header = rows[0]
    col = header.index("indexTip_left_Y")
    if breakage == "missing_column":
        rows = [r[:col] + r[col + 1:] for r in rows]
    elif breakage == "ragged":
        rows[2][col] = rows[2][col][:-1] + ", 0.5]"
    elif breakage == "nan":
        rows[2][col] = rows[2][col].replace("[", "[nan, ", 1).rsplit(",", 1)[0] + "]"
    elif breakage == "not_a_list":
        rows[2][col] = "0.5"
    elif breakage == "not_a_number":
        rows[2][col] = rows[2][col].replace("[", "[abc, ", 1).rsplit(",", 1)[0] + "]"
    elif breakage == "bad_label":
        rows[2][0] = "cat"
    elif breakage == "short_row":
        rows[2] = rows[2][:10]
    _write_rows(path, rows)
    with pytest.raises(PoseDataError) as info:
        read_pose_csv(path)
    text = str(info.value)
    assert str(path) in text and message in text
    if breakage != "missing_column":
        assert "row 3" in text
    assert "\n" not in text


def test_empty_and_header_only_and_missing_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(PoseDataError, match="empty"):
        read_pose_csv(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(all_columns()) + "\n")
    with pytest.raises(PoseDataError, match="no samples"):
        read_pose_csv(header_only)
    with pytest.raises(PoseDataError, match="no such file"):
        read_pose_csv(tmp_path / "absent.csv")


def test_cache_is_used_and_invalidated_when_the_csv_changes(tmp_path, monkeypatch):
    import slr_fused.data.csv_format as csv_format
    samples, labels = _random_samples()
    path = tmp_path / "c.csv"
    write_pose_csv(path, samples, labels)
    first = read_pose_csv(path)
    beside = cache_locations(path)[0]
    assert beside.is_file()
    # a cache hit does not re-parse
    with monkeypatch.context() as patch:
        patch.setattr(csv_format, "parse_pose_csv", lambda p: pytest.fail("parsed again"))
        np.testing.assert_array_equal(read_pose_csv(path).frames, first.frames)
    # a same-size edit with the mtime restored is still seen: the key holds the content hash
    stat = path.stat()
    path.write_bytes(path.read_bytes().replace(b"0.", b"9.", 1))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert not np.array_equal(read_pose_csv(path).frames, first.frames)
    # a real change (new content, new mtime) invalidates it
    samples2, _ = _random_samples(seed=5)
    write_pose_csv(path, samples2, labels)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    np.testing.assert_allclose(read_pose_csv(path).sample(0), samples2[0], atol=1e-5)


def test_corrupt_cache_is_ignored(tmp_path):
    samples, labels = _random_samples()
    path = tmp_path / "d.csv"
    write_pose_csv(path, samples, labels)
    read_pose_csv(path)
    cache_locations(path)[0].write_bytes(b"garbage")
    np.testing.assert_allclose(read_pose_csv(path).sample(1), samples[1], atol=1e-5)


def test_read_only_folder_falls_back_to_user_cache(tmp_path):
    folder = tmp_path / "dataset"
    folder.mkdir()
    samples, labels = _random_samples()
    path = folder / "e.csv"
    write_pose_csv(path, samples, labels)
    folder.chmod(0o555)
    try:
        read_pose_csv(path)
        beside, user = cache_locations(path)
        assert not beside.exists()
        assert user.is_file()
    finally:
        folder.chmod(0o755)


def test_joint_layout():
    assert len(BODY_JOINTS) == 12 and len(HAND_JOINTS) == 21
    assert len(all_columns()) == 1 + 2 * 54


# --- a user's checklist of silent data problems that must be loud now ------------------------------

def _csv_with(tmp_path, edit, name="u.csv", n=3):
    """A valid CSV, then ``edit(rows)`` applied to its rows (header first)."""
    samples, labels = _random_samples(n)
    path = tmp_path / name
    write_pose_csv(path, samples, labels)
    rows = _rows(path)
    edit(rows)
    _write_rows(path, rows)
    return path


def test_coordinates_beyond_float32_are_an_error_not_zeros(tmp_path):
    def huge(rows):
        rows[2][1] = "[" + ", ".join(["1e300"] * (rows[2][1].count(",") + 1)) + "]"
    with pytest.raises(PoseDataError, match=r"row 3: coordinate 1e\+300 is out of the float32 range"):
        parse_pose_csv(_csv_with(tmp_path, huge))


@pytest.mark.parametrize("column", ["nose_X", "labels", "indexTip_left_Y"])
def test_duplicate_columns_are_rejected_by_name(tmp_path, column):
    def duplicate(rows):
        index = rows[0].index(column)
        for row in rows:
            row.append(row[index])
    with pytest.raises(PoseDataError, match=f"duplicate column.*{column}"):
        parse_pose_csv(_csv_with(tmp_path, duplicate))


@pytest.mark.parametrize("label, problem", [
    ("3.7", "not a whole number"), ("inf", "not a finite number"), ("nan", "not a finite number"),
    ("1e30", "too large"), ("2e9", "too large"), ("-1", "is negative"), ("three", "not an integer"),
    ("", "not an integer")])
def test_bad_labels_are_one_clear_error(tmp_path, label, problem):
    def set_label(rows):
        rows[2][0] = label
    with pytest.raises(PoseDataError, match=f"row 3: label '{label}' (is )?{problem}"):
        parse_pose_csv(_csv_with(tmp_path, set_label))


def test_integral_labels_written_as_floats_are_accepted(tmp_path):
    def as_float(rows):
        rows[2][0] = "1.0"
    assert parse_pose_csv(_csv_with(tmp_path, as_float)).labels.tolist() == [0, 1, 2]


def test_a_utf8_bom_is_accepted_and_other_encodings_named(tmp_path):
    path = _csv_with(tmp_path, lambda rows: None)
    text = path.read_text(encoding="utf-8")
    bom = tmp_path / "excel.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    np.testing.assert_array_equal(parse_pose_csv(bom).frames, parse_pose_csv(path).frames)
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes(text.encode("utf-16"))
    with pytest.raises(PoseDataError, match=r"utf16\.csv: not UTF-8 text.*CSV UTF-8"):
        parse_pose_csv(utf16)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(text.encode("utf-8") + "é,".encode("latin-1"))
    with pytest.raises(PoseDataError, match=r"latin\.csv: not UTF-8"):
        parse_pose_csv(latin)


def test_the_cache_is_as_private_as_its_source(tmp_path):
    samples, labels = _random_samples()
    path = tmp_path / "private.csv"
    write_pose_csv(path, samples, labels)
    os.chmod(path, 0o600)
    read_pose_csv(path)
    assert os.stat(cache_locations(path)[0]).st_mode & 0o777 == 0o600


def test_all_zero_samples_and_missing_hands_are_warned_with_their_share(tmp_path):
    samples, labels = _random_samples(4)
    samples[1][:] = 0.0
    for sample in samples:
        sample[:, 12:33] = 0.0   # no left hand anywhere
    path = tmp_path / "zeros.csv"
    write_pose_csv(path, samples, labels)
    with pytest.warns(UserWarning) as caught:
        read_pose_csv(path)
    messages = " | ".join(str(w.message) for w in caught)
    assert "1 of 4 samples (25%) are all zeros" in messages
    assert "left hand is all zeros in 4 of 4 samples (100%)" in messages
    assert "right hand" not in messages


def test_sparse_labels_and_classes_only_in_evaluation_are_warned():
    from slr_fused.data.checks import label_warnings
    notes = label_warnings(np.array([5, 17, 99, 5]), {"val": np.array([5, 17]),
                                                      "test": np.array([5, 42])}, 100)
    assert len(notes) == 2
    assert "42 appear only in test" in notes[0] and "move samples" in notes[0]
    assert "3 distinct training labels but 100 outputs" in notes[1] and "renumber" in notes[1]
    assert label_warnings(np.array([0, 1, 2]), {"val": np.array([2, 1])}, 3) == []
