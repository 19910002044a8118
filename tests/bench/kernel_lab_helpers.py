"""What the kernel-lab test modules share (test_kernel_capture, test_kernel_host)."""

import os

import pytest

interpreter_only = pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1",
                                      reason="the host-side and counting helpers run the block "
                                             "on the Triton interpreter (TRITON_INTERPRET=1)")
