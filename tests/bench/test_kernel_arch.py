"""kernel_arch: occupancy and the modelled time follow the documented per-architecture limits."""

from slr_fused.bench.kernel_arch import modelled_time_us, occupancy, unit_for


def test_occupancy_and_model_follow_the_documented_limits():
    # 255 registers x 4 warps on H100: 8 warps of registers -> 2 CTAs, 12.5% (the number).
    occ = occupancy(90, 255, 4, 47104)
    assert occ["ctas_per_sm"] == 2 and occ["occupancy"] == 0.125
    assert occ["limited_by"] == "registers"
    assert occupancy(87, 64, 4, 200 * 1024)["ctas_per_sm"] == 0  # over the 163 KB per block
    assert unit_for("bf16", {"HMMA": 0, "WGMMA": 0}) == "ffma"
    assert unit_for("bf16", {"HMMA": 3, "WGMMA": 0}) == "bf16"
    slow = modelled_time_us(87, 10 ** 9, 0, "ffma")["model_us"]
    fast = modelled_time_us(90, 10 ** 9, 0, "bf16")["model_us"]
    assert slow > 100 * fast > 0
