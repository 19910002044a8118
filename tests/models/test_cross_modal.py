"""BMHCMA against an independent re-computation of the seed's formulas from its own weights."""

import math
import warnings

import pytest
import torch

from slr_fused.models.cross_modal import (ALL_DIRECTIONS, CrossModalAttention, adjust_heads,
                                          direction_name, resolve_directions)

DIMS = {"lh": 42, "rh": 42, "body": 24}
CONFIGS = [dict(num_heads=h) for h in (1, 2, 3, 6)] + [
    dict(mode="unidirectional"), dict(use_gating=False), dict(directions="hands"),
    dict(directions="hands-body"), dict(directions="lh_from_body,body_from_rh", num_heads=2)]


def _inputs(batch=3, length=7, seed=0, masked=True):
    g = torch.Generator().manual_seed(seed)
    x = {m: torch.randn(batch, length, d, generator=g, dtype=torch.float64) for m, d in DIMS.items()}
    mask = torch.zeros(batch, length, dtype=torch.bool)
    if masked:
        mask[0, length - 3:] = True
        mask[-1, 1:] = True  # a sample with a single valid frame
    return x, mask


def _manual_attention(query, key_value, attn, mask, heads):
    """softmax(Q K^T / sqrt(d_h)) V per head, then the output projection; written from scratch."""
    d = query.shape[-1]
    w, b = attn.in_proj_weight, attn.in_proj_bias
    q = query @ w[:d].T + b[:d]
    k = key_value @ w[d:2 * d].T + b[d:2 * d]
    v = key_value @ w[2 * d:].T + b[2 * d:]
    batch, length, _ = q.shape
    dh = d // heads

    def split(t):
        return t.reshape(batch, -1, heads, dh).transpose(1, 2)

    scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(dh)
    scores = scores.masked_fill(mask[:, None, None, :], float("-inf"))
    probs = scores.softmax(-1)
    out = (probs @ split(v)).transpose(1, 2).reshape(batch, length, d)
    return out @ attn.out_proj.weight.T + attn.out_proj.bias, probs.mean(1)


def _manual_block(block, x, mask):
    messages, maps = {}, {}
    for target, source in block.directions:
        name = direction_name(target, source)
        proj = block.projections[name]
        projected = x[source] @ proj.weight.T + proj.bias
        messages[name], maps[name] = _manual_attention(x[target], projected, block.attentions[name],
                                                       mask, block.num_heads)
    outputs = {}
    for m in ("lh", "rh", "body"):
        sources = [s for t, s in block.directions if t == m]
        if not sources:
            outputs[m] = x[m]
            continue
        received = [messages[direction_name(m, s)] for s in sources]
        total = sum(received)
        if block.use_gating:
            gate_layer = block.gates[m]
            gate = torch.sigmoid(torch.cat([x[m], *received], -1) @ gate_layer.weight.T + gate_layer.bias)
            total = gate * total
        h = x[m] + total
        ln = block.norms[m]
        mean, var = h.mean(-1, keepdim=True), h.var(-1, unbiased=False, keepdim=True)
        outputs[m] = (h - mean) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias
    return outputs, maps


