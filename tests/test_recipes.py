"""--recipe: wlasl is slr train's default, seed keeps the seeds' values (TrainConfig's defaults),
explicit flags win."""

import pytest

from slr_fused.cli import build_parser, explicitly_given, main, train_config_from_args
from slr_fused.config import TrainConfig
from slr_fused.config_validation import validate_config
from slr_fused.recipes import ADDED_SETTINGS, DEFAULT_RECIPE, RECIPES, recipe_config


def _config(argv):
    args = build_parser().parse_args(argv)
    return train_config_from_args(args, explicitly_given(argv))


def test_seed_recipe_is_exactly_the_python_defaults():
    # it names the seeds' value of every setting another recipe sets, and nothing else
    assert set(RECIPES["seed"]) == set().union(*(v for k, v in RECIPES.items() if k != "seed"))
    assert recipe_config("seed") == TrainConfig()
    assert _config(["train", "--recipe", "seed"]) == TrainConfig()
    assert _config(["train", "--recipe", "seed", "--lr", "3e-4"]).lr == 3e-4
    defaults = TrainConfig()
    assert {k: getattr(defaults, k) for k in ADDED_SETTINGS} == ADDED_SETTINGS


def test_slr_train_runs_the_default_recipe_and_its_help_shows_the_seed_values():
    assert DEFAULT_RECIPE == "wlasl"
    assert _config(["train"]) == recipe_config("wlasl") == _config(["train", "--recipe", "wlasl"])
    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["train"]
                         .format_help().split())
    assert "--lr LR AdamW learning rate (default: 0.0003) [--recipe seed: 0.0001]" in help_text


def test_wlasl_recipe_sets_its_values_and_records_its_name():
    config = _config(["train", "--recipe", "wlasl"])
    assert config.recipe == "wlasl"
    for name, value in RECIPES["wlasl"].items():
        assert getattr(config, name) == value
    assert config == recipe_config("wlasl")
    validate_config(config)
    untouched = set(TrainConfig.setting_names()) - set(RECIPES["wlasl"]) - {"recipe"}
    assert all(getattr(config, k) == getattr(TrainConfig(), k) for k in untouched)


def test_explicit_flags_override_the_recipe_even_at_their_default_value():
    config = _config(["train", "--recipe", "wlasl", "--lr", "1e-4", "--mirr", "0",
                      "--ema_decay=0", "--epochs", "7"])
    assert config.lr == 1e-4 == TrainConfig().lr       # the seed default, given explicitly
    assert config.mirror == 0.0 and config.ema_decay == 0.0 and config.epochs == 7
    assert config.speed == RECIPES["wlasl"]["speed"]
    assert explicitly_given(["train", "--experiment_name", "train", "--seed", "3"]) == \
        {"experiment_name", "seed"}


@pytest.mark.parametrize("flags, message", [
    (["--recipe", "fast"], "invalid choice"),
    (["--speed", "1.5"], "--speed must be in"),
    (["--label_smoothing", "-0.1"], "--label_smoothing must be in"),
    (["--recipe", "seed", "--warmup_epochs", "2"], "--warmup_epochs"),
    (["--recipe", "wlasl", "--lr_schedule", "multistep"], "--warmup_epochs"),
])
def test_bad_recipe_settings_are_one_line(flags, message, tmp_path, capsys):
    with pytest.raises(SystemExit) if "invalid choice" in message else _no_raise():
        code = main(["train", "--runs_dir", str(tmp_path), "--epochs", "1", *flags])
        assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_wlasl_recipe_runs_the_measured_60_epochs_unless_told_otherwise():
    # docs/recipes.md's wlasl30 numbers are 60-epoch runs of `slr train --recipe wlasl`
    assert _config(["train", "--recipe", "wlasl"]).epochs == 60
    assert _config(["train", "--recipe", "wlasl", "--epochs", "20"]).epochs == 20
    assert _config(["train"]).epochs == 60
    assert _config(["train", "--recipe", "seed"]).epochs == TrainConfig().epochs == 100  # the seeds'


def test_the_seed_recipe_over_a_wlasl_config_file_puts_the_seeds_values_back(tmp_path):
    import json
    path = tmp_path / "config.json"
    path.write_text(json.dumps(recipe_config("wlasl", seed=5).flat_dict()))
    assert _config(["train", "--config", str(path)]) == recipe_config("wlasl", seed=5)
    assert _config(["train", "--config", str(path), "--recipe", "seed"]) == TrainConfig(seed=5)

