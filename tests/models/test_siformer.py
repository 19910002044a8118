import warnings

import pytest
import torch

from slr_fused.models.siformer import SiFormer, SiFormerConfig, count_parameters, describe_model

SMALL = dict(num_classes=5, d_ff=32, num_enc_layers=1, num_dec_layers=1)


def _batch(batch=3, length=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    lh = torch.randn(batch, length, 21, 2, generator=g)
    rh = torch.randn(batch, length, 21, 2, generator=g)
    body = torch.randn(batch, length, 12, 2, generator=g)
    mask = torch.zeros(batch, length, dtype=torch.bool)
    mask[1, 5:] = True
    mask[2, 2:] = True
    return lh, rh, body, mask


@pytest.mark.parametrize("overrides", [dict(use_cross_attention=False), dict(),
                                       dict(cross_attn_mode="unidirectional"), dict(use_gating=False)])
def test_logits_shape_and_flat_inputs(overrides):
    model = SiFormer(SiFormerConfig(**SMALL, **overrides)).eval()
    lh, rh, body, mask = _batch()
    logits = model(lh, rh, body, mask)
    assert logits.shape == (3, 5) and torch.isfinite(logits).all()
    flat = model(lh.flatten(2), rh.flatten(2), body.flatten(2), mask)
    torch.testing.assert_close(logits, flat)


@pytest.mark.parametrize("cross", [False, True])
def test_padding_does_not_change_predictions(cross):
    """A sample's logits are the same alone, padded in a batch, and with junk in its padding."""
    torch.manual_seed(0)
    model = SiFormer(SiFormerConfig(**SMALL, use_cross_attention=cross)).double().eval()
    lh, rh, body, mask = (t.double() if t.is_floating_point() else t for t in _batch())
    full = model(lh, rh, body, mask)
    alone = model(lh[2:, :2], rh[2:, :2], body[2:, :2])
    torch.testing.assert_close(full[2:], alone, rtol=1e-9, atol=1e-9)
    junk = [torch.where(mask[..., None, None], torch.randn_like(t) * 50, t) for t in (lh, rh, body)]
    torch.testing.assert_close(model(*junk, mask), full, rtol=1e-9, atol=1e-9)


def test_bmhcma_parameter_count_matches_the_formula():
    """Six Linear(d_j, d_i) + six MHA(d_i) + three gates Linear(3 d_i, d_i) + three LayerNorms."""
    d = {"lh": 42, "rh": 42, "body": 24}
    pairs = [("lh", "rh"), ("lh", "body"), ("rh", "lh"), ("rh", "body"), ("body", "lh"), ("body", "rh")]
    expected = sum(d[s] * d[t] + d[t] + 4 * d[t] * d[t] + 4 * d[t] for t, s in pairs)
    expected += sum(3 * d[m] * d[m] + d[m] + 2 * d[m] for m in d)
    assert expected == 54108
    for heads in (1, 2, 3, 6):
        model = SiFormer(SiFormerConfig(num_classes=100, cross_attn_heads=heads))
        baseline = SiFormer(SiFormerConfig(num_classes=100, use_cross_attention=False))
        assert count_parameters(model.cross_modal) == expected
        assert count_parameters(model) - count_parameters(baseline) == expected


def test_describe_model_prints_the_seed_lines():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = describe_model(SiFormerConfig(num_classes=3, cross_attn_heads=4))
    assert text.splitlines()[:4] == [  # the BMHCMA seed's "Expected Console Output"
        "Feature isolated transformer",
        "Initializing Bi-directional Cross-Modal Attention with 4 heads (requested)",
        "Using Bi-directional Cross-Modal Attention with 3 heads (actual)",
        "num_enc_layers 3, num_dec_layers 2, patient 1, cross_attn True"]
    assert "attention dropout: 0.1" in text
    uni = describe_model(SiFormerConfig(num_classes=3, cross_attn_mode="unidirectional"))
    assert "Using Uni-directional Cross-Modal Attention with 3 heads (actual)" in uni
    assert "directions: lh<-body rh<-body," in uni
    baseline = describe_model(SiFormerConfig(num_classes=3, use_cross_attention=False, num_enc_layers=2))
    assert "baseline" in baseline
    assert baseline.splitlines()[-1] == "num_enc_layers 2, num_dec_layers 2, patient 1, cross_attn False"


@pytest.mark.parametrize("case, message", [
    ("hand_width", r"lh must be \(B, T, 42\)"),
    ("lengths", "same batch size and length"),
    ("too_long", "exceed the model's max_frames"),
    ("mask", "padding_mask must be bool"),
    ("empty", "T = 0"),
])
def test_bad_inputs(case, message):
    model = SiFormer(SiFormerConfig(**SMALL, max_frames=8))
    lh, rh, body, mask = _batch()
    if case == "hand_width":
        lh = torch.randn(3, 8, 20, 2)
    elif case == "lengths":
        body = body[:, :7]
    elif case == "too_long":
        lh, rh, body = (torch.cat([t, t], 1) for t in (lh, rh, body))
        mask = None
    elif case == "mask":
        mask = mask.float()
    elif case == "empty":
        lh, rh, body, mask = lh[:, :0], rh[:, :0], body[:, :0], None
    with pytest.raises(ValueError, match=message):
        model(lh, rh, body, mask)


def test_config_round_trip_and_unknown_keys():
    config = SiFormerConfig(num_classes=7, enc_heads=(3, 3, 2), cross_attn_heads=6)
    assert SiFormerConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown model settings"):
        SiFormerConfig.from_dict({"num_classes": 3, "wings": 2})


def test_set_kernel_switches_the_block_and_the_config():
    from slr_fused.models.siformer import SiFormer, SiFormerConfig
    model = SiFormer(SiFormerConfig(num_classes=3, d_ff=16, num_enc_layers=1, num_dec_layers=1))
    assert model.set_kernel("triton") is model
    assert model.config.kernel == model.cross_modal.backend == "triton"
    baseline = SiFormer(SiFormerConfig(num_classes=3, d_ff=16, num_enc_layers=1,
                                       num_dec_layers=1, use_cross_attention=False))
    assert baseline.set_kernel("auto").config.kernel == "auto"
    with pytest.raises(ValueError, match="unknown kernel"):
        model.set_kernel("cuda")


def test_cross_attn_dropout_reaches_the_block_with_the_seeds_default():
    assert SiFormerConfig(num_classes=3).cross_attn_dropout == 0.1
    model = SiFormer(SiFormerConfig(num_classes=3, cross_attn_dropout=0.25, d_ff=8))
    assert model.cross_modal.dropout == 0.25
    assert all(att.dropout == 0.25 for att in model.cross_modal.attentions.values())
    # models saved before the setting existed were built without attention dropout
    legacy = SiFormerConfig(num_classes=3).to_dict()
    del legacy["cross_attn_dropout"]
    assert SiFormerConfig.from_dict(legacy).cross_attn_dropout == 0.0
