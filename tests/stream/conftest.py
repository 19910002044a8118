"""Fixtures of the stream tests: a small model trained on bsl16, and continuous streams made of
bsl16 test samples separated by short gaps (nobody in view, or the signer at rest).

The model is trained here (about 10 s on two CPU cores) because streaming needs a model that
recognises real signs; it sees random prefixes of the training samples (15 to 30 frames), as a
stream shows the model a sign's first frames. The test split is never seen in training.
"""

import numpy as np
import pytest
import torch

from stream_helpers import BSL16, GAP, IDLE_CLASS, SIGNS, require_bsl16


@pytest.fixture(scope="session")
def stream_model(tmp_path_factory):
    """Path of a tiny SiFormer trained for 3 epochs on bsl16's training split."""
    require_bsl16()
    from slr_fused.checkpoint import save_model
    from slr_fused.data.csv_format import read_class_names
    from slr_fused.data.dataset import PoseDataset, collate_poses
    from slr_fused.models.siformer import SiFormer, SiFormerConfig
    torch.manual_seed(0)
    model = SiFormer(SiFormerConfig(num_classes=16, d_ff=64, num_enc_layers=1, num_dec_layers=1))
    loader = torch.utils.data.DataLoader(PoseDataset(BSL16 / "bsl16_train.csv"), batch_size=32,
                                         shuffle=True, collate_fn=collate_poses,
                                         generator=torch.Generator().manual_seed(0))
    epochs = 3
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3,
                                                   total_steps=epochs * len(loader))
    lengths = torch.Generator().manual_seed(1)
    model.train()
    for _ in range(epochs):
        for batch in loader:
            n = int(torch.randint(15, 31, (1,), generator=lengths))
            logits = model(batch["lh"][:, :n], batch["rh"][:, :n], batch["body"][:, :n],
                           batch["padding_mask"][:, :n])
            loss = torch.nn.functional.cross_entropy(logits, batch["label"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    names = read_class_names(BSL16 / "bsl16_train.csv", 16)
    return save_model(tmp_path_factory.mktemp("stream-model") / "model.pt", model, names)


def _stream(folder, gap_kind):
    """(CSV path, [(first frame, last frame, label)] of each sign): 40 test samples (no idle
    ones) in random order, each followed by a gap, written as one pose CSV whose rows the replay
    source plays back to back. Gaps: "empty" = GAP frames with nobody in view; "rest" = an idle
    sample of bsl16 (the signer at rest), in which case no two neighbouring signs share a class
    (they would be one event: see docs/streaming.md)."""
    from slr_fused.data.csv_format import read_pose_csv, write_pose_csv
    test = read_pose_csv(BSL16 / "bsl16_test.csv")
    idle = [line.strip() for line in (BSL16 / "bsl16_classes.txt").read_text().splitlines()].index(IDLE_CLASS)
    permutation = np.random.default_rng(1).permutation(len(test))
    order = [i for i in permutation if test.labels[i] != idle][:SIGNS]
    rests = [i for i in permutation if test.labels[i] == idle]
    if gap_kind == "rest":
        pending, order = order, []
        while pending:
            pick = next((i for i in pending if not order or test.labels[i] != test.labels[order[-1]]),
                        pending[0])
            pending.remove(pick)
            order.append(pick)
    samples, labels, signs, position = [], [], [], 0
    for k, i in enumerate(order):
        sample = test.sample(i)
        gap = (np.zeros((GAP, 54, 2), np.float32) if gap_kind == "empty"
               else test.sample(rests[k % len(rests)]))
        samples += [sample, gap]
        labels += [int(test.labels[i]), idle]
        signs.append((position, position + len(sample) - 1, int(test.labels[i])))
        position += len(sample) + len(gap)
    path = folder / f"stream-{gap_kind}.csv"
    write_pose_csv(path, samples, labels)
    return path, signs


@pytest.fixture(scope="session")
def continuous_stream(tmp_path_factory):
    """The stream with empty gaps (see :func:`_stream`)."""
    require_bsl16()
    return _stream(tmp_path_factory.mktemp("stream-data"), "empty")


@pytest.fixture(scope="session")
def rest_stream(tmp_path_factory):
    """The stream with the signer at rest between signs (see :func:`_stream`)."""
    require_bsl16()
    return _stream(tmp_path_factory.mktemp("stream-rest"), "rest")
