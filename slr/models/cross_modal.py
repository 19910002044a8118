"""BMHCMA: bi-directional multi-head cross-modal attention (the plain PyTorch reference).

This module is the specification the fused Triton kernels are validated against. For every
enabled ordered pair ``i <- j`` of the modalities {lh, rh, body}:

    P_ij    = Linear(d_j, d_i)(H_j)                                # bring H_j to d_i
    from_ij = MultiheadAttention(d_i, h)(query=H_i, key=P_ij, value=P_ij, key_padding_mask)

and for every modality ``i`` that receives at least one direction (sources S_i):

    gate_i = sigmoid(Linear((1 + |S_i|) d_i, d_i)([H_i | from_ij for j in S_i]))   (gating on)
    out_i  = LayerNorm(H_i + gate_i * sum_j from_ij)                                (gating on)
    out_i  = LayerNorm(H_i + sum_j from_ij)                                         (gating off)

A modality that receives no direction passes through unchanged. In the seed's bidirectional
mode every modality has two sources, so the gate sees ``[H_i | from_j | from_k]`` (3 d_i).

Directions are named ``"<target>_from_<source>"`` (``lh_from_rh`` is "lh <- rh": the left hand
queries the right hand); parameters live in ``ModuleDict``s under those names, so a
``state_dict`` is identical whichever backend runs the block.
"""

import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from ..data.joints import FEATURE_DIMS, MODALITIES

VALID_HEADS = (1, 2, 3, 6)  # the divisors of both 42 and 24

ALL_DIRECTIONS = (
    ("lh", "rh"), ("lh", "body"),
    ("rh", "lh"), ("rh", "body"),
    ("body", "lh"), ("body", "rh"),
)

# Named direction subsets of the seed's ablations. Each entry is a tuple of (target, source).
DIRECTION_PRESETS = {
    "all": ALL_DIRECTIONS,
    "hands": (("lh", "rh"), ("rh", "lh")),
    "hands-body": (("lh", "body"), ("rh", "body"), ("body", "lh"), ("body", "rh")),
}
MODES = ("bidirectional", "unidirectional")
# The seed's "Only hands->body (like Teledeaf)" ablation. The seeds write an arrow as "who attends
# -> to whom" (the CMCL seed: "A_lh->rh: the left hand attends to the right hand"), so hands->body
# is the two hands attending to the body (lh <- body, rh <- body); the body passes through. The
# opposite reading (body <- lh, body <- rh) stays available as the direction list
# "body_from_lh,body_from_rh".
UNIDIRECTIONAL = (("lh", "body"), ("rh", "body"))


def direction_name(target: str, source: str) -> str:
    return f"{target}_from_{source}"


def adjust_heads(num_heads: int, dims=tuple(FEATURE_DIMS.values())) -> int:
    """Largest head count <= ``num_heads`` that divides every modality width.

    Mirrors the seed: an invalid request is adjusted down with a warning, not rejected.
    """
    if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1:
        raise ValueError(f"cross-attention heads must be a positive integer, got {num_heads!r}")
    valid = [h for h in range(1, num_heads + 1) if all(d % h == 0 for d in dims)]
    actual = valid[-1]
    if actual != num_heads:
        warnings.warn(
            f"Warning: Adjusted cross-attention heads from {num_heads} to {actual} "
            f"(heads must divide every modality dimension {tuple(dims)}; valid: "
            f"{', '.join(str(h) for h in VALID_HEADS)})",
            stacklevel=2,
        )
    return actual


