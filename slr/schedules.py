"""Learning-rate schedules of training, stepped once per epoch.

``multistep`` is the seeds' MultiStepLR (x gamma at the milestones). ``cosine`` warms the rate up
linearly over ``warmup_epochs`` (a transformer trained from scratch on a few hundred clips
diverges or lands in a poor minimum when it starts at full rate) and then follows half a cosine
down to ``min_factor`` of the rate at the last epoch, which decays smoothly instead of in steps.
"""

import math
from typing import List

import torch

LR_SCHEDULES = ("multistep", "cosine")


def warmup_cosine_factor(epoch: int, epochs: int, warmup_epochs: int = 0,
                         min_factor: float = 0.0) -> float:
    """Multiplier of the base rate in (0-based) ``epoch`` of ``epochs``."""
    if epoch < warmup_epochs:
        return (epoch + 1) / (warmup_epochs + 1)
    span = max(1, epochs - warmup_epochs)  # the last epoch keeps a small rate, not 0
    progress = min(1.0, (epoch - warmup_epochs) / span)
    return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, schedule: str, epochs: int,
                    milestones: List[int], gamma: float, warmup_epochs: int = 0,
                    min_factor: float = 0.0):
    """The epoch-stepped scheduler of ``schedule``; its state_dict holds only plain data (the
    cosine's factor is a closure, which LambdaLR leaves out of its state)."""
    if schedule == "multistep":
        if warmup_epochs:
            raise ValueError("--warmup_epochs needs --lr_schedule cosine")
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=gamma)
    if schedule == "cosine":
        def factor(epoch: int) -> float:
            return warmup_cosine_factor(epoch, epochs, warmup_epochs, min_factor)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    raise ValueError(f"--lr_schedule must be one of {LR_SCHEDULES}, got {schedule!r}")
