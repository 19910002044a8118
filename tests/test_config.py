"""The configuration model: one default per setting, config.json round trip, --config precedence."""

import dataclasses
import json
import re

import pytest

from run_helpers import metrics_without_timing

from slr_fused.cli import build_parser, explicitly_given, main, train_config_from_args
from slr_fused.config import (GROUPS, ConfigError, ModelSettings, TrainConfig, build_model_config,
                              load_config_file)
from slr_fused.models.siformer import SiFormerConfig
from slr_fused.recipes import DEFAULT_RECIPE, RECIPES, recipe_config

TINY = ["--d_ff", "32", "--num_enc_layers", "1", "--num_dec_layers", "1", "--batch_size", "48",
        "--lr", "1e-3", "--device", "cpu", "--seed", "11", "--progress", "False"]


def _config(argv):
    return train_config_from_args(build_parser().parse_args(argv), explicitly_given(argv))


def test_each_model_default_is_siformers():
    """One default per architecture setting: TrainConfig's model group reads SiFormerConfig's."""
    model = SiFormerConfig(num_classes=2)
    for f in dataclasses.fields(ModelSettings):
        assert getattr(TrainConfig(), f.name) == getattr(model, f.name), f.name
    assert TrainConfig().kernel == model.kernel == "auto"
    assert build_parser().parse_args(["train"]).kernel == "auto"
    # every SiFormerConfig field is a setting, but for the class count and the head split
    names = {f.name for f in dataclasses.fields(SiFormerConfig)}
    assert names - {f.name for f in dataclasses.fields(ModelSettings)} == {"num_classes", "enc_heads",
                                                                           "dec_heads"}
    built = build_model_config(TrainConfig(d_ff=17, kernel="reference", cross_attn_heads=2), 9)
    assert (built.d_ff, built.kernel, built.cross_attn_heads, built.num_classes) == (17, "reference", 2, 9)


def test_every_setting_is_a_flag_with_help_and_its_default():
    parser = build_parser()
    train = next(a for a in parser._actions if a.dest == "command").choices["train"]
    actions = {a.dest: a for a in train._actions}
    defaults = recipe_config(DEFAULT_RECIPE)      # what slr train runs without flags
    for name in TrainConfig.setting_names():
        assert actions[name].option_strings == [f"--{name}"] and actions[name].help, name
        assert actions[name].default == getattr(defaults, name), name
    titles = [g.title for g in train._action_groups]
    assert all(title in titles for _, _, title in GROUPS)


def test_grouped_and_flat_views_agree():
    config = TrainConfig(epochs=3, d_ff=32, mirror=0.5, use_cmcl=True, scheduler_milestones=(2, 3))
    assert config.optim.epochs == 3 and config.model.d_ff == 32 and config.cmcl.use_cmcl
    nested = config.to_dict()
    assert set(nested) == {"data", "optim", "model", "cmcl", "run"}
    assert nested["optim"]["scheduler_milestones"] == [2, 3]   # JSON: a list
    assert TrainConfig.from_dict(json.loads(json.dumps(nested))) == config
    assert TrainConfig.from_dict(config.flat_dict()) == config
    assert dataclasses.replace(config, epochs=5).epochs == 5 and config.epochs == 3
    with pytest.raises(TypeError, match="no setting 'epoch'"):
        TrainConfig(epoch=3)


def _run(tmp_path, name, *extra):
    assert main(["train", "--epochs", "2", "--runs_dir", str(tmp_path), "--experiment_name", name,
                 *TINY, *extra]) == 0


def test_config_json_reproduces_the_run(tmp_path, capsys):
    """`slr train --config <run>/config.json` trains the same settings to the same metrics."""
    _run(tmp_path, "a", "--use_cmcl", "--mirror", "--cross_attn_heads", "2")
    first = tmp_path / "a" / "config.json"
    assert main(["train", "--config", str(first), "--experiment_name", "b"]) == 0
    saved = {name: json.loads((tmp_path / name / "config.json").read_text())["train"]
             for name in ("a", "b")}
    assert saved["a"]["run"].pop("experiment_name") == "a"
    assert saved["b"]["run"].pop("experiment_name") == "b"
    assert saved["a"] == saved["b"] and saved["a"]["cmcl"]["use_cmcl"] is True
    assert metrics_without_timing(tmp_path / "a") == metrics_without_timing(tmp_path / "b")


def _settings_file(tmp_path, values, name="settings.json"):
    path = tmp_path / name
    path.write_text(json.dumps(values))
    return str(path)


def test_flags_override_the_config_file_and_the_recipe_only_when_given(tmp_path):
    path = _settings_file(tmp_path, {"optim": {"epochs": 2, "lr": 0.002}, "data": {"mirror": 0.25},
                                     "run": {"recipe": "wlasl", "resume": True, "overwrite": True}})
    config = _config(["train", "--config", path])
    assert (config.epochs, config.lr, config.mirror, config.recipe) == (2, 0.002, 0.25, "wlasl")
    assert config.speed == 0.0             # the file's values stand: the recipe is not re-applied
    assert not config.resume and not config.overwrite   # actions are never read from a file
    config = _config(["train", "--config", path, "--epochs", "100", "--resume"])
    assert config.epochs == 100 and config.lr == 0.002 and config.resume
    config = _config(["train", "--config", path, "--recipe", "wlasl", "--lr", "0.002"])
    assert config.speed == RECIPES["wlasl"]["speed"] and config.mirror == RECIPES["wlasl"]["mirror"]
    assert config.lr == 0.002                      # given beats the recipe
    assert config.epochs == RECIPES["wlasl"]["epochs"] == 60   # the recipe's own length beats the file's
    # a flat file of settings works too
    flat = _settings_file(tmp_path, {"epochs": 4, "d_ff": 16}, "flat.json")
    assert (_config(["train", "--config", flat]).epochs, _config(["train", "--config", flat]).d_ff) == (4, 16)


def test_config_json_of_a_run_from_before_the_groups_reads(tmp_path):
    """Older runs stored the flat flags; one from before --cross_attn_dropout trained without it."""
    old = {f: v for f, v in TrainConfig(epochs=7).flat_dict().items() if f != "cross_attn_dropout"}
    path = _settings_file(tmp_path, {"train": old, "num_classes": 8}, "config.json")
    config = load_config_file(path)
    assert config.epochs == 7 and config.cross_attn_dropout == 0.0


@pytest.mark.parametrize("content, message", [
    ({"optim": {"epochs": 2}, "colour": "red"}, r"unknown setting 'colour'"),
    ({"optim": {"d_ff": 8}}, r"unknown setting optim\.d_ff \(it belongs to model\)"),
    ({"train": {"optim": {"epochs": "ten"}}}, r"\(train\): epochs must be int, got 'ten'"),
    ({"augmentations": "yes"}, r"augmentations must be bool, got 'yes'"),
    ("not json {", r"not valid JSON \(line 1"),
    ([1, 2], r"expected a JSON object of settings, got list"),
    (None, r"--config .*missing\.json: no such file"),
], ids=["unknown", "wrong-group", "type", "bool", "json", "list", "missing"])
def test_a_bad_config_file_is_one_line(tmp_path, capsys, content, message):
    path = tmp_path / ("missing.json" if content is None else "bad.json")
    if content is not None:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ConfigError):
        load_config_file(path)
    assert main(["train", "--config", str(path), "--runs_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and re.search(message, err[0]), err
    assert not (tmp_path / "slr_experiment").exists()
