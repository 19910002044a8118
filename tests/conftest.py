"""Shared fixtures: the real datasets beside the project, and an isolated cache folder."""

import os
from pathlib import Path

import pytest
import torch

# The Triton kernels run on the CPU interpreter where there is no GPU. The variable must be set
# before any @triton.jit decorator runs, whichever test module imports the kernels first; this
# is the only place the tests set it (test modules read it, subprocess tests unset it).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory):
    """Parse caches and demo data go to a temporary folder, never the user's home."""
    folder = tmp_path_factory.mktemp("slr-cache")
    previous = os.environ.get("SLR_CACHE_DIR")
    os.environ["SLR_CACHE_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("SLR_CACHE_DIR", None)
    else:
        os.environ["SLR_CACHE_DIR"] = previous


@pytest.fixture
def shared_data():
    """Path of ../shared/data; skips (with the reason printed) where it is absent."""
    if not (SHARED_DATA / "bsl16" / "bsl16_test.csv").is_file():
        reason = f"real pose data not found at {SHARED_DATA} (../shared beside the project)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return SHARED_DATA
