"""`slr data check`: planted problems are flagged (exit 1), the clean shared sets pass (exit 0)."""

from pathlib import Path

import numpy as np
import pytest

from slr_fused.cli import main
from slr_fused.data.check import check_datasets, swapped_hands
from slr_fused.data.csv_format import read_pose_csv, write_pose_csv
from slr_fused.data.joints import NUM_BODY, NUM_HAND

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LEFT, RIGHT = slice(NUM_BODY, NUM_BODY + NUM_HAND), slice(NUM_BODY + NUM_HAND, None)


def _both_hands(frames):
    return (frames[:, LEFT] != 0).any((1, 2)).mean() > 0.8 and (frames[:, RIGHT] != 0).any((1, 2)).mean() > 0.8


def _swap(frames):
    swapped = frames.copy()
    swapped[:, LEFT], swapped[:, RIGHT] = frames[:, RIGHT], frames[:, LEFT]
    return swapped


def test_swapped_hands_are_told_from_real_two_handed_clips(shared_data):
    """Most real clips with both hands are flagged once their hand columns are swapped, none before."""
    data = read_pose_csv(shared_data / "vsl14" / "vsl14_val.csv")
    clips = [data.sample(i) for i in range(len(data)) if _both_hands(data.sample(i))]
    assert len(clips) >= 10
    assert not any(swapped_hands(c) for c in clips)
    assert np.mean([swapped_hands(_swap(c)) for c in clips]) >= 0.8


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    if not (SHARED_DATA / "isl13" / "isl13_val.csv").is_file():
        print(f"SKIP: no isl13 at {SHARED_DATA}")
        pytest.skip(f"no isl13 at {SHARED_DATA}")
    folder = tmp_path_factory.mktemp("planted")
    val = read_pose_csv(SHARED_DATA / "isl13" / "isl13_val.csv")
    test = read_pose_csv(SHARED_DATA / "isl13" / "isl13_test.csv")
    train_samples = [val.sample(i).copy() for i in range(len(val)) if val.labels[i] != 0]
    train_labels = [int(l) for l in val.labels if l != 0]          # class 0 only in "val" below
    swap = next(i for i, s in enumerate(train_samples)
                if _both_hands(s) and not swapped_hands(s) and swapped_hands(_swap(s)))
    train_samples[swap] = _swap(train_samples[swap])                 # planted: swapped hands
    train_samples[3] = np.zeros_like(train_samples[3])              # planted: all-zero sample
    val_samples = [test.sample(i) for i in range(len(test))]
    val_samples[5] = train_samples[10]                               # planted: duplicate
    val_labels = [int(l) for l in test.labels]
    val_labels[5] = train_labels[10]
    write_pose_csv(folder / "p_train.csv", train_samples, train_labels)
    write_pose_csv(folder / "p_val.csv", val_samples, val_labels)
    (folder / "p_classes.txt").write_text((SHARED_DATA / "isl13" / "isl13_classes.txt").read_text())
    return folder, swap + 2


def test_planted_problems_are_flagged(planted, tmp_path, capsys):
    folder, swapped_line = planted
    code = main(["data", "check", str(folder / "p_train.csv"), str(folder / "p_val.csv"),
                 "-o", str(tmp_path / "report"), "--render", "1"])
    out = capsys.readouterr().out
    assert code == 1
    report = check_datasets([folder / "p_train.csv", folder / "p_val.csv"])
    assert {"class_missing_from_train", "all_zero_sample", "duplicate_across_splits",
            "swapped_hands"} <= report.kinds()
    assert {f.kind for f in report.errors} == {"class_missing_from_train", "all_zero_sample",
                                               "duplicate_across_splits"}
    swapped = next(f for f in report.findings if f.kind == "swapped_hands")
    assert f"lines {swapped_line})" in swapped.message and "'fail'" in out
    text = (tmp_path / "report" / "report.md").read_text()
    assert "overview.png" in text and "all_zero_sample" in text
    assert (tmp_path / "report" / "overview.png").read_bytes()[:4] == b"\x89PNG"
    clips = sorted((tmp_path / "report" / "clips").glob("*.png"))
    assert len(clips) == 13 and all(c.read_bytes()[:4] == b"\x89PNG" for c in clips)


@pytest.mark.parametrize("name", ["bsl16", "isl13", "vsl14"])
def test_clean_shared_sets_pass(shared_data, name):
    report = check_datasets([shared_data / name / f"{name}_{s}.csv" for s in ("train", "val", "test")])
    assert report.errors == [], report.summary()
    assert "swapped_hands" not in report.kinds()
