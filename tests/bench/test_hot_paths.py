"""pytest-benchmark for the hot paths; each test also checks what it timed.

Timed:   python -m pytest tests/bench --benchmark-only
In CI (python3 -m pytest -q) each runs once with timing disabled (see conftest.py).
The reference block is the one the kernel tests import (slr_fused.models.cross_modal).
"""

import pytest
import torch

from slr_fused.bench.common import random_inputs, training_step
from slr_fused.data.csv_format import read_pose_csv
from slr_fused.data.dataset import PoseDataset, collate_poses
from slr_fused.data.synthetic import write_demo_dataset
from slr_fused.losses import CMCLLoss
from slr_fused.models.cross_modal import CrossModalAttention
from slr_fused.models.siformer import SiFormer, SiFormerConfig

BATCH = 24


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory):
    return write_demo_dataset(tmp_path_factory.mktemp("demo"))["train"]


def finite(*tensors):
    return all(bool(torch.isfinite(t).all()) for t in tensors)


def test_load_and_normalise_batch(benchmark, demo_csv):
    """Reading the CSV (parse cache warm after the first call), augmenting, normalising and
    collating one training batch: what the loader does per step."""
    read_pose_csv(demo_csv)                       # parse once; the cache is then what is timed

    def load():
        dataset = PoseDataset(demo_csv, augment=True, gaussian_std=0.001, seed=1)
        return collate_poses([dataset[i] for i in range(BATCH)])

    batch = benchmark(load)
    assert batch["lh"].shape[0] == batch["body"].shape[0] == BATCH
    assert batch["lh"].shape[2:] == (42,) or batch["lh"].shape[2:] == (21, 2)
    assert batch["padding_mask"].shape == batch["lh"].shape[:2]
    assert finite(batch["lh"], batch["rh"], batch["body"])


@pytest.mark.parametrize("length", [30, 204])
def test_block_forward_reference(benchmark, length):
    torch.manual_seed(0)
    block = CrossModalAttention(num_heads=3, backend="reference").eval()
    lh, rh = torch.randn(BATCH, length, 42), torch.randn(BATCH, length, 42)
    body = torch.randn(BATCH, length, 24)

    def run():
        with torch.no_grad():
            return block(lh, rh, body)

    outputs = benchmark(run)
    assert [tuple(o.shape) for o in outputs] == [(BATCH, length, 42), (BATCH, length, 42),
                                                 (BATCH, length, 24)]
    assert finite(*outputs)
    # LayerNorm output with its initial affine parameters: zero mean per frame.
    assert outputs[0].mean(-1).abs().max() < 1e-4


@pytest.mark.parametrize("use_cmcl", [False, True], ids=["ce", "cmcl"])
def test_training_step(benchmark, use_cmcl):
    """One AdamW step of the default-size model at batch 24, T = 30 (reference backend): the
    step `slr bench` times for the training cost (slr_fused.bench.common.training_step)."""
    torch.manual_seed(0)
    model = SiFormer(SiFormerConfig(num_classes=16)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    criterion = CMCLLoss()
    inputs = random_inputs(BATCH, 30, seed=0)
    mask = torch.zeros(BATCH, 30, dtype=torch.bool)
    mask[::2, 25:] = True                                       # half the batch padded
    labels = torch.arange(BATCH) % 16
    before = model.classifier.weight.detach().clone()

    def step():
        return training_step(model, optimizer, criterion, inputs, mask, labels, use_cmcl)

    loss, parts = benchmark.pedantic(step, rounds=5, warmup_rounds=1) \
        if benchmark.enabled else benchmark(step)
    assert torch.isfinite(loss)
    assert not torch.equal(before, model.classifier.weight)
    assert bool((parts["consistency"] != 0).any()) == use_cmcl
