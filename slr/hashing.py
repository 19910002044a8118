"""One file hasher for everything that fingerprints a file: model trust, export metadata, the CSV
parse cache (checkpoints, engines and CSVs can be large, so it reads in blocks)."""

import hashlib


def sha256_file(path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
