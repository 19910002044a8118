"""The named SiFormer configurations that the parameter report and the benchmarks compare.

One table, beside the model, so that ``slr info``, ``slr bench`` and the ablation name the same
variants with the same overrides of :class:`~slr_fused.models.siformer.SiFormerConfig`.
"""

import warnings

from .siformer import SiFormer, SiFormerConfig, count_parameters

MODEL_VARIANTS = (
    ("baseline (no cross-modal block)", dict(use_cross_attention=False)),
    ("unidirectional h=3", dict(cross_attn_mode="unidirectional", cross_attn_heads=3)),
    ("bidirectional h=1", dict(cross_attn_heads=1)),
    ("bidirectional h=2", dict(cross_attn_heads=2)),
    ("bidirectional h=3", dict(cross_attn_heads=3)),
    ("bidirectional h=6", dict(cross_attn_heads=6)),
    ("bidirectional h=3, gating off", dict(use_gating=False)),
    ("bidirectional h=3, lh<->rh only", dict(cross_attn_directions="hands")),
    ("bidirectional h=3, hands<->body only", dict(cross_attn_directions="hands-body")),
)


def parameter_table(num_classes: int = 100):
    """Rows (name, total, block, block share, increase over baseline) for every configuration."""
    rows, baseline = [], None
    for name, overrides in MODEL_VARIANTS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = SiFormer(SiFormerConfig(num_classes=num_classes, **overrides))
        total, block = count_parameters(model), count_parameters(model.cross_modal)
        baseline = total if baseline is None else baseline
        rows.append((name, total, block, block / total, total / baseline - 1.0))
    return rows
