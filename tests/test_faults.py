"""Kill injection (slr/faults.py): exits only at the named boundary (and epoch) in the variable."""

import os

import pytest

from slr_fused import faults


class Exited(Exception):
    pass


@pytest.fixture
def exits(monkeypatch):
    """os._exit replaced by an exception carrying the code, so the test process survives."""
    def fake_exit(code):
        raise Exited(code)
    monkeypatch.setattr(os, "_exit", fake_exit)
    return monkeypatch


def test_unset_or_another_boundary_does_nothing(exits):
    exits.delenv(faults.ENV, raising=False)
    faults.crash_point("last", epoch=1)
    exits.setenv(faults.ENV, "best")
    faults.crash_point("last", epoch=1)
    faults.crash_point("bestx")


def test_the_named_boundary_exits_with_the_crash_code(exits):
    exits.setenv(faults.ENV, "metrics")
    with pytest.raises(Exited) as exited:
        faults.crash_point("metrics", epoch=3)
    assert exited.value.args == (faults.CRASH_EXIT_CODE,)


def test_an_epoch_limits_the_crash_to_that_epoch(exits):
    exits.setenv(faults.ENV, "last:2")
    faults.crash_point("last", epoch=1)
    faults.crash_point("last")          # a write without an epoch (the final model)
    with pytest.raises(Exited):
        faults.crash_point("last", epoch=2)


def test_boundaries_are_distinct_and_end_with_the_model():
    assert len(set(faults.BOUNDARIES)) == len(faults.BOUNDARIES)
    assert faults.BOUNDARIES[-1] == "model"
    assert faults.CRASH_EXIT_CODE not in (0, 1, 2)   # not an ordinary exit status of slr