def resolve_directions(mode: str = "bidirectional", directions="all") -> Tuple[Tuple[str, str], ...]:
    """The ordered (target, source) pairs a configuration enables.

    ``directions`` is a preset name (``all``, ``hands``, ``hands-body``), a comma-separated list
    of ``target_from_source`` names, or an iterable of (target, source) pairs.
    """
    if mode not in MODES:
        raise ValueError(f"cross-attention mode must be one of {MODES}, got {mode!r}")
    if mode == "unidirectional":
        if directions not in ("all", None):
            raise ValueError("unidirectional mode fixes the directions (lh <- body, rh <- body); "
                             "do not combine it with a direction subset (for body <- hands use "
                             "--cross_attn_directions body_from_lh,body_from_rh)")
        return UNIDIRECTIONAL
    if directions is None:
        directions = "all"
    if isinstance(directions, str):
        if directions in DIRECTION_PRESETS:
            return DIRECTION_PRESETS[directions]
        names = [d.strip() for d in directions.split(",") if d.strip()]
        by_name = {direction_name(t, s): (t, s) for t, s in ALL_DIRECTIONS}
        unknown = [n for n in names if n not in by_name]
        if unknown or not names:
            raise ValueError(
                f"unknown cross-attention directions {unknown or directions!r}: use a preset "
                f"({', '.join(DIRECTION_PRESETS)}) or names from {sorted(by_name)}")
        pairs = [by_name[n] for n in names]
    else:
        pairs = [tuple(p) for p in directions]
        bad = [p for p in pairs if p not in ALL_DIRECTIONS]
        if bad or not pairs:
            raise ValueError(f"invalid cross-attention directions {bad or pairs!r}")
    # Keep the canonical order so that parameter order never depends on how the user spelled it.
    return tuple(p for p in ALL_DIRECTIONS if p in set(pairs))


@dataclass
class CrossModalExtras:
    """What CMCL needs from the block, produced in the same pass as the outputs.

    attention: head-averaged attention maps (B, T_query, T_key) for ``lh_from_rh`` and
        ``rh_from_lh`` when those directions are enabled.
    alignment: named pairs of per-frame features living in a common space, for the cosine
        alignment loss: ("lh", "rh") compares the two hand encodings (both 42-d); a hand and the
        body are compared through the block's own projection between them (the body projected
        into the hand's space when ``hand_from_body`` exists, else the hand projected into the
        body's space), so alignment uses the map the attention itself learns.
    """

    attention: Dict[str, torch.Tensor] = field(default_factory=dict)
    alignment: List[Tuple[str, torch.Tensor, torch.Tensor]] = field(default_factory=list)


