"""Constants and helpers shared by the stream tests."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BSL16 = SHARED_DATA / "bsl16"
IDLE_CLASS = "predicting....."   # bsl16's idle class: not a sign
GAP = 15                          # frames of nobody in view between two signs
SIGNS = 40


def require_bsl16():
    if not (BSL16 / "bsl16_test.csv").is_file():
        reason = f"real pose data not found at {BSL16} (../shared beside the project)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
