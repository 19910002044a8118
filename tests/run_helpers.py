"""Helpers of the tests that compare training runs (tests/test_training.py, tests/test_runs.py)."""

import json
from pathlib import Path

TIMING = ("epoch_seconds", "samples_per_second")   # differ between any two runs


def metrics_without_timing(run_dir):
    """metrics.jsonl's records with the wall-clock fields removed, for comparing runs."""
    records = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    for record in records:
        for key in TIMING:
            record.pop(key)
    return records
