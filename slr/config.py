"""The training configuration: one model, from which the ``slr train`` flags are generated.

A :class:`TrainConfig` is five groups of settings: ``data`` (what is read and how it is
augmented), ``model`` (the SiFormer architecture), ``cmcl`` (the cross-modal consistency loss),
``optim`` (optimiser, schedule, batch) and ``run`` (where the run lives, device, seed, recipe).
Each setting is a dataclass field whose name is its flag (``--d_ff``), whose default is the one
default of that setting, and whose metadata holds the flag's help text and argparse options;
:mod:`slr_fused.config_args` turns them into the parser. The architecture defaults are read from
:class:`~slr_fused.models.siformer.SiFormerConfig`, so a model built in Python and a model
trained by ``slr train`` start from the same values.

Settings are also reachable flat (``config.d_ff``, ``TrainConfig(epochs=3, d_ff=32)``), as the
flags are: a setting's name is unique across the groups. ``config.json`` of a run stores
:meth:`TrainConfig.to_dict` (the groups) under ``"train"``; :meth:`TrainConfig.from_dict` reads
that, a flat ``{flag: value}`` mapping, and the flat ``"train"`` record of runs written before the
groups existed.
"""

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple

from .models.cross_modal import BACKENDS
from .models.siformer import SiFormerConfig
from .schedules import LR_SCHEDULES

VALIDATION_CHOICES = ("auto", "from-file", "split-from-train", "none")
AMP_CHOICES = (None, "bf16", "fp16")
CROSS_ATTN_MODES = ("bidirectional", "unidirectional")

# Settings that may change when resuming; everything else must match the checkpoint.
RESUMABLE_CHANGES = frozenset({"epochs", "resume", "overwrite", "device", "num_workers", "progress",
                               "runs_dir", "log_freq", "save_checkpoints"})

# Actions, not settings: never taken from a config file (replaying a run must not delete it).
COMMAND_ONLY = frozenset({"resume", "overwrite"})

# Runs written before these settings existed were trained with these values.
LEGACY_VALUES = {"cross_attn_dropout": 0.0}

_ARCHITECTURE = {f.name: f.default for f in dataclasses.fields(SiFormerConfig)}


def setting(default, help: str, **argparse_options) -> Any:
    """A dataclass field carrying its flag's help text and argparse options (``choices``,
    ``nargs``, ``const``, ``metavar``); ``help`` may hold ``%(default)s`` as argparse's does."""
    return field(default=default, metadata={"help": help, **argparse_options})


def architecture(name: str, help: str, **argparse_options) -> Any:
    """A model setting whose default is SiFormerConfig's (stated once, there)."""
    return setting(_ARCHITECTURE[name], help, **argparse_options)


@dataclass
class DataSettings:
    """What is trained and evaluated on, and how training samples are augmented."""

    training_set_path: Optional[str] = setting(
        None, "training CSV (SPOTER/Siformer format); omitted: the bundled synthetic demo data")
    validation_set_path: Optional[str] = setting(None, "validation CSV (default: none, or the demo's)")
    testing_set_path: Optional[str] = setting(None, "test CSV (default: none, or the demo's)")
    validation_set: str = setting(
        "auto", "where validation data comes from; auto = from-file when --validation_set_path is "
                "given, else none (default: %(default)s)", choices=VALIDATION_CHOICES)
    validation_set_size: float = setting(
        0.2, "fraction of the training set held out by split-from-train (default: %(default)s)")
    experimental_train_split: Optional[float] = setting(
        None, "train on this stratified fraction of the training set (default: all)")
    num_classes: Optional[int] = setting(None, "number of classes (default: inferred from the labels)")
    num_frames: Optional[int] = setting(
        None, "resample every sample to this many frames, e.g. 204 as in Siformer (default: keep "
              "lengths, pad per batch with a mask)")
    augmentations: bool = setting(True, "SPOTER augmentations on the training set")
    augmentations_prob: float = setting(0.5, "probability of augmenting a sample (default: %(default)s)")
    gaussian_std: float = setting(
        0.001, "std of Gaussian noise on normalised coordinates (default: %(default)s)")
    mirror: Optional[float] = setting(
        None, "mirror training samples with probability P (flip x, swap hands and left/right "
              "joints; P = 0.5 when given bare; default: %(default)s)", nargs="?", const=0.5,
        metavar="P")
    canonical_hand: Optional[str] = setting(
        None, "mirror samples whose dominant hand is the other one, in every split (default: off)",
        choices=("left", "right"))
    speed: float = setting(
        0.0, "play training samples at a random speed in [1 - S, 1 + S] (default: %(default)s, off)")
    temporal_crop: float = setting(
        0.0, "crop up to this fraction of a training sample's frames, split at random between its "
             "start and end (default: %(default)s, off)")
    num_workers: int = setting(0, "DataLoader worker processes (default: %(default)s)")


