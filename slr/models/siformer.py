"""SiFormer: the feature-isolated transformer, with the optional BMHCMA block.

Left hand (42), right hand (42) and body (24) features each get a learnable positional table and
their own transformer encoder; BMHCMA (when enabled) lets them attend to each other; the three
are concatenated to 108-d and a decoder reads them from one learnable class query; a linear layer
gives the logits. Attention is standard softmax attention everywhere (upstream's ProbSparse
attention and early exit are not reproduced), and every attention ignores padded frames.
"""

import dataclasses
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import nn

from ..data.joints import FEATURE_DIMS, MODALITIES
from .cross_modal import BACKENDS, CrossModalAttention, adjust_heads, resolve_directions


@dataclass
class SiFormerConfig:
    """Every architectural setting; saved with checkpoints so a model can be rebuilt exactly."""

    num_classes: int
    num_enc_layers: int = 3
    num_dec_layers: int = 2
    enc_heads: Tuple[int, int, int] = (3, 3, 2)     # lh, rh, body (head dims 14, 14, 12)
    dec_heads: int = 9                              # on the 108-d concatenation
    d_ff: int = 2048
    dropout: float = 0.1
    max_frames: int = 256                           # length of the positional tables
    use_cross_attention: bool = True
    cross_attn_heads: int = 3
    cross_attn_dropout: float = 0.1                 # the BMHCMA seed's attention dropout
    cross_attn_mode: str = "bidirectional"
    use_gating: bool = True
    cross_attn_directions: str = "all"
    kernel: str = "auto"                            # triton on CUDA when available, else reference

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "SiFormerConfig":
        if not isinstance(values, dict):
            raise ValueError(f"expected a JSON object, got {type(values).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown model settings {unknown}")
        if "num_classes" not in values:
            raise ValueError("num_classes is missing")
        from ..config_checks import check_model_settings, model_field_defaults
        check_model_settings(values, model_field_defaults(cls))
        values = dict(values)
        # Models saved before the flag existed were built (and trained) without it.
        values.setdefault("cross_attn_dropout", 0.0)
        if "enc_heads" in values:
            values["enc_heads"] = tuple(values["enc_heads"])
        return cls(**values)


def _encoder(dim: int, heads: int, config: SiFormerConfig) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(dim, heads, config.d_ff, config.dropout, batch_first=True)
    # enable_nested_tensor=False: the same computation in train and eval (nested tensors would
    # zero padded positions in eval only).
    return nn.TransformerEncoder(layer, config.num_enc_layers, enable_nested_tensor=False)


