"""Saving and loading trained models safely.

A model file is one ``torch.save`` of plain data (tensors, strings, numbers, lists), so it loads
with ``torch.load(weights_only=True)``: loading never unpickles arbitrary objects. The architecture
and class names are stored as JSON beside the weights so evaluation, export and prediction can
rebuild the model without the training flags. Writes go through a temporary file and a rename, so
an interrupted save never destroys the previous file.
"""

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch

from .atomic import atomic_write
from .models.siformer import SiFormer, SiFormerConfig

FORMAT = "slr-fused-model"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A model file that is missing, corrupt, not ours, or does not fit the requested model."""


def atomic_torch_save(obj: Any, path) -> Path:
    return atomic_write(path, lambda handle: torch.save(obj, handle))


def _model_payload(model: SiFormer, class_names, metadata) -> Dict[str, Any]:
    """Weights, architecture and class names as plain data (what load_model reads)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(model.config.to_dict()),
        "class_names": json.dumps(list(class_names) if class_names else None),
        "metadata": json.dumps(metadata or {}),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }


def save_model(path, model: SiFormer, class_names: Optional[List[str]] = None,
               metadata: Optional[Dict[str, Any]] = None) -> Path:
    """Write weights + architecture + class names; returns the path written."""
    return atomic_torch_save(_model_payload(model, class_names, metadata), path)


def read_model_file(path) -> Dict[str, Any]:
    """The raw payload of a model file, validated; one clear error for each failure."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such model file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"{path}: not a readable slr-fused model file (corrupt, truncated or "
                              f"another format): {type(error).__name__}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an slr-fused model file (no '{FORMAT}' marker)")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: written by a newer slr-fused (format "
                              f"{payload['format_version']}); upgrade to load it")
    return payload


def load_model(path, device="cpu", kernel: Optional[str] = None) -> Tuple[SiFormer, Dict[str, Any]]:
    """Rebuild a saved model. Returns (model in eval mode, info with config/class_names/metadata)."""
    payload = read_model_file(path)
    try:
        config = SiFormerConfig.from_dict(json.loads(payload["config"]))
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: the stored model settings are invalid ({error})") from None
    if kernel is not None:
        config.kernel = kernel
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a head adjustment was already reported at training time
        model = SiFormer(config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        first = str(error).splitlines()[0:3]
        raise CheckpointError(f"{path}: weights do not match the stored architecture: "
                              f"{' '.join(first)}") from None
    model.to(device).eval()
    info = {"config": config, "class_names": _stored_class_names(path, payload),
            "metadata": _stored_json(path, payload, "metadata", "{}", dict)}
    return model, info


def _stored_json(path, payload: Dict[str, Any], key: str, default: str, kind):
    """A JSON field of a model file, or a CheckpointError naming the field."""
    text = payload.get(key, default)
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        raise CheckpointError(f"{path}: the stored {key} are not valid JSON "
                              f"({str(text)[:40]!r})") from None
    if value is not None and not isinstance(value, kind):
        raise CheckpointError(f"{path}: the stored {key} must be a JSON {kind.__name__}, "
                              f"got {type(value).__name__}")
    return value


def _stored_class_names(path, payload: Dict[str, Any]):
    names = _stored_json(path, payload, "class_names", "null", list)
    if names is not None and not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"{path}: the stored class_names must be a list of strings")
    return names


def _rng_state() -> Dict[str, Any]:
    """Every random stream a training step draws from, as plain tensors and numbers."""
    import random

    import numpy as np
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                       "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: Dict[str, Any]) -> None:
    import random

    import numpy as np
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _plain_scheduler_state(state: Dict[str, Any]) -> Dict[str, Any]:
    # MultiStepLR keeps its milestones in a collections.Counter, which the safe loader refuses.
    return {k: (dict(v) if k == "milestones" else v) for k, v in state.items()}


def save_training_checkpoint(path, model, optimizer, scheduler, epoch: int, class_names,
                             train_config: Dict[str, Any], best: Dict[str, Any],
                             grad_scaler=None, history: Optional[List[Dict[str, Any]]] = None,
                             extra: Optional[Dict[str, Any]] = None) -> Path:
    """A model file (loadable by load_model) that also holds everything --resume needs.

    ``history`` (the metrics of every epoch so far) travels inside the checkpoint, so a crash
    before metrics.jsonl is written loses nothing: --resume replays it from here. ``extra``
    (plain data) is kept in the training state too, e.g. the raw weights beside an EMA.
    """
    payload = _model_payload(model, class_names,
                             {"train_config": train_config, "epoch": epoch, "best": best})
    payload["training"] = {
            "epoch": epoch,
            "optimizer": optimizer.state_dict(),
            "scheduler": _plain_scheduler_state(scheduler.state_dict()),
            "rng": _rng_state(),
            "best": json.dumps(best),
            "train_config": json.dumps(train_config),
            "grad_scaler": grad_scaler.state_dict() if grad_scaler is not None else None,
            "history": json.dumps(history) if history is not None else None,
            **(extra or {}),
    }
    return atomic_torch_save(payload, path)


def load_training_checkpoint(path) -> Dict[str, Any]:
    """The training state of a checkpoint written by save_training_checkpoint."""
    payload = read_model_file(path)
    if "training" not in payload:
        raise CheckpointError(f"{path}: a final model file, not a training checkpoint (no optimizer "
                              f"state); resume from runs/<name>/checkpoints/last.pt")
    training = dict(payload["training"])
    try:
        training["best"] = json.loads(training["best"])
        training["train_config"] = json.loads(training["train_config"])
        training["history"] = json.loads(training["history"]) if training.get("history") else None
    except (TypeError, ValueError, KeyError):
        raise CheckpointError(f"{path}: the stored training state is damaged (best, train_config "
                              f"or history is not JSON)") from None
    training["state_dict"] = payload["state_dict"]
    training["class_names"] = _stored_class_names(path, payload)
    return training


def restore_training_state(training: Dict[str, Any], model, optimizer, scheduler, grad_scaler=None) -> None:
    from collections import Counter
    model.load_state_dict(training["state_dict"])
    optimizer.load_state_dict(training["optimizer"])
    scheduler_state = dict(training["scheduler"])
    if "milestones" in scheduler_state:
        scheduler_state["milestones"] = Counter(scheduler_state["milestones"])
    scheduler.load_state_dict(scheduler_state)
    if grad_scaler is not None and training.get("grad_scaler"):
        grad_scaler.load_state_dict(training["grad_scaler"])
    _restore_rng(training["rng"])
