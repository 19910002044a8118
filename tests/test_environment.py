"""The environment record runs (config.json) and benchmark results share."""

import re

import torch

from slr_fused.environment import device_tag, environment, git_commit


def test_the_record_has_what_a_number_needs_to_be_comparable():
    record = environment(torch.device("cpu"))
    assert record["device"] == device_tag(torch.device("cpu")) == f"cpu-{torch.get_num_threads()}c"
    assert record["torch_device"] == "cpu" and record["versions"]["torch"] == torch.__version__
    assert record["torch_num_threads"] == torch.get_num_threads() and record["cpu"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", record["date"])
    assert record["git_commit"] == git_commit()


def test_git_commit_is_a_hash_or_unknown():
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?|unknown", git_commit())


def test_bench_and_training_use_the_same_definitions():
    from slr_fused.bench import timing
    from slr_fused import devices, environment as env
    assert timing.environment is env.environment and timing.device_tag is env.device_tag
    assert timing.bench_device is devices.resolve_device
