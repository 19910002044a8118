import math

import pytest
import torch

from slr_fused.losses import (AdaptiveSchedule, CMCLLoss, attention_consistency, feature_alignment,
                              masked_mean)
from slr_fused.models.cross_modal import CrossModalAttention
from slr_fused.models.siformer import SiFormer, SiFormerConfig

A1 = [[0.8, 0.2], [0.3, 0.7]]  # lh <- rh
A2 = [[0.6, 0.4], [0.1, 0.9]]  # rh <- lh


def _kl_by_hand(p_rows, q_rows):
    return sum(sum(p * math.log(p / q) for p, q in zip(pr, qr)) for pr, qr in zip(p_rows, q_rows)) / len(p_rows)


def _soften(rows, tau):
    out = []
    for row in rows:
        powered = [v ** (1 / tau) for v in row]
        out.append([v / sum(powered) for v in powered])
    return out


def test_consistency_on_a_hand_computed_case():
    got = attention_consistency(torch.tensor([A1], dtype=torch.float64), torch.tensor([A2], dtype=torch.float64))
    # (A2)^T = [[0.6, 0.1], [0.4, 0.9]], rows renormalised after the transpose
    expected = _kl_by_hand(A1, [[6 / 7, 1 / 7], [4 / 13, 9 / 13]])
    assert got.item() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("tau", [0.5, 2.0])
def test_temperature_softens_both_maps(tau):
    got = attention_consistency(torch.tensor([A1], dtype=torch.float64), torch.tensor([A2], dtype=torch.float64),
                                temperature=tau)
    transposed = [[A2[0][0], A2[1][0]], [A2[0][1], A2[1][1]]]
    expected = _kl_by_hand(_soften(A1, tau), _soften(transposed, tau))
    assert got.item() == pytest.approx(expected, rel=1e-9)


def test_padded_rows_and_columns_are_excluded():
    a1 = torch.tensor([[[0.8, 0.2, 0.0], [0.3, 0.7, 0.0], [0.1, 0.2, 0.7]]], dtype=torch.float64)
    a2 = torch.tensor([[[0.6, 0.4, 0.0], [0.1, 0.9, 0.0], [0.5, 0.25, 0.25]]], dtype=torch.float64)
    mask = torch.tensor([[False, False, True]])
    got = attention_consistency(a1, a2, mask)
    expected = attention_consistency(torch.tensor([A1], dtype=torch.float64), torch.tensor([A2], dtype=torch.float64))
    assert got.item() == pytest.approx(expected.item(), rel=1e-9)


def test_consistent_maps_give_zero_and_inconsistent_maps_do_not():
    a = torch.softmax(torch.randn(2, 5, 5), -1)
    # the transpose of a row-stochastic matrix, renormalised, is consistent with itself only
    # when the map is symmetric: build one
    sym = torch.softmax(torch.randn(2, 5, 5), -1)
    sym = (sym + sym.transpose(1, 2)) / 2
    sym = sym / sym.sum(-1, keepdim=True)
    assert attention_consistency(sym, sym.transpose(1, 2)).item() == pytest.approx(0.0, abs=1e-6)
    assert attention_consistency(a, torch.softmax(torch.randn(2, 5, 5), -1)).item() > 1e-3


@pytest.mark.parametrize("tau", [1e-4, 1e-2, 1.0, 1e4])
def test_no_nan_at_extremes(tau):
    a1 = torch.zeros(2, 4, 4)
    a1[..., 0] = 1.0                                 # one-hot rows (zeros elsewhere)
    a2 = torch.softmax(torch.randn(2, 4, 4) * 50, -1)  # nearly one-hot, underflowing entries
    a1.requires_grad_(True)
    a2.requires_grad_(True)
    mask = torch.tensor([[False, False, True, True], [False, True, True, True]])
    loss = attention_consistency(a1, a2, mask, temperature=tau)
    loss.backward()
    assert torch.isfinite(loss) and loss >= 0
    assert torch.isfinite(a1.grad).all() and torch.isfinite(a2.grad).all()


