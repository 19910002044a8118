"""Labels, splits that keep groups together, and outputs that never replace what exists."""

import numpy as np

from slr_fused.cli import main
from slr_fused.convert.clips import group_key, split_by_group
from slr_fused.data.csv_format import read_pose_csv


def test_split_never_puts_one_group_on_both_sides():
    rng = np.random.default_rng(0)
    labels = [f"c{i % 4}" for i in range(200)]
    groups = [f"signer{rng.integers(12)}_video{i // 3}" for i in range(200)]
    for pattern in (r"(.*)", r"(signer\d+)"):
        keys = [group_key(g, pattern) for g in groups]
        sides = split_by_group(labels, keys, (0.7, 0.15, 0.15), seed=1)
        where = {}
        for key, side in zip(keys, sides):
            assert where.setdefault(key, side) == side, key
        assert set(sides) == {"train", "val", "test"}
        for label in set(labels):
            assert any(s == "train" for s, l in zip(sides, labels) if l == label)
    sides = split_by_group(labels, [g for g in groups], (0.7, 0.15, 0.15), seed=1)
    assert 0.55 < sides.count("train") / len(sides) < 0.85


def _mp_data(root, classes=("a", "b"), sequences=6):
    rng = np.random.default_rng(2)
    for c in classes:
        for s in range(sequences):
            folder = root / c / f"signer{s % 3}_{s}"
            folder.mkdir(parents=True)
            for t in range(3):
                np.save(folder / f"{t}.npy", rng.uniform(0.1, 0.9, 258))


def test_convert_with_split_and_group_by(tmp_path, capsys):
    _mp_data(tmp_path / "MP_Data")
    out = tmp_path / "set.csv"
    assert main(["convert", str(tmp_path / "MP_Data"), "-o", str(out), "--split", "0.5,0.25,0.25",
                 "--group-by", r"(signer\d+)_", "--no_progress"]) == 0
    sources = {}
    total = 0
    for split in ("train", "val", "test"):
        path = tmp_path / f"set_{split}.csv"
        lines = (tmp_path / f"set_{split}.csv.sources.txt").read_text().splitlines()[1:]
        total += len(lines)
        if lines:
            assert len(read_pose_csv(path, use_cache=False)) == len(lines)
        for line in lines:
            signer = line.split("/")[-1].split("_")[0]
            assert sources.setdefault(signer, split) == split
    assert total == 12 and (tmp_path / "set_classes.txt").read_text().split() == ["a", "b"]
    capsys.readouterr()
    # Existing outputs are kept unless --overwrite; the message is one line.
    before = (tmp_path / "set_train.csv").read_bytes()
    assert main(["convert", str(tmp_path / "MP_Data"), "-o", str(out), "--split"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--overwrite" in error
    assert (tmp_path / "set_train.csv").read_bytes() == before
    assert main(["convert", str(tmp_path / "MP_Data"), "-o", str(out), "--split", "--overwrite",
                 "--no_progress"]) == 0


def test_label_option_and_list_files(tmp_path):
    _mp_data(tmp_path / "MP_Data", classes=("a",), sequences=2)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{tmp_path}/MP_Data/a/signer0_0,zero\nMP_Data/a/signer1_1,one\n")
    assert main(["convert", str(listing), "-o", str(tmp_path / "l.csv"), "--no_progress"]) == 0
    assert (tmp_path / "l_classes.txt").read_text().split() == ["one", "zero"]
    assert main(["convert", str(tmp_path / "MP_Data" / "a" / "signer0_0"), "--label", "wave",
                 "-o", str(tmp_path / "w.csv"), "--no_progress"]) == 0
    assert (tmp_path / "w_classes.txt").read_text().split() == ["wave"]
