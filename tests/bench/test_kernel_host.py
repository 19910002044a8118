"""kernel_host: dispatch counting on a known op sequence, and the host side of the real block
(on the Triton interpreter)."""

import pytest
import torch
from kernel_lab_helpers import interpreter_only


def test_dispatch_counter_counts_a_known_op_sequence():
    from slr_fused.bench.kernel_host import DispatchCounter
    x = torch.randn(4, 4)
    counter = DispatchCounter()
    with counter:
        y = x + 1             # 1 kernel
        z = y.t()             # view: none
        w = z @ x             # 1 kernel
        torch.empty(3)        # allocation: none
        scratch = torch.empty(8, 4)
        scratch.sum(0)        # 1 kernel, a reduction of a fresh buffer
        w.sum().item()        # 1 kernel + 1 sync
    assert counter.kernels == 4
    assert counter.syncs == 1
    assert counter.reduced_scratch == 8 * 4 * 4


def test_dispatch_counts_refuses_an_unknown_gradient_mode():
    from slr_fused.bench.kernel_host import dispatch_counts
    with pytest.raises(ValueError, match="grads"):
        dispatch_counts(grads="ones")


@interpreter_only
def test_host_side_of_the_real_block():
    from slr_fused.bench.kernel_host import dispatch_counts, python_time_us, scratch_bytes
    d = dispatch_counts(heads=3, B=2, T=20)
    assert d["forward_triton"] >= 1 and d["backward_triton"] >= 1
    assert d["cached_nograd_triton"] >= 1
    assert d["train_kernels"] >= d["forward_triton"] + d["backward_triton"]
    assert d["cached_nograd_syncs"] >= 0 and d["cached_nograd_kernels"] >= 1
    assert python_time_us(heads=3, B=2, T=20, calls=5)["median_us"] > 0
    s = scratch_bytes(heads=3, B=2, T=20)
    assert 0 <= s["weight_grad_scratch"] <= s["backward_allocated"]
