"""Fixtures shared by the export tests: one small checkpoint and one ONNX export per session.

The dynamo exporter takes about half a minute even for a one-layer model on two CPU cores, so
the export is done once (through the CLI function, which is then tested by the same run) and
every test reads the file.
"""

import argparse

import pytest
import torch

from slr_fused.checkpoint import save_model
from slr_fused.export.cli import run_export
from slr_fused.models.siformer import SiFormer, SiFormerConfig

from export_helpers import SHARED_DATA, export_parser, have_bsl16

TINY = dict(d_ff=32, num_enc_layers=1, num_dec_layers=1)


@pytest.fixture
def parser() -> argparse.ArgumentParser:
    return export_parser()


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """A 16-class tiny SiFormer with the bsl16 class names.

    With ../shared present it takes a few AdamW steps on bsl16's val split (logits with a
    trained model's spread, for the parity tests; full `train` costs 10-25 s here); without it
    the weights stay random. The test split is never seen.
    """
    from slr_fused.data.csv_format import read_class_names
    from slr_fused.data.dataset import PoseDataset, collate_poses
    torch.manual_seed(0)
    model = SiFormer(SiFormerConfig(num_classes=16, **TINY))
    names = [f"sign{i}" for i in range(16)]
    if have_bsl16():
        val = SHARED_DATA / "bsl16" / "bsl16_val.csv"
        names = read_class_names(val, 16) or names
        loader = torch.utils.data.DataLoader(PoseDataset(val), batch_size=32, shuffle=True,
                                             collate_fn=collate_poses,
                                             generator=torch.Generator().manual_seed(0))
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
        model.train()
        for batch in loader:
            logits = model(batch["lh"], batch["rh"], batch["body"], batch["padding_mask"])
            loss = torch.nn.functional.cross_entropy(logits, batch["label"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    folder = tmp_path_factory.mktemp("export-model")
    return save_model(folder / "model.pt", model, names, metadata={"note": "export tests"})


@pytest.fixture(scope="session")
def exported(checkpoint, tmp_path_factory):
    """``slr export onnx CHECKPOINT --output model.onnx --dynamic-length --with-mask``, run once.

    Returns (path, printed lines)."""
    path = tmp_path_factory.mktemp("export-onnx") / "model.onnx"
    lines = []
    args = export_parser().parse_args(["export", "onnx", str(checkpoint), "--output", str(path),
                                       "--dynamic-length", "--with-mask"])
    assert run_export(args, log=lines.append) == 0
    return path, lines
