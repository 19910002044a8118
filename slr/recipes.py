"""Training recipes: named sets of training settings that ``--recipe`` selects.

``wlasl`` is what ``slr train`` runs without ``--recipe`` (:data:`DEFAULT_RECIPE`): made for
many-signer data with few clips per class (WLASL/LSA64-like), it adds mirroring, speed and
temporal-crop augmentation, label smoothing, a warm-up + cosine schedule at a higher rate over 60
epochs, and an EMA of the weights; it also holds on the small single-signer sets (docs/recipes.md).
``seed`` is exactly the defaults of :class:`slr_fused.config.TrainConfig` (the seeds' settings),
so the seeds' command lines mean what they say with ``--recipe seed`` added. Flags given
explicitly override the recipe's values (``--epochs 20`` for a small single-signer set).
"""

from typing import Any, Dict

from .config import TrainConfig, setting_fields

# What `slr train` runs when no --recipe is given (measured: docs/recipes.md). The Python API's
# TrainConfig() keeps the seeds' values; recipe_config(DEFAULT_RECIPE) is slr train's default.
DEFAULT_RECIPE = "wlasl"

RECIPES: Dict[str, Dict[str, Any]] = {
    "wlasl": {
        "epochs": 60,            # the length measured on wlasl30 (the cosine spans the whole run)
        "mirror": 0.5,
        "speed": 0.2,
        "temporal_crop": 0.2,
        "label_smoothing": 0.1,
        "lr_schedule": "cosine",
        "warmup_epochs": 5,
        "lr": 3e-4,
        "weight_decay": 0.01,
        "ema_decay": 0.99,
    },
}
# The seed recipe names its values for every setting another recipe sets (TrainConfig's defaults),
# so that applying it over another recipe's values puts the seeds' back.
_SEED_DEFAULTS = {f.name: f.default for _, _, f in setting_fields()}
RECIPES["seed"] = {name: _SEED_DEFAULTS[name]
                   for values in RECIPES.values() for name in values}

# The seed values of settings added with the recipes: checkpoints written before they existed
# hold none, and --resume reads them as these.
ADDED_SETTINGS = {"recipe": "seed", "speed": 0.0, "temporal_crop": 0.0, "label_smoothing": 0.0,
                  "lr_schedule": "multistep", "warmup_epochs": 0, "ema_decay": 0.0}


def recipe_values(name: str) -> Dict[str, Any]:
    if name not in RECIPES:
        raise ValueError(f"--recipe must be one of {sorted(RECIPES)}, got {name!r}")
    return dict(RECIPES[name])


def recipe_config(name: str = "seed", **explicit) -> TrainConfig:
    """A TrainConfig of recipe ``name`` with the ``explicit`` settings overriding it."""
    return TrainConfig(**{**recipe_values(name), **explicit, "recipe": name})
