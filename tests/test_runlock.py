"""One process per run folder (slr/runlock.py); the end-to-end case (a second `slr train`) is in
tests/test_runs.py."""

import os

import pytest

from slr_fused.runlock import LOCK_NAME, RunLock, RunLockedError


def test_a_second_lock_is_refused_naming_the_holder(tmp_path):
    folder = tmp_path / "run"
    with RunLock(folder):
        holder = (folder / LOCK_NAME).read_text()
        assert holder.startswith(f"pid {os.getpid()} on ")
        with pytest.raises(RunLockedError) as error:
            RunLock(folder).acquire()     # flock: a second open file conflicts, even here
        message = str(error.value)
        assert f"pid {os.getpid()}" in message and "in use" in message
        assert "--experiment_name" in message
    # released on leaving the block: it can be taken again
    lock = RunLock(folder).acquire()
    lock.release()
    lock.release()                        # a second release is harmless


def test_the_lock_file_records_the_latest_holder_only(tmp_path):
    (tmp_path / LOCK_NAME).write_text("pid 1 on elsewhere since long ago, with a long tail\n")
    with RunLock(tmp_path):
        text = (tmp_path / LOCK_NAME).read_text()
    assert text.count("pid") == 1 and "elsewhere" not in text and text.endswith("\n")
