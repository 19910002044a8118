"""Range and type checks of every setting, each failure one line naming the flag or field.

Settings reach the code from four places: ``slr train`` flags (argparse checks only the type),
``--config`` files (``slr_fused.config`` checks the types), the Python API (``TrainConfig``) and
checkpoints (``SiFormerConfig`` stored as JSON, possibly edited). A value out of range would otherwise surface as an IndexError deep in PyTorch, or train
silently into nonsense (``--d_ff 0``, ``--augmentations_prob 3``).
"""

import dataclasses
import math
from typing import Dict

# (lowest, highest, lowest allowed?, highest allowed?) per numeric setting; None: unbounded.
AT_LEAST_ONE = (1, None, True, True)
NON_NEGATIVE = (0, None, True, True)
POSITIVE = (0, None, False, True)
PROBABILITY = (0, 1, True, True)
DROPOUT = (0, 1, True, False)

TRAIN_RANGES = {
    "epochs": AT_LEAST_ONE, "batch_size": AT_LEAST_ONE, "log_freq": AT_LEAST_ONE,
    "num_classes": AT_LEAST_ONE, "num_frames": AT_LEAST_ONE, "max_frames": AT_LEAST_ONE,
    "num_enc_layers": AT_LEAST_ONE, "num_dec_layers": AT_LEAST_ONE, "d_ff": AT_LEAST_ONE,
    "cross_attn_heads": AT_LEAST_ONE, "num_workers": NON_NEGATIVE, "seed": NON_NEGATIVE,
    "lr": POSITIVE, "weight_decay": NON_NEGATIVE, "scheduler_gamma": POSITIVE,
    "dropout": DROPOUT, "cross_attn_dropout": DROPOUT, "augmentations_prob": PROBABILITY, "gaussian_std": NON_NEGATIVE,
    "mirror": PROBABILITY, "validation_set_size": (0, 1, False, False),
    "experimental_train_split": (0, 1, False, True),
    "lambda_consistency": NON_NEGATIVE, "lambda_alignment": NON_NEGATIVE,
    "cmcl_temperature": POSITIVE, "cmcl_warmup_epochs": NON_NEGATIVE,
    "cmcl_decay_rate": NON_NEGATIVE,
    "speed": DROPOUT, "temporal_crop": DROPOUT, "label_smoothing": DROPOUT, "ema_decay": DROPOUT,
    "warmup_epochs": NON_NEGATIVE,
}

MODEL_RANGES = {
    "num_classes": AT_LEAST_ONE, "num_enc_layers": AT_LEAST_ONE, "num_dec_layers": AT_LEAST_ONE,
    "d_ff": AT_LEAST_ONE, "max_frames": AT_LEAST_ONE, "cross_attn_heads": AT_LEAST_ONE,
    "dec_heads": AT_LEAST_ONE, "dropout": DROPOUT, "cross_attn_dropout": DROPOUT,
}
KERNELS = ("auto", "reference", "triton")
MODES = ("bidirectional", "unidirectional")


def _describe(bounds) -> str:
    low, high, low_ok, high_ok = bounds
    if bounds == AT_LEAST_ONE:
        return "at least 1"
    if high is None:
        return f"{'at least' if low_ok else 'above'} {low}"
    return f"in {'[' if low_ok else '('}{low}, {high}{']' if high_ok else ')'}"


def _in_range(value, bounds) -> bool:
    low, high, low_ok, high_ok = bounds
    if not math.isfinite(value):
        return False
    if value < low or (value == low and not low_ok):
        return False
    return high is None or value < high or (value == high and high_ok)


def check_value(name: str, value, bounds) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number {_describe(bounds)}, got {value!r}")
    if not _in_range(value, bounds):
        raise ValueError(f"{name} must be {_describe(bounds)}, got {value!r}")


def check_train_config(config) -> None:
    """Every numeric TrainConfig field against its range; ValueError naming the flag."""
    for name, bounds in TRAIN_RANGES.items():
        if hasattr(config, name):
            check_value(f"--{name}", getattr(config, name), bounds)
    if config.scheduler_milestones is not None:
        for milestone in config.scheduler_milestones:
            check_value("--scheduler_milestones", milestone, AT_LEAST_ONE)
    if config.kernel not in KERNELS:
        raise ValueError(f"--kernel must be one of {', '.join(KERNELS)}, got {config.kernel!r}")
    if config.cross_attn_mode not in MODES:
        raise ValueError(f"--cross_attn_mode must be one of {', '.join(MODES)}, "
                         f"got {config.cross_attn_mode!r}")
    if config.canonical_hand not in (None, "left", "right"):
        raise ValueError(f"--canonical_hand must be left or right, got {config.canonical_hand!r}")
    if not str(config.experiment_name).strip():
        raise ValueError("--experiment_name must not be empty")


def check_model_settings(values: Dict, field_types: Dict[str, object]) -> None:
    """Types and ranges of a stored model config (a dict from JSON); ValueError naming the field.

    ``field_types`` maps each field to its default, whose type the stored value must have.
    """
    for name, value in values.items():
        default = field_types.get(name)
        expected = type(default)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif isinstance(default, (tuple, list)):
            ok = isinstance(value, (list, tuple)) and all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value) \
                and len(value) == len(default)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        else:
            ok = True
        if not ok:
            raise ValueError(f"{name} must be {expected.__name__}, got {value!r}")
        if name in MODEL_RANGES:
            check_value(name, value, MODEL_RANGES[name])
    if values.get("kernel", KERNELS[0]) not in KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, got {values['kernel']!r}")
    if values.get("cross_attn_mode", "bidirectional") not in MODES:
        raise ValueError(f"cross_attn_mode must be one of {', '.join(MODES)}, "
                         f"got {values['cross_attn_mode']!r}")


def model_field_defaults(config_class) -> Dict[str, object]:
    """Each field's default (num_classes, which has none, as an int)."""
    defaults = {}
    for field in dataclasses.fields(config_class):
        defaults[field.name] = 0 if field.default is dataclasses.MISSING else field.default
    return defaults