@dataclass
class OptimSettings:
    """Optimiser (AdamW), learning-rate schedule, loss smoothing, weight averaging, batch."""

    epochs: int = setting(100, "epochs (default: %(default)s)")
    lr: float = setting(1e-4, "AdamW learning rate (default: %(default)s)")
    weight_decay: float = setting(1e-8, "AdamW weight decay (default: %(default)s)")
    batch_size: int = setting(24, "batch size (default: %(default)s)")   # global: split over torchrun ranks
    scheduler_milestones: Optional[Tuple[int, ...]] = setting(
        None, "MultiStepLR epochs where the lr is multiplied by --scheduler_gamma (default: 60%% and "
              "80%% of --epochs, i.e. 60 80 for 100 epochs)")
    scheduler_gamma: float = setting(0.1, "lr factor at each milestone (default: %(default)s)")
    lr_schedule: str = setting(
        "multistep", "multistep (the seeds', see --scheduler_milestones) or cosine (linear warm-up, "
                     "then half a cosine to 0) (default: %(default)s)", choices=LR_SCHEDULES)
    warmup_epochs: int = setting(
        0, "epochs of linear lr warm-up of --lr_schedule cosine (default: %(default)s)")
    label_smoothing: float = setting(0.0, "label smoothing of the cross-entropy (default: %(default)s)")
    ema_decay: float = setting(
        0.0, "> 0: keep an exponential moving average of the weights with this decay per step and "
             "evaluate/save it (default: %(default)s, off)")


@dataclass
class ModelSettings:
    """SiFormer's architecture (all of SiFormerConfig but the class count and head split)."""

    num_enc_layers: int = architecture("num_enc_layers", "encoder layers per modality (default: %(default)s)")
    num_dec_layers: int = architecture("num_dec_layers", "decoder layers (default: %(default)s)")
    d_ff: int = architecture("d_ff", "feed-forward width (default: %(default)s)")
    dropout: float = architecture("dropout", "dropout (default: %(default)s)")
    max_frames: int = architecture(
        "max_frames", "positional table length; longer samples are resampled down (default: %(default)s)")
    use_cross_attention: bool = architecture("use_cross_attention", "BMHCMA after the encoders")
    cross_attn_heads: int = architecture(
        "cross_attn_heads", "BMHCMA heads, 1, 2, 3 or 6; others are adjusted down (default: %(default)s)")
    cross_attn_dropout: float = architecture(
        "cross_attn_dropout", "dropout on BMHCMA's attention probabilities while training, as the "
                              "seed's 0.1; 0 turns it off{dropout_note} (default: %(default)s)")
    cross_attn_mode: str = architecture(
        "cross_attn_mode", "unidirectional: the hands attend to the body (lh <- body, rh <- body), "
                           "the body passes through (default: %(default)s)", choices=CROSS_ATTN_MODES)
    use_gating: bool = architecture("use_gating", "sigmoid gate in BMHCMA")
    cross_attn_directions: str = architecture(
        "cross_attn_directions", "all, hands (lh<->rh), hands-body, or a comma list such as "
                                 "lh_from_rh,body_from_lh (default: %(default)s)")
    kernel: str = architecture(
        "kernel", "BMHCMA backend; auto = triton on CUDA when available (default: %(default)s)",
        choices=BACKENDS)


@dataclass
class CMCLSettings:
    """The cross-modal consistency loss (off by default, as in the CMCL seed)."""

    use_cmcl: bool = setting(False, "cross-modal consistency loss")
    lambda_consistency: float = setting(
        0.1, "weight of the attention-consistency KL (default: %(default)s)")
    lambda_alignment: float = setting(0.05, "weight of the feature-alignment term (default: %(default)s)")
    cmcl_temperature: float = setting(
        1.0, "softening temperature of the attention maps (default: %(default)s)")
    use_adaptive_cmcl: bool = setting(
        False, "CMCL weights rise linearly over the warm-up, then decay exponentially")
    cmcl_warmup_epochs: int = setting(10, "adaptive CMCL warm-up epochs (default: %(default)s)")
    cmcl_decay_rate: float = setting(
        0.05, "adaptive CMCL exponential decay rate per epoch (default: %(default)s)")


