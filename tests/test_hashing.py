"""The file hasher (slr/hashing.py): same digest as hashlib, also across its 1 MiB read blocks."""

import hashlib

import pytest

from slr_fused.hashing import sha256_file


@pytest.mark.parametrize("size", [0, 5, (1 << 20) - 1, 1 << 20, (1 << 20) + 7])
def test_digest_matches_hashlib(tmp_path, size):
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(str(path)) == sha256_file(path)


def test_one_changed_byte_changes_the_digest(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"\0" * 3000)
    b.write_bytes(b"\0" * 2999 + b"\1")
    assert sha256_file(a) != sha256_file(b)


def test_a_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        sha256_file(tmp_path / "absent")