def test_invalid_temperature():
    with pytest.raises(ValueError, match="temperature"):
        attention_consistency(torch.ones(1, 2, 2) / 2, torch.ones(1, 2, 2) / 2, temperature=0.0)


def test_alignment_on_hand_computed_cases():
    a = torch.tensor([[[1.0, 0.0], [3.0, 0.0]]])
    b = torch.tensor([[[0.0, 2.0], [0.0, 2.0]]])
    assert feature_alignment([("x", a, a)]).item() == pytest.approx(-1.0)
    assert feature_alignment([("x", a, b)]).item() == pytest.approx(0.0, abs=1e-7)
    assert feature_alignment([("x", a, a), ("y", a, b)]).item() == pytest.approx(-0.5)
    # pooling ignores padded frames: only the first frame counts
    c = torch.tensor([[[1.0, 1.0], [-50.0, 3.0]]])
    mask = torch.tensor([[False, True]])
    assert feature_alignment([("x", a, c)], mask).item() == pytest.approx(-1 / math.sqrt(2), rel=1e-6)
    torch.testing.assert_close(masked_mean(c, ~mask), torch.tensor([[1.0, 1.0]]))


def test_alignment_of_zero_features_is_finite():
    z = torch.zeros(2, 3, 4, requires_grad=True)
    loss = feature_alignment([("x", z, z)])
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()


def test_schedule_warms_up_linearly_then_decays():
    s = AdaptiveSchedule(warmup_epochs=10, decay_rate=0.1)
    assert s.factor(0) == 0.0
    assert s.factor(5) == pytest.approx(0.5)
    assert s.factor(10) == pytest.approx(1.0)
    assert s.factor(20) == pytest.approx(math.exp(-1.0))
    loss = CMCLLoss(0.1, 0.05, schedule=s)
    assert loss.weights(5) == pytest.approx((0.05, 0.025))
    assert CMCLLoss(0.1, 0.05).weights(37) == (0.1, 0.05)


def test_total_is_ce_plus_weighted_terms_and_reaches_attention_parameters():
    torch.manual_seed(0)
    block = CrossModalAttention()
    x = [torch.randn(2, 6, d) for d in (42, 42, 24)]
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[1, 4:] = True
    _, extras = block(*x, key_padding_mask=mask, return_extras=True)
    logits = torch.randn(2, 5, requires_grad=True)
    labels = torch.tensor([1, 3])
    total, parts = CMCLLoss(0.1, 0.05)(logits, labels, extras, mask)
    ce = torch.nn.functional.cross_entropy(logits, labels)
    assert total.item() == pytest.approx(ce.item() + 0.1 * parts["consistency"] + 0.05 * parts["alignment"], rel=1e-6)
    # the consistency term alone drives the two hand attentions
    consistency = attention_consistency(extras.attention["lh_from_rh"], extras.attention["rh_from_lh"], mask)
    consistency.backward()
    for name in ("lh_from_rh", "rh_from_lh"):
        grad = block.attentions[name].in_proj_weight.grad
        assert grad is not None and grad.abs().sum() > 0
    assert block.attentions["body_from_lh"].in_proj_weight.grad is None


def test_model_with_missing_hands_and_padding_gives_finite_loss_and_gradients():
    torch.manual_seed(0)
    model = SiFormer(SiFormerConfig(num_classes=4, d_ff=32, num_enc_layers=1, num_dec_layers=1))
    lh = torch.zeros(3, 9, 21, 2)               # the left hand never detected
    rh = torch.randn(3, 9, 21, 2)
    rh[:, 2:5] = 0                               # right hand missing for a while
    body = torch.randn(3, 9, 12, 2)
    mask = torch.zeros(3, 9, dtype=torch.bool)
    mask[1, 3:] = True
    mask[2, 1:] = True
    logits, extras = model(lh, rh, body, mask, return_extras=True)
    for tau in (1e-3, 1.0, 1e3):
        total, _ = CMCLLoss(temperature=tau)(logits, torch.tensor([0, 1, 2]), extras, mask)
        assert torch.isfinite(total)
    total.backward()
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), name