@dataclass
class RunSettings:
    """Where the run lives, what it runs on, its seed and recipe, and what it writes."""

    experiment_name: str = setting(
        "slr_experiment", "name of the run; the model is saved to <runs_dir>/<name>/ (default: %(default)s)")
    runs_dir: str = setting("runs", "folder of runs (default: %(default)s)")
    recipe: str = setting(
        "seed", "wlasl: settings for many-signer data with few clips per class, measured to hold on "
                "small single-signer sets too ({wlasl}); seed: the seeds' settings (each flag's "
                "[--recipe seed: ...] value, and TrainConfig's defaults in Python); flags given "
                "explicitly override the recipe (default: %(default)s)")
    seed: int = setting(379, "random seed (default: %(default)s)")
    device: str = setting("auto", "auto, cpu, cuda or cuda:N (default: %(default)s)")
    amp: Optional[str] = setting(
        None, "mixed precision on CUDA; bf16 also on CPUs with AVX512-BF16/AMX (default: off)",
        choices=("bf16", "fp16"))
    save_checkpoints: bool = setting(
        True, "write checkpoints/last.pt every epoch and checkpoints/best.pt (best validation top-1)")
    log_freq: int = setting(1, "print the epoch summary every N epochs (default: %(default)s)")
    progress: Optional[bool] = setting(None, "progress bars (default: only on a terminal)")
    resume: bool = setting(False, "continue the run from <runs_dir>/<experiment_name>/checkpoints/last.pt")
    overwrite: bool = setting(
        False, "delete an existing run of this name and start again (without it, an existing run "
               "needs --resume)")


# (attribute, settings class, title of its group in ``slr train --help``), in help order.
GROUPS = (("data", DataSettings, "data"), ("optim", OptimSettings, "optimisation"),
          ("model", ModelSettings, "model"), ("cmcl", CMCLSettings, "CMCL loss"),
          ("run", RunSettings, "run"))
GROUP_CLASSES = {name: cls for name, cls, _ in GROUPS}
# setting name -> its group's attribute; names are unique across the groups (they are the flags).
SETTING_GROUP = {f.name: group for group, cls, _ in GROUPS for f in dataclasses.fields(cls)}
if len(SETTING_GROUP) != sum(len(dataclasses.fields(cls)) for _, cls, _ in GROUPS):
    raise RuntimeError("slr_fused.config: a setting name is used in two groups")


class ConfigError(ValueError):
    """A config file or mapping that cannot be read as a TrainConfig (one line, naming the key)."""