def _randomise(block, seed=1):
    """Non-trivial weights everywhere (LayerNorm and biases too), so no term can hide."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
    return block


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("masked", [False, True])
def test_matches_the_seed_formulas(config, masked):
    block = _randomise(CrossModalAttention(**config).double().eval())
    x, mask = _inputs(masked=masked)
    (lh, rh, body), extras = block(x["lh"], x["rh"], x["body"], key_padding_mask=mask, return_extras=True)
    expected, maps = _manual_block(block, x, mask)
    for name, got in zip(("lh", "rh", "body"), (lh, rh, body)):
        torch.testing.assert_close(got, expected[name], rtol=1e-10, atol=1e-10)
    for name in ("lh_from_rh", "rh_from_lh"):
        if name in maps:
            torch.testing.assert_close(extras.attention[name], maps[name], rtol=1e-10, atol=1e-10)
        else:
            assert name not in extras.attention


def test_directions_of_each_mode():
    assert resolve_directions() == ALL_DIRECTIONS
    # the seed's "only hands->body": the hands attend to the body (its arrows read "who -> whom")
    assert resolve_directions("unidirectional") == (("lh", "body"), ("rh", "body"))
    assert resolve_directions(directions="hands") == (("lh", "rh"), ("rh", "lh"))
    assert set(resolve_directions(directions="hands-body")) == {
        ("lh", "body"), ("rh", "body"), ("body", "lh"), ("body", "rh")}
    # spelling order does not change the canonical order
    assert resolve_directions(directions="body_from_rh,lh_from_rh") == (("lh", "rh"), ("body", "rh"))
    with pytest.raises(ValueError, match="unknown cross-attention directions"):
        resolve_directions(directions="lh_from_lh")
    with pytest.raises(ValueError, match="mode"):
        resolve_directions("sideways")


def test_unidirectional_hands_attend_to_the_body_which_passes_through():
    block = CrossModalAttention(mode="unidirectional").double()
    x, mask = _inputs()
    lh, rh, body = block(x["lh"], x["rh"], x["body"], key_padding_mask=mask)
    assert body is x["body"]
    assert not torch.allclose(lh, x["lh"]) and not torch.allclose(rh, x["rh"])
    assert set(block.projections) == {"lh_from_body", "rh_from_body"}
    assert set(block.gates) == {"lh", "rh"} and block.gates["lh"].in_features == 2 * 42
    # 2 x (Linear(24, 42) + MHA(42) + gate Linear(84, 42) + LayerNorm(42)), as `slr info --model` says
    assert sum(p.numel() for p in block.parameters()) == 23856


def test_body_from_hands_stays_reachable_as_a_direction_list():
    block = CrossModalAttention(directions="body_from_lh,body_from_rh").double()
    x, mask = _inputs()
    lh, rh, body = block(x["lh"], x["rh"], x["body"], key_padding_mask=mask)
    assert lh is x["lh"] and rh is x["rh"] and not torch.allclose(body, x["body"])
    assert set(block.gates) == {"body"} and block.gates["body"].in_features == 3 * 24
    with pytest.raises(ValueError, match="body_from_lh,body_from_rh"):
        CrossModalAttention(mode="unidirectional", directions="hands")


def test_gate_width_follows_the_number_of_sources():
    block = CrossModalAttention(directions="hands-body")
    assert block.gates["lh"].in_features == 2 * 42 and block.gates["body"].in_features == 3 * 24
    assert "lh" not in CrossModalAttention(use_gating=False).gates


@pytest.mark.parametrize("requested, actual", [(4, 3), (5, 3), (8, 6), (12, 6)])
def test_head_adjustment_warns_like_the_seed(requested, actual):
    with pytest.warns(UserWarning, match=f"Adjusted cross-attention heads from {requested} to {actual}"):
        block = CrossModalAttention(num_heads=requested)
    assert block.num_heads == actual


@pytest.mark.parametrize("heads", [1, 2, 3, 6])
def test_valid_heads_do_not_warn(heads):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert adjust_heads(heads) == heads


@pytest.mark.parametrize("bad", [0, -2, 2.5, "3", True])
def test_invalid_heads_are_rejected(bad):
    with pytest.raises(ValueError, match="positive integer"):
        CrossModalAttention(num_heads=bad)


@pytest.mark.parametrize("config", CONFIGS[:4] + CONFIGS[5:6])
def test_padded_frames_do_not_change_valid_outputs(config):
    block = _randomise(CrossModalAttention(**config).double().eval())
    x, mask = _inputs()
    out = block(x["lh"], x["rh"], x["body"], key_padding_mask=mask)
    junk = {m: torch.where(mask[..., None], torch.randn_like(v) * 100, v) for m, v in x.items()}
    out2 = block(junk["lh"], junk["rh"], junk["body"], key_padding_mask=mask)
    for a, b in zip(out, out2):
        torch.testing.assert_close(a[~mask], b[~mask], rtol=1e-10, atol=1e-10)


def test_attention_maps_are_distributions_over_valid_keys():
    block = CrossModalAttention().double()
    x, mask = _inputs()
    _, extras = block(x["lh"], x["rh"], x["body"], key_padding_mask=mask, return_extras=True)
    for a in extras.attention.values():
        torch.testing.assert_close(a.sum(-1), torch.ones_like(a.sum(-1)))
        assert torch.all(a.masked_select(mask[:, None, :].expand_as(a)) == 0)


def test_alignment_pairs_share_a_space():
    block = CrossModalAttention()
    x, _ = _inputs()
    x = {k: v.float() for k, v in x.items()}
    _, extras = block(x["lh"], x["rh"], x["body"], return_extras=True)
    names = [name for name, *_ in extras.alignment]
    assert names == ["lh-rh", "lh-body", "rh-body"]
    for _, a, b in extras.alignment:
        assert a.shape == b.shape
    # the body is brought to the hand's space by the block's own lh <- body projection
    proj = block.projections["lh_from_body"]
    torch.testing.assert_close(extras.alignment[1][2], proj(x["body"]))
    uni = CrossModalAttention(mode="unidirectional")
    _, extras = uni(x["lh"], x["rh"], x["body"], return_extras=True)
    torch.testing.assert_close(extras.alignment[1][2], uni.projections["lh_from_body"](x["body"]))
    body_only = CrossModalAttention(directions="body_from_lh,body_from_rh")
    _, extras = body_only(x["lh"], x["rh"], x["body"], return_extras=True)
    torch.testing.assert_close(extras.alignment[1][1], body_only.projections["body_from_lh"](x["lh"]))
    _, extras = CrossModalAttention(directions="hands")(x["lh"], x["rh"], x["body"], return_extras=True)
    assert [n for n, *_ in extras.alignment] == ["lh-rh"]


def test_every_parameter_receives_a_gradient():
    block = CrossModalAttention()
    x, mask = _inputs()
    x = {k: v.float() for k, v in x.items()}
    out = block(x["lh"], x["rh"], x["body"], key_padding_mask=mask)
    sum((o * torch.randn_like(o)).sum() for o in out).backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("case, error, message", [
    ("wrong_width", ValueError, r"body must have shape \(B, T, 24\)"),
    ("two_dims", ValueError, "lh must have shape"),
    ("batch_mismatch", ValueError, "batch and length must agree"),
    ("empty", ValueError, "T = 0"),
    ("int", TypeError, "floating point"),
    ("dtype_mix", ValueError, "share dtype"),
    ("mask_dtype", ValueError, "key_padding_mask must be bool"),
    ("all_padding", ValueError, "entirely padding"),
    ("not_tensor", TypeError, "must be a tensor"),
])
def test_bad_inputs_get_one_clear_error(case, error, message):
    block = CrossModalAttention()
    lh, rh, body = torch.randn(2, 5, 42), torch.randn(2, 5, 42), torch.randn(2, 5, 24)
    mask = None
    if case == "wrong_width":
        body = torch.randn(2, 5, 25)
    elif case == "two_dims":
        lh = torch.randn(5, 42)
    elif case == "batch_mismatch":
        rh = torch.randn(3, 5, 42)
    elif case == "empty":
        lh, rh, body = lh[:, :0], rh[:, :0], body[:, :0]
    elif case == "int":
        lh = lh.long()
    elif case == "dtype_mix":
        rh = rh.double()
    elif case == "mask_dtype":
        mask = torch.zeros(2, 5)
    elif case == "all_padding":
        mask = torch.zeros(2, 5, dtype=torch.bool)
        mask[1] = True
    elif case == "not_tensor":
        lh = lh.tolist()
    with pytest.raises(error, match=message):
        block(lh, rh, body, key_padding_mask=mask)


def test_unknown_backend_is_rejected():
    block = CrossModalAttention(backend="cuda-magic")
    with pytest.raises(ValueError, match="unknown cross-attention backend"):
        block(torch.randn(1, 2, 42), torch.randn(1, 2, 42), torch.randn(1, 2, 24))


def test_dropout_acts_on_the_attention_probabilities_in_training_only():
    """The seed's `dropout | 0.1 | Dropout rate in attention`: nn.MultiheadAttention semantics."""
    torch.manual_seed(0)
    block = CrossModalAttention(num_heads=1, dropout=0.5).double()
    assert all(att.dropout == 0.5 for att in block.attentions.values())
    x, mask = _inputs()
    torch.manual_seed(1)
    _, trained = block.train()(x["lh"], x["rh"], x["body"], mask, return_extras=True)
    _, evaluated = block.eval()(x["lh"], x["rh"], x["body"], mask, return_extras=True)
    dropped, full = trained.attention["lh_from_rh"], evaluated.attention["lh_from_rh"]
    kept = dropped != 0
    assert kept.any() and ((full > 0) & ~kept).any()           # some probabilities were dropped
    torch.testing.assert_close(dropped[kept], full[kept] / 0.5)  # the rest rescaled by 1/(1-p)
    # eval: exactly the block without dropout
    plain = CrossModalAttention(num_heads=1, dropout=0.0).double().eval()
    plain.load_state_dict(block.state_dict())
    for a, b in zip(block(x["lh"], x["rh"], x["body"], mask), plain(x["lh"], x["rh"], x["body"], mask)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("dropout", [-0.1, 1.0, True])
def test_bad_dropout_is_one_clear_error(dropout):
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        CrossModalAttention(dropout=dropout)


def test_auto_falls_back_to_the_reference_once_while_dropout_trains(monkeypatch):
    """Where the fused kernels have no dropout (the switch off): auto warns once and keeps the
    reference; triton refuses with one line; eval or dropout 0 are untouched by this."""
    import types

    from slr_fused.models import cross_modal
    monkeypatch.setattr(cross_modal, "fused_kernels_have_dropout", lambda: False)
    monkeypatch.setattr(cross_modal, "triton_available", lambda: True)
    monkeypatch.setattr(cross_modal, "_DROPOUT_FALLBACK_WARNED", False)
    cuda_like = types.SimpleNamespace(is_cuda=True, dtype=torch.float32)
    block = CrossModalAttention(dropout=0.1).train()
    with pytest.warns(UserWarning, match="--cross_attn_dropout 0") as caught:
        assert cross_modal.resolve_backend("auto", cuda_like, block) == "reference"
        assert cross_modal.resolve_backend("auto", cuda_like, block) == "reference"
    assert len(caught) == 1
    with pytest.raises(ValueError, match="no attention dropout .*--cross_attn_dropout 0"):
        cross_modal.resolve_backend("triton", cuda_like, block)
    assert cross_modal.resolve_backend("triton", cuda_like, block.eval()) == "triton"
    assert cross_modal.resolve_backend("triton", cuda_like, CrossModalAttention().train()) == "triton"


def test_training_with_dropout_uses_the_fused_kernels(monkeypatch):
    """The kernels implement attention dropout: auto and triton keep them while training."""
    import types
    import warnings

    from slr_fused.kernels import self_check
    from slr_fused.models import cross_modal
    assert cross_modal.fused_kernels_have_dropout()
    monkeypatch.setattr(cross_modal, "triton_available", lambda: True)
    monkeypatch.setattr(self_check, "fused_kernels_verified", lambda module, example: True)
    cuda_like = types.SimpleNamespace(is_cuda=True, dtype=torch.float32)
    block = CrossModalAttention(dropout=0.1).train()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cross_modal.resolve_backend("auto", cuda_like, block) == "triton"
        assert cross_modal.resolve_backend("triton", cuda_like, block) == "triton"
