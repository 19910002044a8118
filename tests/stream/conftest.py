"""Fixtures of the stream tests: a small model trained on bsl16, and a continuous stream made of
bsl16 test samples separated by short gaps with nobody in view.

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


@pytest.fixture(scope="session")
def continuous_stream(tmp_path_factory):
    """(CSV path, [(first frame, last frame, label)] of each sign): 40 test samples (no idle
    ones) in random order, each followed by GAP empty frames, written as one pose CSV whose rows
    the replay source plays back to back."""
    require_bsl16()
    from slr_fused.data.csv_format import read_pose_csv, write_pose_csv
    test = read_pose_csv(BSL16 / "bsl16_test.csv")
    idle = [line.strip() for line in (BSL16 / "bsl16_classes.txt").read_text().splitlines()].index(IDLE_CLASS)
    order = [i for i in np.random.default_rng(1).permutation(len(test)) if test.labels[i] != idle][:SIGNS]
    samples, labels, signs, position = [], [], [], 0
    for i in order:
        sample = test.sample(i)
        samples += [sample, np.zeros((GAP, 54, 2), np.float32)]
        labels += [int(test.labels[i]), 0]
        signs.append((position, position + len(sample) - 1, int(test.labels[i])))
        position += len(sample) + GAP
    path = tmp_path_factory.mktemp("stream-data") / "stream.csv"
    write_pose_csv(path, samples, labels)
    return path, signs
