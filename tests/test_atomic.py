"""Atomic writes (slr/atomic.py): the target is replaced whole, or left as it was."""

import os
import stat

import pytest

from slr_fused.atomic import atomic_write, write_text_atomic


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_text_and_binary_writes_replace_the_file(tmp_path):
    target = tmp_path / "sub" / "out.txt"   # the folder is made
    write_text_atomic(target, "first\n")
    assert target.read_text() == "first\n"
    assert write_text_atomic(target, "second\r\n") == target
    assert target.read_bytes() == b"second\r\n"   # newline="" keeps what was written
    atomic_write(target, lambda handle: handle.write(b"\x00\x01"))
    assert target.read_bytes() == b"\x00\x01"
    assert _leftovers(target.parent) == []


def test_a_failing_writer_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "keep.json"
    target.write_text("old")

    def broken(handle):
        handle.write(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_permissions_follow_the_umask_or_the_given_mode(tmp_path):
    previous = os.umask(0o022)
    try:
        plain = write_text_atomic(tmp_path / "plain", "x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(plain.stat().st_mode) == 0o644   # not mkstemp's 0600
    chosen = atomic_write(tmp_path / "chosen", lambda h: h.write(b"x"), mode=0o600)
    assert stat.S_IMODE(chosen.stat().st_mode) == 0o600
