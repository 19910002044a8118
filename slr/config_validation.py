"""Consistency of a whole TrainConfig, checked before any work starts (one message each).

:mod:`slr_fused.config_checks` checks each setting's type and range; this adds the rules that
involve several settings, the recipe name, and what the fused kernels can train.
"""

from .config import AMP_CHOICES, VALIDATION_CHOICES, TrainConfig
from .config_checks import check_train_config
from .models.cross_modal import dropout_unsupported_message, fused_kernels_have_dropout
from .recipes import recipe_values
from .schedules import LR_SCHEDULES


def validate_config(config: TrainConfig) -> None:
    """Reject inconsistent settings before any work starts, one message each."""
    if config.validation_set not in VALIDATION_CHOICES:
        raise ValueError(f"--validation_set must be one of {VALIDATION_CHOICES}")
    if config.validation_set == "from-file" and config.validation_set_path is None \
            and config.training_set_path is not None:
        raise ValueError("--validation_set from-file needs --validation_set_path")
    check_train_config(config)
    if config.resume and config.overwrite:
        raise ValueError("--resume continues the run, --overwrite deletes it: pass only one")
    if config.amp not in AMP_CHOICES:
        raise ValueError(f"--amp must be bf16 or fp16, got {config.amp!r}")
    if config.num_frames and config.num_frames > config.max_frames:
        raise ValueError(f"--num_frames {config.num_frames} exceeds --max_frames {config.max_frames}")
    for name in ("epochs", "batch_size", "log_freq"):
        if getattr(config, name) < 1:
            raise ValueError(f"--{name} must be at least 1")
    if config.experimental_train_split is not None and not 0 < config.experimental_train_split <= 1:
        raise ValueError("--experimental_train_split must be in (0, 1]")
    if config.mirror is not None and not 0 <= config.mirror <= 1:
        raise ValueError(f"--mirror must be a probability in [0, 1], got {config.mirror}")
    recipe_values(config.recipe)   # speed, crop, smoothing, EMA: ranges in config_checks
    if config.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"--lr_schedule must be one of {LR_SCHEDULES}, got {config.lr_schedule!r}")
    if config.warmup_epochs < 0 or (config.warmup_epochs and config.lr_schedule != "cosine"):
        raise ValueError(f"--warmup_epochs {config.warmup_epochs}: must be >= 0 and needs "
                         f"--lr_schedule cosine (a recipe's warm-up goes with --warmup_epochs 0)")
    if not 0 <= config.cross_attn_dropout < 1:
        raise ValueError(f"--cross_attn_dropout must be in [0, 1), got {config.cross_attn_dropout}")
    if config.kernel == "triton" and config.use_cross_attention and config.cross_attn_dropout > 0 \
            and not fused_kernels_have_dropout():
        raise ValueError(f"--kernel triton: {dropout_unsupported_message(config.cross_attn_dropout)}")
