"""cross_modal_flops: the analytic FLOP count of the block against a hand count."""

from slr_fused.kernels.cross_modal_flops import cross_modal_attention_flops
from slr_fused.models.cross_modal import CrossModalAttention


def test_flop_count_matches_hand_count():
    # hands preset, 2 heads, gating on: lh <- rh and rh <- lh, all widths 42, B = 2, T = 10.
    module = CrossModalAttention(num_heads=2, directions="hands")
    B, T, d = 2, 10, 42
    per_direction = (T * d * d          # projection of the source
                     + 3 * T * d * d    # q, k, v in-projections
                     + 2 * T * T * d    # scores and probabilities @ values, summed over heads
                     + T * d * d)       # out-projection
    per_target = T * (2 * d) * d        # gate over [H_i | from_j]
    hand = B * (2 * per_direction + 2 * per_target)
    assert cross_modal_attention_flops(module, B, T) == hand
    # the count grows with every enabled direction
    assert cross_modal_attention_flops(CrossModalAttention(num_heads=2), B, T) > hand




def test_flop_count_without_gating_and_for_one_direction():
    # body <- lh only, no gate: one direction of width 24 from a 42-wide source, B = 1, T = 4.
    module = CrossModalAttention(num_heads=3, directions="body_from_lh", use_gating=False)
    T, d, s = 4, 24, 42
    hand = T * s * d + 3 * T * d * d + 2 * T * T * d + T * d * d
    assert cross_modal_attention_flops(module, 1, T) == hand
    assert cross_modal_attention_flops(module, 3, T) == 3 * hand  # linear in the batch