class SiFormer(nn.Module):
    """Feature-isolated transformer for pose sequences.

    forward(lh, rh, body, padding_mask) takes (B, T, 21, 2) or (B, T, 42) hands and
    (B, T, 12, 2) or (B, T, 24) body, and a (B, T) bool mask, True on padded frames.
    """

    def __init__(self, config: SiFormerConfig):
        super().__init__()
        if config.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {config.num_classes}")
        self.config = config
        dims = FEATURE_DIMS
        self.positional = nn.ParameterDict({
            m: nn.Parameter(torch.empty(config.max_frames, dims[m]).normal_(0, 0.02)) for m in MODALITIES})
        self.encoders = nn.ModuleDict({
            m: _encoder(dims[m], h, config) for m, h in zip(MODALITIES, config.enc_heads)})
        self.cross_modal = None
        if config.use_cross_attention:
            self.cross_modal = CrossModalAttention(
                num_heads=config.cross_attn_heads, mode=config.cross_attn_mode,
                use_gating=config.use_gating, directions=config.cross_attn_directions,
                dropout=config.cross_attn_dropout, backend=config.kernel)
        width = sum(dims.values())
        self.class_query = nn.Parameter(torch.empty(1, 1, width).normal_(0, 0.02))
        decoder_layer = nn.TransformerDecoderLayer(width, config.dec_heads, config.d_ff,
                                                   config.dropout, batch_first=True)
        self.decoder = nn.TransformerDecoder(decoder_layer, config.num_dec_layers)
        self.classifier = nn.Linear(width, config.num_classes)

    @property
    def cross_attn_heads(self) -> Optional[int]:
        """Heads actually used by BMHCMA (after adjustment), None for the baseline."""
        return self.cross_modal.num_heads if self.cross_modal is not None else None

    def set_kernel(self, kernel: str) -> "SiFormer":
        """Switch the cross-modal block's backend (and the config that records it); the weights
        are the same for every backend. Returns the model."""
        if kernel not in BACKENDS:
            raise ValueError(f"unknown kernel {kernel!r}; choose from {BACKENDS}")
        self.config.kernel = kernel
        if self.cross_modal is not None:
            self.cross_modal.backend = kernel
        return self

    def forward(self, lh: torch.Tensor, rh: torch.Tensor, body: torch.Tensor,
                padding_mask: Optional[torch.Tensor] = None, return_extras: bool = False):
        """Logits (B, num_classes); with ``return_extras`` also the CMCL extras (or None)."""
        features = {"lh": lh, "rh": rh, "body": body}
        for m, x in features.items():
            if x.dim() == 4:
                x = x.flatten(2)
            if x.dim() != 3 or x.shape[-1] != FEATURE_DIMS[m]:
                raise ValueError(f"SiFormer: {m} must be (B, T, {FEATURE_DIMS[m]}) or "
                                 f"(B, T, {FEATURE_DIMS[m] // 2}, 2), got {tuple(features[m].shape)}")
            features[m] = x
        batch, length = features["lh"].shape[:2]
        if any(tuple(x.shape[:2]) != (batch, length) for x in features.values()):
            raise ValueError("SiFormer: lh, rh and body must have the same batch size and length, got "
                             + ", ".join(f"{m}={tuple(x.shape)}" for m, x in features.items()))
        if length == 0:
            raise ValueError("SiFormer: sequences are empty (T = 0)")
        if length > self.config.max_frames:
            raise ValueError(f"SiFormer: {length} frames exceed the model's max_frames "
                             f"{self.config.max_frames}; resample the data (max_frames option)")
        if padding_mask is not None and (padding_mask.dtype != torch.bool
                                         or tuple(padding_mask.shape) != (batch, length)):
            raise ValueError(f"SiFormer: padding_mask must be bool (B, T) = {(batch, length)}, "
                             f"got {padding_mask.dtype} {tuple(padding_mask.shape)}")

        encoded = {}
        for m, x in features.items():
            x = x + self.positional[m][:length].to(x.dtype)
            encoded[m] = self.encoders[m](x, src_key_padding_mask=padding_mask)

        extras = None
        if self.cross_modal is not None:
            result = self.cross_modal(encoded["lh"], encoded["rh"], encoded["body"],
                                      key_padding_mask=padding_mask, return_extras=return_extras)
            if return_extras:
                result, extras = result
            encoded = dict(zip(MODALITIES, result))

        memory = torch.cat([encoded[m] for m in MODALITIES], dim=-1)
        query = self.class_query.expand(batch, -1, -1).to(memory.dtype)
        decoded = self.decoder(query, memory, memory_key_padding_mask=padding_mask)
        logits = self.classifier(decoded[:, 0])
        return (logits, extras) if return_extras else logits


def count_parameters(module: Optional[nn.Module]) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def describe_model(config: SiFormerConfig) -> str:
    """The seeds' start-up lines, in the BMHCMA seed's wording, then our own details.

    The seed's expected console output is
    ``Feature isolated transformer`` / ``Initializing Bi-directional Cross-Modal Attention with 3
    heads (requested)`` / ``Using ... with 3 heads (actual)`` / ``num_enc_layers 3,
    num_dec_layers 2, patient 1, cross_attn True``. ``patient`` is upstream Siformer's early-exit
    patience; early exit is not part of this project, so the line shows upstream's default 1
    (``--patience`` is accepted and ignored, with a warning).
    """
    lines = ["Feature isolated transformer"]
    details = None
    if config.use_cross_attention:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            heads = adjust_heads(config.cross_attn_heads)
        kind = "Bi-directional" if config.cross_attn_mode == "bidirectional" else "Uni-directional"
        lines.append(f"Initializing {kind} Cross-Modal Attention with {config.cross_attn_heads} "
                     f"heads (requested)")
        lines.append(f"Using {kind} Cross-Modal Attention with {heads} heads (actual)")
        names = " ".join(f"{t}<-{s}" for t, s in
                         resolve_directions(config.cross_attn_mode, config.cross_attn_directions))
        details = (f"  directions: {names}, gating: {'on' if config.use_gating else 'off'}, "
                   f"attention dropout: {config.cross_attn_dropout:g}, backend: {config.kernel}")
    else:
        lines.append("Cross-Modal Attention disabled (baseline)")
    lines.append(f"num_enc_layers {config.num_enc_layers}, num_dec_layers {config.num_dec_layers}, "
                 f"patient 1, cross_attn {config.use_cross_attention}")
    if details:
        lines.append(details)
    return "\n".join(lines)
