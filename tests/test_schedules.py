"""Learning-rate schedules: the warm-up + cosine shape and a checkpointable scheduler state."""

import io
import math

import pytest
import torch

from slr_fused.schedules import build_scheduler, warmup_cosine_factor


def test_warmup_rises_linearly_then_the_cosine_falls_to_near_zero():
    factors = [warmup_cosine_factor(e, 20, warmup_epochs=4) for e in range(20)]
    assert factors[:4] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert factors[4] == 1.0
    assert all(a > b for a, b in zip(factors[4:], factors[5:]))
    assert 0 < factors[-1] < 0.02                       # the last epoch still learns a little
    assert factors[4 + 8] == pytest.approx(0.5 * (1 + math.cos(math.pi * 8 / 16)))


def _optimizer(lr=1e-3):
    return torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=lr)


def test_cosine_scheduler_follows_the_factor_and_its_state_loads_safely():
    optimizer = _optimizer()
    scheduler = build_scheduler(optimizer, "cosine", 10, [6, 8], 0.1, warmup_epochs=2)
    seen = []
    for _ in range(5):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([1e-3 * warmup_cosine_factor(e, 10, 2) for e in range(5)])
    buffer = io.BytesIO()
    torch.save(scheduler.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    other_optimizer = _optimizer()
    other = build_scheduler(other_optimizer, "cosine", 10, [6, 8], 0.1, warmup_epochs=2)
    other_optimizer.load_state_dict(optimizer.state_dict())
    other.load_state_dict(state)
    other_optimizer.step()
    other.step()
    optimizer.step()
    scheduler.step()
    assert other_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]


def test_multistep_is_the_seeds_and_refuses_a_warmup():
    optimizer = _optimizer()
    scheduler = build_scheduler(optimizer, "multistep", 10, [2], 0.1)
    assert isinstance(scheduler, torch.optim.lr_scheduler.MultiStepLR)
    with pytest.raises(ValueError, match="warmup_epochs"):
        build_scheduler(_optimizer(), "multistep", 10, [2], 0.1, warmup_epochs=1)
    with pytest.raises(ValueError, match="lr_schedule"):
        build_scheduler(_optimizer(), "linear", 10, [2], 0.1)
