"""Training says so when the labels would silently build a larger or half-blind model."""

import numpy as np

from slr_fused.data.csv_format import read_pose_csv, write_pose_csv
from slr_fused.data.synthetic import default_demo_folder, write_demo_dataset
from slr_fused.training import TrainConfig, train


def _relabelled(source, target, mapping):
    data = read_pose_csv(source)
    keep = [i for i in range(len(data)) if int(data.labels[i]) in mapping]
    write_pose_csv(target, [data.sample(i) for i in keep], [mapping[int(data.labels[i])] for i in keep])
    return str(target)


def test_sparse_labels_and_a_test_only_class_are_warned_with_the_fix(tmp_path):
    demo = write_demo_dataset(default_demo_folder())
    train_csv = _relabelled(demo["train"], tmp_path / "s_train.csv", {0: 0, 1: 5})
    test_csv = _relabelled(demo["test"], tmp_path / "s_test.csv", {0: 0, 1: 5, 2: 7})
    lines = []
    result = train(TrainConfig(epochs=1, d_ff=16, num_enc_layers=1, num_dec_layers=1, batch_size=64,
                               num_frames=8, max_frames=8, runs_dir=str(tmp_path / "runs"),
                               training_set_path=train_csv, testing_set_path=test_csv,
                               progress=False, device="cpu"), log=lines.append)
    warnings = [line for line in lines if line.startswith("Warning:")]
    assert any("7 appear only in test" in w and "move samples" in w for w in warnings), lines
    assert any("2 distinct training labels but 8 outputs" in w and "renumber" in w
               for w in warnings), lines
    assert np.isfinite(result["final"]["test"]["top1"])
