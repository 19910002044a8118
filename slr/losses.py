"""CMCL: cross-modal consistency loss, and its adaptive weight schedule.

    L = CE + w_c * L_consistency + w_a * L_alignment

L_consistency = KL(A_lh<-rh || (A_rh<-lh)^T): where the left hand looks in the right hand's
sequence should agree with where the right hand looks in the left hand's, read backwards. Both
maps are head-averaged probabilities (B, T, T); each is softened by the temperature tau
(p^(1/tau), renormalised over the valid keys of its row), the second after transposing, so its
rows are renormalised after the transpose. Rows of padded query frames and columns of padded key
frames are excluded; the KL is averaged over valid rows.

L_alignment = -mean over feature pairs of the cosine similarity of their per-sample means over
valid frames. The pairs come from the block (CrossModalExtras.alignment): the two hands (both
42-d encodings) and each hand with the body, the body brought into the hand's space by the
block's own projection lh<-body / rh<-body (or the hand into the body's space by body<-hand
when only body <- hand directions are enabled), so alignment is measured in the space the
attention itself uses.
"""

import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F

PROBABILITY_FLOOR = 1e-12  # log of an attention probability that underflowed to 0


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """Loss arithmetic in fp32 for half inputs, without degrading float64 ones."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _masked_log_softmax(scores: torch.Tensor, key_valid: torch.Tensor) -> torch.Tensor:
    scores = scores.masked_fill(~key_valid, float("-inf"))
    return torch.log_softmax(scores, dim=-1)


def attention_consistency(a_lh_from_rh: torch.Tensor, a_rh_from_lh: torch.Tensor,
                          padding_mask: Optional[torch.Tensor] = None,
                          temperature: float = 1.0, reduction: str = "mean") -> torch.Tensor:
    """KL(soft(A_lh<-rh) || soft(A_rh<-lh^T)): per sample the mean over its valid query rows,
    then the mean over samples (``reduction="none"`` keeps the (B,) per-sample values)."""
    if temperature <= 0 or not math.isfinite(temperature):
        raise ValueError(f"cmcl temperature must be positive and finite, got {temperature}")
    if a_lh_from_rh.shape != a_rh_from_lh.shape or a_lh_from_rh.dim() != 3:
        raise ValueError(f"attention maps must both be (B, T, T), got {tuple(a_lh_from_rh.shape)} "
                         f"and {tuple(a_rh_from_lh.shape)}")
    batch, length, _ = a_lh_from_rh.shape
    p_maps = at_least_float32(a_lh_from_rh)
    q_maps = at_least_float32(a_rh_from_lh).transpose(1, 2)
    if padding_mask is None:
        padding_mask = torch.zeros(batch, length, dtype=torch.bool, device=p_maps.device)
    valid = ~padding_mask
    key_valid = valid[:, None, :].expand(batch, length, length)
    log_p = _masked_log_softmax(p_maps.clamp_min(PROBABILITY_FLOOR).log() / temperature, key_valid)
    log_q = _masked_log_softmax(q_maps.clamp_min(PROBABILITY_FLOOR).log() / temperature, key_valid)
    # Zero the masked entries (-inf) before any arithmetic: (-inf) - (-inf) would be NaN, and a
    # NaN in the branch torch.where discards still poisons the gradient.
    zero = torch.zeros_like(log_p)
    log_p = torch.where(key_valid, log_p, zero)
    log_q = torch.where(key_valid, log_q, zero)
    p = torch.where(key_valid, log_p.exp(), zero)
    per_key = p * (log_p - log_q)
    per_row = per_key.sum(-1)                                      # (B, T)
    rows = valid.to(per_row.dtype)
    per_sample = (per_row * rows).sum(-1) / rows.sum(-1).clamp_min(1.0)
    return per_sample if reduction == "none" else per_sample.mean()


def masked_mean(features: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """Mean over frames where ``frame_mask`` is True: (B, T, D), (B, T) -> (B, D)."""
    weights = frame_mask.to(features.dtype)[..., None]
    return (features * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def feature_alignment(pairs, padding_mask: Optional[torch.Tensor] = None,
                      eps: float = 1e-6, reduction: str = "mean") -> torch.Tensor:
    """-mean cosine similarity of the pooled feature pairs (in [-1, 1]; lower is better aligned).

    ``reduction="none"`` keeps the (B,) per-sample values."""
    if not pairs:
        raise ValueError("feature alignment needs at least one feature pair")
    sims = []
    for _, a, b in pairs:
        valid = (~padding_mask if padding_mask is not None
                 else torch.ones(a.shape[:2], dtype=torch.bool, device=a.device))
        sims.append(F.cosine_similarity(masked_mean(at_least_float32(a), valid),
                                        masked_mean(at_least_float32(b), valid),
                                        dim=-1, eps=eps))
    per_sample = -torch.stack(sims).mean(0)
    return per_sample if reduction == "none" else per_sample.mean()


@dataclass
class AdaptiveSchedule:
    """CMCL weight factor per epoch: linear rise from 0 over ``warmup_epochs``, then exp decay."""

    warmup_epochs: int = 10
    decay_rate: float = 0.05

    def factor(self, epoch: int) -> float:
        if epoch < 0:
            raise ValueError("epoch must be non-negative")
        if self.warmup_epochs > 0 and epoch < self.warmup_epochs:
            return epoch / self.warmup_epochs
        return math.exp(-self.decay_rate * (epoch - self.warmup_epochs))


class CMCLLoss(torch.nn.Module):
    """CE + w_c * consistency + w_a * alignment, with optional adaptive weights.

    Args:
        lambda_consistency, lambda_alignment: the base weights (0.1 and 0.05).
        temperature: softening of the attention maps in the consistency term.
        schedule: an AdaptiveSchedule, or None for constant weights.
    """

    def __init__(self, lambda_consistency: float = 0.1, lambda_alignment: float = 0.05,
                 temperature: float = 1.0, schedule: Optional[AdaptiveSchedule] = None,
                 label_smoothing: float = 0.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"cmcl temperature must be positive, got {temperature}")
        self.lambda_consistency = lambda_consistency
        self.lambda_alignment = lambda_alignment
        self.temperature = temperature
        self.schedule = schedule
        self.label_smoothing = label_smoothing

    def weights(self, epoch: int = 0) -> Tuple[float, float]:
        factor = self.schedule.factor(epoch) if self.schedule is not None else 1.0
        return self.lambda_consistency * factor, self.lambda_alignment * factor

    def per_sample(self, logits, labels, extras=None, padding_mask=None,
                   epoch: int = 0) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Per-sample (B,) total loss and its (B,) parts.

        Per-sample values let data-parallel training sum over its shards and divide by the
        global batch, which reproduces a single-process step exactly.
        """
        ce = F.cross_entropy(at_least_float32(logits), labels, reduction="none",
                             label_smoothing=self.label_smoothing)
        w_c, w_a = self.weights(epoch)
        zeros = torch.zeros_like(ce)
        parts = {"ce": ce, "consistency": zeros, "alignment": zeros}
        total = ce
        if extras is not None:
            maps = extras.attention
            if "lh_from_rh" in maps and "rh_from_lh" in maps:
                parts["consistency"] = attention_consistency(
                    maps["lh_from_rh"], maps["rh_from_lh"], padding_mask, self.temperature, "none")
                total = total + w_c * parts["consistency"]
            if extras.alignment:
                parts["alignment"] = feature_alignment(extras.alignment, padding_mask, reduction="none")
                total = total + w_a * parts["alignment"]
        return total, parts

    def forward(self, logits, labels, extras=None, padding_mask=None,
                epoch: int = 0) -> Tuple[torch.Tensor, Dict[str, float]]:
        """Mean total loss over the batch, and its parts (floats) for logging."""
        total, parts = self.per_sample(logits, labels, extras, padding_mask, epoch)
        w_c, w_a = self.weights(epoch)
        logged = {name: float(value.detach().mean()) for name, value in parts.items()}
        logged.update(w_consistency=w_c, w_alignment=w_a)
        return total.mean(), logged
