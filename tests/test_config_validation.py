"""Rules across several TrainConfig settings (slr/config_validation.py), one message each."""

import dataclasses

import pytest

from slr_fused.config import TrainConfig
from slr_fused.config_validation import validate_config


def test_the_defaults_are_consistent():
    validate_config(TrainConfig())


@pytest.mark.parametrize("changes, message", [
    (dict(validation_set="maybe"), "--validation_set must be one of"),
    (dict(validation_set="from-file", training_set_path="train.csv"),
     "--validation_set from-file needs --validation_set_path"),
    (dict(resume=True, overwrite=True), "pass only one"),
    (dict(num_frames=300, max_frames=256), "--num_frames 300 exceeds --max_frames 256"),
    (dict(lr_schedule="cosine", warmup_epochs=-1), "--warmup_epochs must be at least 0, got -1"),
    (dict(lr_schedule="multistep", warmup_epochs=2), "needs --lr_schedule cosine"),
])
def test_inconsistent_settings_are_one_value_error(changes, message):
    config = dataclasses.replace(TrainConfig(), **changes)
    with pytest.raises(ValueError, match=message):
        validate_config(config)


def test_consistent_combinations_pass():
    validate_config(dataclasses.replace(TrainConfig(), lr_schedule="cosine", warmup_epochs=2))
    validate_config(dataclasses.replace(TrainConfig(), num_frames=256, max_frames=256))
    validate_config(dataclasses.replace(TrainConfig(), validation_set="from-file",
                                        training_set_path="t.csv", validation_set_path="v.csv"))