class CrossModalAttention(nn.Module):
    """BMHCMA over the three encoder outputs (B, T, 42), (B, T, 42), (B, T, 24).

    Args:
        num_heads: heads per attention; adjusted down to a divisor of 42 and 24 with a warning.
        mode: ``bidirectional`` (the enabled ``directions``) or ``unidirectional`` (the hands
            attend to the body: lh <- body, rh <- body; the body passes through).
        use_gating: sigmoid gate over [H_i | sources] (on) or a plain residual sum (off).
        directions: preset or list of directions, see :func:`resolve_directions`.
        dropout: dropout on the attention probabilities while training (``nn.MultiheadAttention``
            semantics; inactive in eval). 0 here, as in ``nn.MultiheadAttention``; the model's
            ``cross_attn_dropout`` defaults to the seed's 0.1.
        backend: ``reference``, ``triton`` or ``auto`` (triton on CUDA when available).
    """

    def __init__(self, num_heads: int = 3, mode: str = "bidirectional", use_gating: bool = True,
                 directions="all", dropout: float = 0.0, backend: str = "reference",
                 dims: Optional[Dict[str, int]] = None):
        super().__init__()
        self.dims = dict(dims or FEATURE_DIMS)
        self.num_heads = adjust_heads(num_heads, tuple(self.dims.values()))
        self.mode = mode
        self.use_gating = bool(use_gating)
        self.directions = resolve_directions(mode, directions)
        if isinstance(dropout, bool) or not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"cross-attention dropout must be in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        self.backend = backend
        self.sources = {m: [s for t, s in self.directions if t == m] for m in MODALITIES}

        self.projections = nn.ModuleDict()
        self.attentions = nn.ModuleDict()
        for target, source in self.directions:
            name = direction_name(target, source)
            self.projections[name] = nn.Linear(self.dims[source], self.dims[target])
            self.attentions[name] = nn.MultiheadAttention(
                self.dims[target], self.num_heads, dropout=self.dropout, batch_first=True)
        self.gates = nn.ModuleDict()
        self.norms = nn.ModuleDict()
        for m in MODALITIES:
            if not self.sources[m]:
                continue
            if self.use_gating:
                self.gates[m] = nn.Linear((1 + len(self.sources[m])) * self.dims[m], self.dims[m])
            self.norms[m] = nn.LayerNorm(self.dims[m])

    def extra_repr(self) -> str:
        names = ", ".join(direction_name(t, s) for t, s in self.directions)
        return (f"heads={self.num_heads}, mode={self.mode}, gating={self.use_gating}, "
                f"directions=[{names}], dropout={self.dropout}, backend={self.backend}")

    def forward(self, lh: torch.Tensor, rh: torch.Tensor, body: torch.Tensor,
                key_padding_mask: Optional[torch.Tensor] = None, return_extras: bool = False):
        """Fuse the three modalities.

        Args:
            lh, rh, body: (B, T, 42), (B, T, 42), (B, T, 24) encoder outputs.
            key_padding_mask: (B, T) bool, True where a frame is padding (never attended to).
            return_extras: also return :class:`CrossModalExtras` for CMCL.

        Returns:
            (lh_out, rh_out, body_out), plus the extras when requested.
        """
        lh, rh, body = _autocast_common_dtype(lh, rh, body)
        if self.backend != "triton":  # the fused entry runs the same checks (and its own)
            check_inputs(lh, rh, body, key_padding_mask, self.dims)
        backend = resolve_backend(self.backend, lh, self)
        if backend == "triton":
            return _fused_entry()(self, lh, rh, body, key_padding_mask, return_extras)
        check_padding(key_padding_mask)
        return self.forward_reference(lh, rh, body, key_padding_mask, return_extras)

    def forward_reference(self, lh, rh, body, key_padding_mask=None, return_extras=False):
        """The seed's formulas with ``nn.MultiheadAttention``; the ground truth for the kernels."""
        hidden = {"lh": lh, "rh": rh, "body": body}
        projected, fused = {}, {}
        extras = CrossModalExtras()
        for target, source in self.directions:
            name = direction_name(target, source)
            projected[name] = self.projections[name](hidden[source])
            want_map = return_extras and name in ("lh_from_rh", "rh_from_lh")
            out, weights = self.attentions[name](
                hidden[target], projected[name], projected[name],
                key_padding_mask=key_padding_mask, need_weights=want_map,
                average_attn_weights=True)
            fused[name] = out
            if want_map:
                extras.attention[name] = weights

        outputs = []
        for m in MODALITIES:
            sources = self.sources[m]
            if not sources:
                outputs.append(hidden[m])
                continue
            messages = [fused[direction_name(m, s)] for s in sources]
            total = torch.stack(messages).sum(0) if len(messages) > 1 else messages[0]
            if self.use_gating:
                gate = torch.sigmoid(self.gates[m](torch.cat([hidden[m], *messages], dim=-1)))
                total = gate * total
            outputs.append(self.norms[m](hidden[m] + total))

        if not return_extras:
            return tuple(outputs)
        extras.alignment = self.alignment_features(hidden, projected)
        return tuple(outputs), extras

    def alignment_features(self, hidden, projected=None):
        """Feature pairs in a common space for the alignment loss (see CrossModalExtras)."""
        projected = projected or {}

        def project(name, source):
            if name not in projected:
                projected[name] = self.projections[name](hidden[source])
            return projected[name]

        pairs = [("lh-rh", hidden["lh"], hidden["rh"])]
        for hand in ("lh", "rh"):
            if direction_name(hand, "body") in self.projections:
                pairs.append((f"{hand}-body", hidden[hand],
                              project(direction_name(hand, "body"), "body")))
            elif direction_name("body", hand) in self.projections:
                pairs.append((f"{hand}-body", project(direction_name("body", hand), hand),
                              hidden["body"]))
        return pairs


def leading_sizes(x: torch.Tensor) -> tuple:
    """(batch, length) of a (B, T, D) tensor, comparable with ``==`` in every tracing mode.

    Under ``torch.jit.trace`` (fvcore) sizes are 0-d tensors, so they become ints; under
    ``torch.export`` they are symbolic and must stay so (``int()`` would fix a dynamic batch to
    the example's), which also rules out putting them in a set.
    """
    return tuple(int(s) if isinstance(s, torch.Tensor) else s for s in x.shape[:2])


