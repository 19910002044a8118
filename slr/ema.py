"""Weight averaging: an exponential moving average (EMA) of the weights, for evaluation.

On a small many-signer set the weights of the last epochs wander around a minimum and the test
accuracy jumps between epochs; their running average sits nearer the centre of the minimum and
generalises better. Training steps the raw weights; metrics, ``best.pt`` and ``model.pt`` come
from the averaged copy. The decay is ramped up as (1 + n) / (10 + n) over the first updates so the
average does not keep the random initialisation for hundreds of steps.
"""

import copy
from typing import Any, Dict

import torch


class WeightAverage:
    """EMA of a model's floating-point parameters and buffers (others are copied)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"--ema_decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Fold the model's current weights into the average (after each optimiser step)."""
        self.updates += 1
        decay = self.current_decay()
        for average, current in zip(self.model.state_dict().values(), model.state_dict().values()):
            if average.dtype.is_floating_point:
                average.mul_(decay).add_(current.detach(), alpha=1 - decay)
            else:
                average.copy_(current)

    def state(self) -> Dict[str, Any]:
        """What a checkpoint needs beyond the averaged weights themselves."""
        return {"updates": self.updates, "decay": self.decay}

    def load(self, averaged_weights: Dict[str, torch.Tensor], state: Dict[str, Any]) -> None:
        self.model.load_state_dict(averaged_weights)
        self.updates = int(state["updates"])
