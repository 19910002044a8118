"""kernel_capture: launch capture and executed-work counting of the real block on the Triton
interpreter."""

import torch
from kernel_lab_helpers import interpreter_only


@interpreter_only
def test_capture_and_executed_work_of_the_real_block():
    from slr_fused.bench.kernel_capture import capture_launches
    from slr_fused.kernels.cross_modal_attention import cross_modal_attention_flops
    from slr_fused.models.cross_modal import CrossModalAttention
    recorded = capture_launches(3, torch.float32, 2, 20, 90)
    assert {lc.phase for lc in recorded} == {"forward", "backward"}
    for lc in recorded:
        sig = lc.signature()
        assert set(sig) <= set(lc.fn.arg_names) and "*fp32" in sig.values()
        assert lc.programs >= 1
    counted = capture_launches(3, torch.float32, 1, 20, 90, masked=False, execute=True)
    assert [lc.name for lc in counted] == [lc.name for lc in recorded]
    ref = cross_modal_attention_flops(CrossModalAttention(num_heads=3), 1, 20)
    forward = sum(lc.macs for lc in counted if lc.phase == "forward")
    # The kernels compute at least every product of the reference (plus padding, recompute).
    assert forward >= ref
    assert all(0 < lc.useful_macs <= lc.macs for lc in counted)


@interpreter_only
def test_launch_choices_follow_the_captured_architecture():
    """The launchers read the device's capability from their cache: the capture sets it to the
    target, so per-architecture choices (TF32's 1-head projection rows on sm_8x) reach the lab."""
    from slr_fused.bench.kernel_capture import capture_launches
    from slr_fused.kernels import cross_modal_launch

    def projection_rows(arch):
        launches = capture_launches(1, torch.float32, 2, 20, arch, fp32_precision="high")
        return {lc.constexprs["BLOCK_M"] for lc in launches if "projection" in lc.name}

    saved = dict(cross_modal_launch._CAPABILITY)
    assert projection_rows(90) == {64} and projection_rows(87) == {32}
    assert cross_modal_launch._CAPABILITY == saved  # restored after the capture