def _autocast_common_dtype(lh, rh, body):
    """Under autocast the encoders may hand over different dtypes (a LayerNorm output stays
    fp32, a Linear output is bf16): bring them to the autocast dtype, as autocast itself would
    for the block's first matrix product. Outside autocast mixed dtypes stay an error."""
    if not all(isinstance(x, torch.Tensor) for x in (lh, rh, body)) or lh.dtype == rh.dtype == body.dtype:
        return lh, rh, body   # check_inputs reports what is wrong
    device_type = lh.device.type
    if not torch.is_autocast_enabled(device_type):
        return lh, rh, body
    dtype = torch.get_autocast_dtype(device_type)
    return lh.to(dtype), rh.to(dtype), body.to(dtype)


def _inputs_look_right(lh, rh, body, mask, dims) -> bool:
    """True when the inputs certainly pass :func:`check_inputs`: a few attribute reads, so the
    common call skips the detailed checks (False: run them, they name what is wrong)."""
    if type(lh) is not torch.Tensor or type(rh) is not torch.Tensor \
            or type(body) is not torch.Tensor:
        return False
    shape, rs, bs, dtype, device = lh.shape, rh.shape, body.shape, lh.dtype, lh.device
    if len(shape) != 3 or len(rs) != 3 or len(bs) != 3 or shape[1] == 0 \
            or shape[2] != dims["lh"] or rs[2] != dims["rh"] or bs[2] != dims["body"] \
            or rs[0] != shape[0] or bs[0] != shape[0] or rs[1] != shape[1] or bs[1] != shape[1]:
        return False
    if not lh.is_floating_point() or rh.dtype is not dtype or body.dtype is not dtype \
            or rh.device != device or body.device != device:
        return False
    return mask is None or (type(mask) is torch.Tensor and mask.dtype is torch.bool
                            and mask.shape == shape[:2] and mask.device == device)


