"""The named model variants (slr/models/variants.py); the full-size table is printed by
`slr info model` (tests/test_cli.py). Here the table is built from tiny variants, to stay fast."""

import dataclasses

import pytest

from slr_fused.models import variants
from slr_fused.models.siformer import SiFormerConfig

TINY = dict(d_ff=32, num_enc_layers=1, num_dec_layers=1)


def test_every_variant_names_real_config_fields_once():
    fields = {f.name for f in dataclasses.fields(SiFormerConfig)}
    names = [name for name, _ in variants.MODEL_VARIANTS]
    assert len(set(names)) == len(names)
    for name, overrides in variants.MODEL_VARIANTS:
        assert set(overrides) <= fields, name
    assert variants.MODEL_VARIANTS[0][1] == dict(use_cross_attention=False)   # the baseline first


def test_parameter_table_rows_are_relative_to_the_first_variant(monkeypatch):
    monkeypatch.setattr(variants, "MODEL_VARIANTS", (
        ("baseline", dict(use_cross_attention=False, **TINY)),
        ("bidirectional h=3", dict(cross_attn_heads=3, **TINY)),
    ))
    (name0, total0, block0, share0, more0), (name1, total1, block1, share1, more1) = \
        variants.parameter_table(num_classes=4)
    assert (name0, block0, share0, more0) == ("baseline", 0, 0.0, 0.0)
    assert name1 == "bidirectional h=3" and block1 > 0
    assert share1 == pytest.approx(block1 / total1)
    assert more1 == pytest.approx(total1 / total0 - 1.0) and total1 == total0 + block1
