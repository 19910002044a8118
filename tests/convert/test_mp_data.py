"""MP_Data folders: the real sample against isl13 (same source), the other layouts, bad inputs."""

import numpy as np
import pytest

from slr_fused.cli import main
from slr_fused.convert import convert_dataset, mp_data
from slr_fused.data.csv_format import read_pose_csv
from slr_fused.data.joints import NUM_BODY, NUM_HAND


def test_mp_data_sample_matches_the_isl13_rows_made_from_it(shared_data, tmp_path):
    """Every converted sequence equals, to the CSV's 5 decimals, an isl13 row of the same class."""
    report = convert_dataset([shared_data / "mp_data_sample" / "MP_Data"], tmp_path / "mp.csv",
                             progress=False)
    converted = read_pose_csv(tmp_path / "mp.csv", use_cache=False)
    names = report.class_names
    isl_names = (shared_data / "isl13" / "isl13_classes.txt").read_text().split()
    isl = [read_pose_csv(shared_data / "isl13" / f"isl13_{s}.csv") for s in ("train", "val", "test")]
    assert len(converted) == 12
    for k in range(len(converted)):
        sample = converted.sample(k)
        matches = [isl_names[int(split.labels[i])] for split in isl for i in range(len(split))
                   if split.sample(i).shape == sample.shape
                   and np.abs(split.sample(i) - sample).max() <= 1.1e-5]
        assert matches == [names[converted.labels[k]]], k


def _vectors(rng, frames, layout):
    parts = []
    for name, points, values in mp_data.LAYOUTS[layout]:
        parts.append(rng.uniform(0.1, 0.9, (frames, points * values)))
    vectors = np.concatenate(parts, axis=1)
    return vectors


@pytest.mark.parametrize("layout", [258, 126, 170])
def test_generated_layouts(tmp_path, layout):
    rng = np.random.default_rng(layout)
    vectors = _vectors(rng, 5, layout)
    hands = vectors[:, -126:].reshape(5, 2, 21, 3)
    hands[1, 0] = 0                                          # no left hand in frame 1
    vectors[:, -126:] = hands.reshape(5, 126)
    for t, vector in enumerate(vectors):
        (tmp_path / "MP_Data" / "wave" / "0").mkdir(parents=True, exist_ok=True)
        np.save(tmp_path / "MP_Data" / "wave" / "0" / f"{t}.npy", vector)
    convert_dataset([tmp_path / "MP_Data"], tmp_path / "out.csv", progress=False)
    frames = read_pose_csv(tmp_path / "out.csv", use_cache=False).sample(0)
    right_wrist = hands[:, 1, 0, :2]
    np.testing.assert_allclose(frames[:, NUM_BODY + NUM_HAND], right_wrist, atol=1e-5)
    assert not frames[1, NUM_BODY:NUM_BODY + NUM_HAND].any()
    body = frames[:, :NUM_BODY]
    if layout == 258:
        pose = vectors[:, :132].reshape(5, 33, 4)
        np.testing.assert_allclose(body[:, 0], pose[:, 0, :2], atol=1e-5)          # nose
        np.testing.assert_allclose(body[:, 1], pose[:, 11:13, :2].mean(1), atol=1e-5)  # neck
    elif layout == 170:                                     # the head only: nose, eyes, ears
        pose = vectors[:, :44].reshape(5, 11, 4)
        np.testing.assert_allclose(body[:, 3], pose[:, 2, :2], atol=1e-5)           # left eye
        assert not body[:, 1].any() and not body[:, 6:].any()
    else:
        assert not body.any()


def test_bad_mp_data_gives_one_line_and_writes_nothing(tmp_path, capsys):
    ragged = tmp_path / "ragged" / "a" / "0"
    ragged.mkdir(parents=True)
    np.save(ragged / "0.npy", np.zeros(1662))
    np.save(ragged / "1.npy", np.zeros(258))
    odd = tmp_path / "odd" / "a" / "0"
    odd.mkdir(parents=True)
    np.save(odd / "0.npy", np.zeros(100))
    (tmp_path / "empty").mkdir()
    for folder, message in (("ragged", "ragged MP_Data sequence"), ("odd", "unknown MP_Data layout"),
                            ("empty", "empty folder")):
        assert main(["convert", str(tmp_path / folder), "-o", str(tmp_path / f"{folder}.csv")]) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and message in error and error.startswith("error:")
        assert not (tmp_path / f"{folder}.csv").exists()