@dataclass(init=False)
class TrainConfig:
    """Every training setting, in five groups; flat access by setting name also works."""

    data: DataSettings
    optim: OptimSettings
    model: ModelSettings
    cmcl: CMCLSettings
    run: RunSettings

    def __init__(self, data: Optional[DataSettings] = None, optim: Optional[OptimSettings] = None,
                 model: Optional[ModelSettings] = None, cmcl: Optional[CMCLSettings] = None,
                 run: Optional[RunSettings] = None, **settings):
        given = {"data": data, "optim": optim, "model": model, "cmcl": cmcl, "run": run}
        for name, cls, _ in GROUPS:   # copies: two configs never share a group
            value = given[name]
            object.__setattr__(self, name, cls() if value is None else dataclasses.replace(value))
        for name, value in settings.items():
            if name not in SETTING_GROUP:
                raise TypeError(f"TrainConfig has no setting {name!r}")
            setattr(getattr(self, SETTING_GROUP[name]), name, value)

    def __getattr__(self, name: str):   # only called when normal lookup fails: a flat name
        group = SETTING_GROUP.get(name)
        if group is None:
            raise AttributeError(f"TrainConfig has no setting {name!r}")
        return getattr(object.__getattribute__(self, group), name)

    def __setattr__(self, name: str, value) -> None:
        group = SETTING_GROUP.get(name)
        if group is None:
            object.__setattr__(self, name, value)
        else:
            setattr(getattr(self, group), name, value)

    def items(self) -> Iterator[Tuple[str, Any]]:
        """(setting name, value) of every setting, in help order."""
        for group, cls, _ in GROUPS:
            for f in dataclasses.fields(cls):
                yield f.name, getattr(getattr(self, group), f.name)

    def to_dict(self) -> Dict[str, Dict[str, Any]]:
        """The groups as JSON-ready dicts (what config.json stores under "train")."""
        return {group: {k: _jsonable(v) for k, v in dataclasses.asdict(getattr(self, group)).items()}
                for group, _, _ in GROUPS}

    def flat_dict(self) -> Dict[str, Any]:
        """``{setting: value}``, JSON-ready: the flag view, as checkpoints store it."""
        return {k: _jsonable(v) for k, v in self.items()}

    @classmethod
    def from_dict(cls, values: Mapping, source: str = "config") -> "TrainConfig":
        """A TrainConfig from groups (``to_dict``), flat settings (``flat_dict``) or a mix.

        Settings not given keep their defaults; an unknown key or a value of the wrong type is a
        :class:`ConfigError` naming ``source`` and the key.
        """
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: expected a JSON object of settings, got "
                              f"{type(values).__name__}")
        flat = {}
        for key, value in values.items():
            if key in GROUP_CLASSES and isinstance(value, Mapping):
                for name, inner in value.items():
                    if SETTING_GROUP.get(name) != key:
                        raise ConfigError(f"{source}: unknown setting {key}.{name}"
                                          + (f" (it belongs to {SETTING_GROUP[name]})"
                                             if name in SETTING_GROUP else ""))
                    flat[name] = inner
            elif key in SETTING_GROUP:
                flat[key] = value
            else:
                raise ConfigError(f"{source}: unknown setting {key!r} (the settings are the "
                                  f"`slr train` flags, optionally grouped as "
                                  f"{', '.join(GROUP_CLASSES)})")
        hints = _setting_types()
        return cls(**{name: _checked(f"{source}: {name}", value, hints[name])
                      for name, value in flat.items()})

    @classmethod
    def setting_names(cls) -> Tuple[str, ...]:
        return tuple(SETTING_GROUP)


def setting_fields() -> Iterator[Tuple[str, str, dataclasses.Field]]:
    """(group attribute, group title, field) of every setting, in help order."""
    for group, cls, title in GROUPS:
        for f in dataclasses.fields(cls):
            yield group, title, f


def default_of(name: str):
    """The one default of a setting."""
    return getattr(GROUP_CLASSES[SETTING_GROUP[name]](), name)


def build_model_config(config: TrainConfig, num_classes: int) -> SiFormerConfig:
    """The SiFormerConfig the run trains: its model settings and the class count."""
    return SiFormerConfig(num_classes=num_classes, **dataclasses.asdict(config.model))


def load_config_file(path) -> TrainConfig:
    """The TrainConfig of a JSON file: a run's config.json (its "train" record, grouped or, from
    older runs, flat) or a file of settings alone. Resume/overwrite are never read from a file."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"--config {path}: cannot be read ({error})") from None
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"--config {path}: not valid JSON (line {error.lineno}, column "
                          f"{error.colno}: {error.msg})") from None
    if isinstance(values, Mapping) and "train" in values:   # a run's config.json
        values = values["train"]
        if isinstance(values, Mapping) and not any(k in GROUP_CLASSES for k in values):
            values = {**LEGACY_VALUES, **values}   # a flat record of a run from before the groups
        source = f"{path} (train)"
    config = TrainConfig.from_dict(values, source)
    for name in COMMAND_ONLY:
        setattr(config, name, default_of(name))
    return config


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


def _setting_types() -> Dict[str, Any]:
    hints = {}
    for _, cls, _ in GROUPS:
        hints.update(typing.get_type_hints(cls))
    return hints


def _checked(name: str, value, hint):
    """``value`` as the type ``hint`` says (ints accepted for floats, lists for tuples)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Union:   # Optional[X]
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
        args = typing.get_args(hint)
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
    elif typing.get_origin(hint) is tuple:
        ok = isinstance(value, (list, tuple)) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value)
        value = tuple(value) if ok else value
        hint = "a list of integers"
    else:   # pragma: no cover - every setting has one of the types above
        raise TypeError(f"{name}: unsupported setting type {hint}")
    if not ok:
        kind = hint if isinstance(hint, str) else hint.__name__
        raise ConfigError(f"{name} must be {kind}, got {value!r}")
    return value