def check_inputs(lh, rh, body, key_padding_mask, dims) -> None:
    """One clear error for each way the block's inputs can be wrong."""
    # Traced sizes (torch.jit.trace, torch.export) go through the detailed checks below.
    if not (torch.compiler.is_compiling() or torch.jit.is_tracing()) \
            and _inputs_look_right(lh, rh, body, key_padding_mask, dims):
        return
    named = {"lh": lh, "rh": rh, "body": body}
    for name, x in named.items():
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"cross-modal attention: {name} must be a tensor, got {type(x).__name__}")
        if x.dim() != 3 or x.shape[-1] != dims[name]:
            raise ValueError(f"cross-modal attention: {name} must have shape (B, T, {dims[name]}), "
                             f"got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"cross-modal attention: {name} must be floating point, got {x.dtype}")
    shapes = {n: leading_sizes(x) for n, x in named.items()}
    if any(shape != shapes["lh"] for shape in shapes.values()):
        raise ValueError(f"cross-modal attention: batch and length must agree, got {shapes}")
    if len({x.dtype for x in named.values()}) != 1 or len({x.device for x in named.values()}) != 1:
        raise ValueError("cross-modal attention: lh, rh and body must share dtype and device, got "
                         + ", ".join(f"{n}={x.dtype}@{x.device}" for n, x in named.items()))
    batch, length = shapes["lh"]
    if length == 0:
        raise ValueError("cross-modal attention: sequences are empty (T = 0)")
    if key_padding_mask is not None:
        if key_padding_mask.dtype != torch.bool or tuple(key_padding_mask.shape) != (batch, length):
            raise ValueError(f"cross-modal attention: key_padding_mask must be bool (B, T) = "
                             f"{(batch, length)}, got {key_padding_mask.dtype} "
                             f"{tuple(key_padding_mask.shape)}")
        if key_padding_mask.device != lh.device:
            raise ValueError(f"cross-modal attention: key_padding_mask is on {key_padding_mask.device}, "
                             f"inputs on {lh.device}")


def check_padding(key_padding_mask) -> None:
    """The reference's own requirement: every sample keeps one valid frame.

    ``nn.MultiheadAttention`` gives NaN for a softmax row without a key. A data-dependent check
    that costs a device-to-host sync, so only the reference path runs it (the fused kernels
    give such a sample zero attention output instead), and never while torch.compile traces.
    """
    if (key_padding_mask is not None and not torch.compiler.is_compiling()
            and bool(key_padding_mask.all(dim=1).any())):
        raise ValueError("cross-modal attention: a sample is entirely padding (no valid frame)")


BACKENDS = ("auto", "reference", "triton")


_FUSED_ENTRY = []  # the kernel module once imported (an import per call costs microseconds)


def triton_available() -> bool:
    """True when our Triton kernels can be imported (Triton installed, kernel module present)."""
    if _FUSED_ENTRY:
        return True
    try:
        import triton  # noqa: F401
        from slr_fused.kernels import cross_modal_attention
    except Exception:
        return False
    _FUSED_ENTRY.append(cross_modal_attention)
    return True


def _fused_entry():
    """``cross_modal_attention_triton``, looked up per call (tests and the self-check patch it)."""
    if not _FUSED_ENTRY:
        from slr_fused.kernels import cross_modal_attention
        _FUSED_ENTRY.append(cross_modal_attention)
    return _FUSED_ENTRY[0].cross_modal_attention_triton


def fused_kernels_have_dropout() -> bool:
    """Whether the fused Triton kernels implement attention dropout while training.

    The one place that states this capability: while it is False ``auto`` falls back to the
    reference (one warning) and ``triton`` refuses to train (one error line). True since the
    kernels draw the attention-dropout mask with a counter-based RNG and regenerate it in the
    backward (``kernels/cross_modal_attention.py``, tested against float64 given the same mask
    in ``tests/kernels/test_cross_modal_dropout.py``).
    """
    return True


def needs_dropout_in_training(module) -> bool:
    """True while ``module`` trains with attention dropout that the fused kernels lack."""
    return (module is not None and module.training and getattr(module, "dropout", 0.0) > 0
            and not fused_kernels_have_dropout())


def dropout_unsupported_message(dropout: float) -> str:
    return (f"the fused cross-attention kernels have no attention dropout yet "
            f"(--cross_attn_dropout {dropout:g}); pass --cross_attn_dropout 0 to train with "
            f"--kernel triton, or use --kernel auto/reference")


_DROPOUT_FALLBACK_WARNED = False


def _warn_dropout_fallback(dropout: float) -> None:
    """One warning per process: auto trains with the reference block because of dropout."""
    global _DROPOUT_FALLBACK_WARNED
    if _DROPOUT_FALLBACK_WARNED:
        return
    _DROPOUT_FALLBACK_WARNED = True
    warnings.warn(f"--kernel auto: training the cross-modal block with the reference (PyTorch) "
                  f"implementation, because the fused kernels have no attention dropout "
                  f"(--cross_attn_dropout {dropout:g}); pass --cross_attn_dropout 0 to train "
                  f"with the fused kernels (evaluation uses them either way)", stacklevel=3)


def resolve_backend(backend: str, example: torch.Tensor, module=None) -> str:
    """``auto`` means triton on CUDA when the kernels import, the reference elsewhere.

    Given the module, ``auto`` also keeps the reference where the kernels cannot serve it:
    attention dropout while training (see :func:`fused_kernels_have_dropout`; warns once), or
    a configuration whose fused result failed the one-time self-check on this device
    (:mod:`slr_fused.kernels.self_check`, which warns once with the reason). ``triton`` with
    attention dropout while training is an error.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown cross-attention backend {backend!r}; choose from {BACKENDS}")
    if backend == "auto":
        if not (example.is_cuda and triton_available()):
            return "reference"
        if module is None:
            return "triton"
        if needs_dropout_in_training(module):
            _warn_dropout_fallback(module.dropout)
            return "reference"
        from slr_fused.kernels.self_check import fused_kernels_verified
        return "triton" if fused_kernels_verified(module, example) else "reference"
    if backend == "triton" and not triton_available():
        raise RuntimeError("backend 'triton' requested but the Triton kernels are not available: "
                           "install the extra with `pip install -e .[kernels]`")
    if backend == "triton" and needs_dropout_in_training(module):
        raise ValueError(dropout_unsupported_message(module.dropout))
    return backend
