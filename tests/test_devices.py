"""--device resolution, the one definition training, evaluation, export and bench use."""

import pytest
import torch

from slr_fused.devices import batch_to, pick_device, resolve_device


class _CallerError(ValueError):
    pass


def test_auto_is_the_gpu_when_there_is_one():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu") == pick_device("cpu")


@pytest.mark.parametrize("name, message", [
    ("gpu0", r"--device gpu0: not a device \(auto, cpu, cuda or cuda:N\)"),
    ("meta", r"--device meta: only cpu and cuda devices are supported"),
])
def test_bad_devices_are_one_line_in_the_callers_error_type(name, message):
    with pytest.raises(_CallerError, match=message):
        resolve_device(name, _CallerError)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_says_why_the_caller_needs_it():
    with pytest.raises(_CallerError, match=r"^--device cuda:1: CUDA is not available here; because$"):
        resolve_device("cuda:1", _CallerError, "; because")


def test_batch_to_moves_every_tensor():
    batch = {"lh": torch.zeros(2, 3), "label": torch.tensor([1, 0])}
    moved = batch_to(batch, torch.device("cpu"))
    assert set(moved) == set(batch) and all(v.device.type == "cpu" for v in moved.values())
