"""Which torch device a command runs on, and moving a batch there: the one definition.

Training, evaluation, prediction, export and the benchmarks all take ``--device auto|cpu|cuda|
cuda:N``. They resolve it here so ``auto`` means the same everywhere (the GPU when there is one)
and a device that is not there is one line naming the flag, raised as the caller's error type.
"""

from typing import Dict, Type

import torch

from .distributed import DistributedContext

DEVICE_HELP = "auto, cpu, cuda or cuda:N"


def resolve_device(name: str = "auto", error: Type[Exception] = ValueError,
                   note: str = "") -> torch.device:
    """``auto`` (the GPU when there is one), ``cpu``, ``cuda`` or ``cuda:N``, checked.

    ``error`` is the exception type the caller reports (ValueError, ExportError, ...); ``note``
    is appended to the "CUDA is not available" message (why this command needs that device).
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise error(f"--device {name}: not a device ({DEVICE_HELP})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise error(f"--device {name}: CUDA is not available here{note}")
    if device.type not in ("cpu", "cuda"):
        raise error(f"--device {name}: only cpu and cuda devices are supported")
    return device


def pick_device(name: str, context: DistributedContext = DistributedContext()) -> torch.device:
    """:func:`resolve_device`, made the current CUDA device (this process's GPU under torchrun)."""
    device = resolve_device(name)
    if device.type == "cuda":
        if context.enabled:
            device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
    return device


def batch_to(batch: Dict[str, torch.Tensor], device: torch.device) -> Dict[str, torch.Tensor]:
    """Every tensor of a collated batch on ``device`` (asynchronous copies from pinned memory)."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
