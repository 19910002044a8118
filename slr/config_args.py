"""The ``slr train`` flags, generated from the configuration model (:mod:`slr_fused.config`).

Every setting becomes ``--<name>`` with the field's default, help text and argparse options; the
type comes from the annotation (``bool`` settings take the seeds' ``--use_cmcl True`` spelling as
well as a bare ``--use_cmcl``). Where values come from, lowest first:

1. the defaults (:data:`~slr_fused.recipes.DEFAULT_RECIPE`'s values where it sets one, the
   seeds' elsewhere), or the file given with ``--config``;
2. the recipe's values (``--recipe``, default ``wlasl``; with ``--config`` only when ``--recipe``
   is given);
3. the flags written on the command line, even at their default value.
"""

import argparse
import dataclasses
import typing
from typing import Iterable, Optional

from .config import GROUPS, TrainConfig, load_config_file, setting_fields
from .models.cross_modal import fused_kernels_have_dropout
from .recipes import DEFAULT_RECIPE, RECIPES, recipe_values

CONFIG_HELP = ("a run's config.json (or a JSON file of settings, grouped as in config.json or "
               "flat): train with its settings; flags given as well override them, --recipe "
               "applies its values over them (default: none)")


def str2bool(value) -> bool:
    """The seeds' boolean spelling (``--use_cmcl True``) as well as bare flags."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "y", "on"):
        return True
    if text in ("false", "0", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (True/False), got {value!r}")


def _help_context() -> dict:
    """Values the help texts name that live elsewhere (the recipes, the kernels' abilities)."""
    return {"wlasl": ", ".join(f"--{k} {v}" for k, v in RECIPES["wlasl"].items()),
            "dropout_note": "" if fused_kernels_have_dropout() else
            " (the fused kernels have none yet: --kernel auto then trains the block with the reference)"}


def _argparse_options(f: dataclasses.Field, hint, context: dict) -> dict:
    """add_argument keywords of one setting: type from the annotation, the rest from metadata."""
    options = {k: v for k, v in f.metadata.items() if k != "help"}
    help_text = f.metadata["help"]
    help_text = help_text.format(**context) if "{" in help_text else help_text
    optional = typing.get_origin(hint) is typing.Union
    base = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
    if base is bool:
        options.update(type=str2bool, nargs="?", const=True, metavar="BOOL")
        if "(default:" not in help_text:
            help_text += f" (default: {f.default})"
    elif typing.get_origin(base) is tuple:
        options.update(type=typing.get_args(base)[0], nargs="+")
    elif base in (int, float):
        options["type"] = base
    if f.name == "recipe":
        options["choices"] = sorted(RECIPES)
    elif f.name in RECIPES[DEFAULT_RECIPE]:
        # slr train's default is the default recipe's value; --help shows the seeds' beside it
        seed_value = RECIPES["seed"][f.name]
        help_text += f" [--recipe seed: {'off' if seed_value is None else seed_value}]"
    return {"default": flag_default(f), "help": help_text, **options}


def flag_default(f: dataclasses.Field):
    """A setting's value in ``slr train`` when neither a flag nor a file gives one: the default
    recipe's where it sets one, else the field's default (the seeds')."""
    if f.name == "recipe":
        return DEFAULT_RECIPE
    return RECIPES[DEFAULT_RECIPE].get(f.name, f.default)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Every setting of TrainConfig as a flag, in its group, plus ``--config``."""
    context = _help_context()
    hints = {}
    for _, cls, _ in GROUPS:
        hints.update(typing.get_type_hints(cls))
    groups = {}
    for group, title, f in setting_fields():
        if group not in groups:
            groups[group] = parser.add_argument_group(title)
        groups[group].add_argument(f"--{f.name}", **_argparse_options(f, hints[f.name], context))
    parser.add_argument("--config", default=None, metavar="JSON", help=CONFIG_HELP)


def explicitly_given(argv: Iterable[str], add_more=None) -> set:
    """The settings written on the command line (even with their default value).

    ``add_more(parser)`` adds further flags (other than the settings) the command line may hold.
    """
    parser = argparse.ArgumentParser(add_help=False)
    add_config_arguments(parser)
    if add_more is not None:
        add_more(parser)
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    given, _ = parser.parse_known_args(list(argv))
    return set(vars(given)) & set(TrainConfig.setting_names())


def config_from_args(args: argparse.Namespace, given: Optional[set] = None) -> TrainConfig:
    """The TrainConfig of parsed flags (see the module docstring for the order).

    ``given`` is :func:`explicitly_given`; None treats every parsed value that differs from its
    flag's default (:func:`flag_default`) as given.
    """
    names = TrainConfig.setting_names()
    parsed = {k: v for k, v in vars(args).items() if k in names}
    if given is None:
        defaults = {f.name: flag_default(f) for _, _, f in setting_fields()}
        given = {k for k, v in parsed.items() if v != defaults[k]}
    given = set(given)
    config_file = getattr(args, "config", None)
    if config_file is None:
        values, recipe_applies = dict(parsed), True
    else:
        values = load_config_file(config_file).flat_dict()
        values.update({k: parsed[k] for k in given})
        recipe_applies = "recipe" in given
    if recipe_applies:
        for name, value in recipe_values(values["recipe"]).items():
            if name not in given:
                values[name] = value
    if values["scheduler_milestones"] is not None:
        values["scheduler_milestones"] = tuple(values["scheduler_milestones"])
    return TrainConfig(**values)

