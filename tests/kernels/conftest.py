"""Kernel tests run on the Triton interpreter when there is no GPU.

The variable must be set before any ``@triton.jit`` decorator runs (it picks the interpreter at
decoration time), i.e. before ``slr_fused.kernels`` is imported anywhere in the session.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
