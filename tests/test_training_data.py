"""The data of a training run (slr/training_data.py): which CSVs, the validation policy, the
class count; whole runs are in tests/test_training.py."""

import dataclasses

import pytest

from slr_fused import training_data
from slr_fused.config import TrainConfig
from slr_fused.data.csv_format import write_pose_csv
from slr_fused.data.synthetic import make_split
from slr_fused.distributed import DistributedContext


@pytest.fixture(scope="module")
def train_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny_train.csv"
    samples, labels = make_split(3, seed=0)           # 8 classes x 3 samples
    write_pose_csv(path, samples, labels)
    return str(path)


def test_paths_given_or_the_demo_data(monkeypatch, tmp_path):
    config = TrainConfig(training_set_path="t.csv", testing_set_path="x.csv")
    assert training_data.resolve_data_paths(config) == {"train": "t.csv", "val": None, "test": "x.csv"}
    demo = {"train": tmp_path / "demo_train.csv", "val": tmp_path / "demo_val.csv",
            "test": tmp_path / "demo_test.csv"}
    monkeypatch.setattr(training_data, "write_demo_dataset", lambda folder: demo)
    paths = training_data.resolve_data_paths(TrainConfig(validation_set_path="mine.csv"))
    assert paths == {"train": str(demo["train"]), "val": "mine.csv", "test": str(demo["test"])}


def test_split_from_train_takes_validation_samples_from_every_class(train_csv):
    config = TrainConfig(training_set_path=train_csv, validation_set="split-from-train",
                         validation_set_size=0.34)
    paths = training_data.resolve_data_paths(config)
    train_set, eval_sets = training_data.load_datasets(config, paths)
    assert list(eval_sets) == ["val"] and len(eval_sets["val"]) == 8 and len(train_set) == 16
    auto = dataclasses.replace(config, validation_set="auto")
    assert training_data.load_datasets(auto, paths)[1] == {}     # auto without a val file: none


def test_too_few_classes_is_one_clear_error(train_csv):
    config = TrainConfig(training_set_path=train_csv, num_classes=4)
    with pytest.raises(ValueError, match=r"--num_classes 4 is smaller than the data's labels need "
                                         r"\(8: labels go up to 7\)"):
        training_data.prepare_data(config, DistributedContext(), log=print)


@pytest.mark.parametrize("mirror, data, warned", [
    (0.5, None, True), (None, None, False), (0.5, "mine_train.csv", False)])
def test_mirroring_the_bundled_demo_data_is_warned_about(mirror, data, warned):
    # the demo's classes are mirror-image pairs: the default recipe's mirroring would merge them
    note = training_data.demo_mirror_note(TrainConfig(mirror=mirror, training_set_path=data))
    assert (note is not None and "mirror-image pairs" in note and "--recipe seed" in note) == warned
