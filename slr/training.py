"""Training and evaluation of SiFormer, as importable functions (the CLI only parses flags).

The defaults follow the seeds: AdamW (lr 1e-4, weight decay 1e-8), MultiStepLR at epochs 60 and
80 (x0.1), cross-entropy or CMCL, top-1 and top-5 on the validation and test sets each epoch.
"""

import dataclasses
import os
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from .checkpoint import save_model
from .data.csv_format import read_class_names
from .data.dataset import PoseDataset, collate_poses
from .data.synthetic import default_demo_folder, write_demo_dataset
from .losses import AdaptiveSchedule, CMCLLoss
from .models.siformer import SiFormer, SiFormerConfig, count_parameters, describe_model


@dataclass
class TrainConfig:
    """Every training setting; field names are the CLI flags (``--training_set_path`` ...)."""

    experiment_name: str = "slr_experiment"
    training_set_path: Optional[str] = None      # None: the bundled synthetic demo data
    validation_set_path: Optional[str] = None
    testing_set_path: Optional[str] = None
    num_classes: Optional[int] = None            # None: inferred from the data
    epochs: int = 100
    lr: float = 1e-4
    weight_decay: float = 1e-8
    batch_size: int = 24
    scheduler_milestones: Tuple[int, ...] = (60, 80)
    scheduler_gamma: float = 0.1
    use_cross_attention: bool = True
    cross_attn_heads: int = 3
    cross_attn_mode: str = "bidirectional"
    use_gating: bool = True
    cross_attn_directions: str = "all"
    kernel: str = "auto"
    use_cmcl: bool = True
    lambda_consistency: float = 0.1
    lambda_alignment: float = 0.05
    cmcl_temperature: float = 1.0
    use_adaptive_cmcl: bool = False
    cmcl_warmup_epochs: int = 10
    cmcl_decay_rate: float = 0.05
    num_enc_layers: int = 3
    num_dec_layers: int = 2
    d_ff: int = 2048
    dropout: float = 0.1
    max_frames: int = 256
    num_frames: Optional[int] = None             # resample every sample to this length
    augmentations: bool = True
    augmentations_prob: float = 0.5
    gaussian_std: float = 0.001
    seed: int = 379
    device: str = "auto"
    num_workers: int = 0
    runs_dir: str = "runs"
    progress: Optional[bool] = None               # None: progress bars only on a terminal


@dataclass
class EpochResult:
    epoch: int
    losses: Dict[str, float]
    metrics: Dict[str, Dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"--device {name}: CUDA is not available on this machine")
    return device


def resolve_data_paths(config: TrainConfig) -> Dict[str, Optional[str]]:
    """The CSVs to use; with no training set, the synthetic demo data (generated once)."""
    if config.training_set_path is None:
        demo = write_demo_dataset(default_demo_folder())
        return {"train": str(demo["train"]),
                "val": config.validation_set_path or str(demo["val"]),
                "test": config.testing_set_path or str(demo["test"])}
    return {"train": config.training_set_path, "val": config.validation_set_path,
            "test": config.testing_set_path}


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks=(1, 5)) -> Dict[int, int]:
    """Number of samples whose label is among the k highest logits, per k (k capped at classes)."""
    ranked = logits.topk(min(max(ks), logits.shape[-1]), dim=-1).indices
    hits = ranked == labels[:, None]
    return {k: int(hits[:, :k].any(-1).sum()) for k in ks}


def batch_to(batch: Dict[str, torch.Tensor], device: torch.device) -> Dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


@torch.no_grad()
def evaluate(model: SiFormer, loader: DataLoader, device: torch.device) -> Dict[str, float]:
    """Top-1 and top-5 accuracy over a loader."""
    model.eval()
    correct, total = {1: 0, 5: 0}, 0
    for batch in loader:
        batch = batch_to(batch, device)
        logits = model(batch["lh"], batch["rh"], batch["body"], batch["padding_mask"])
        for k, n in topk_correct(logits, batch["label"]).items():
            correct[k] += n
        total += len(batch["label"])
    return {"top1": correct[1] / total, "top5": correct[5] / total}


def build_model_config(config: TrainConfig, num_classes: int) -> SiFormerConfig:
    return SiFormerConfig(
        num_classes=num_classes, num_enc_layers=config.num_enc_layers,
        num_dec_layers=config.num_dec_layers, d_ff=config.d_ff, dropout=config.dropout,
        max_frames=config.max_frames, use_cross_attention=config.use_cross_attention,
        cross_attn_heads=config.cross_attn_heads, cross_attn_mode=config.cross_attn_mode,
        use_gating=config.use_gating, cross_attn_directions=config.cross_attn_directions,
        kernel=config.kernel)


def _progress(iterable, enabled: Optional[bool], **kwargs):
    from tqdm.auto import tqdm
    return tqdm(iterable, disable=None if enabled is None else not enabled, leave=False, **kwargs)


def train(config: TrainConfig, log: Callable[[str], None] = print) -> Dict[str, object]:
    """Train a model as configured; returns the final metrics and the path of the saved model."""
    seed_everything(config.seed)
    device = pick_device(config.device)
    paths = resolve_data_paths(config)
    max_frames = None if config.num_frames else config.max_frames
    if config.num_frames and config.num_frames > config.max_frames:
        raise ValueError(f"--num_frames {config.num_frames} exceeds --max_frames {config.max_frames}")
    train_set = PoseDataset(paths["train"], augment=config.augmentations,
                            augmentations_prob=config.augmentations_prob,
                            gaussian_std=config.gaussian_std, num_frames=config.num_frames,
                            max_frames=max_frames)
    eval_sets = {split: PoseDataset(paths[split], num_frames=config.num_frames, max_frames=max_frames)
                 for split in ("val", "test") if paths[split]}

    found = max([train_set.num_classes] + [s.num_classes for s in eval_sets.values()])
    num_classes = config.num_classes or found
    if num_classes < found:
        raise ValueError(f"--num_classes {num_classes} is smaller than the data's labels need "
                         f"({found}: labels go up to {found - 1})")
    class_names = read_class_names(paths["train"], num_classes)

    generator = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True,
                              collate_fn=collate_poses, num_workers=config.num_workers,
                              generator=generator, drop_last=False)
    eval_loaders = {split: DataLoader(s, batch_size=max(config.batch_size, 64), shuffle=False,
                                      collate_fn=collate_poses, num_workers=config.num_workers)
                    for split, s in eval_sets.items()}

    model_config = build_model_config(config, num_classes)
    model = SiFormer(model_config).to(device)
    use_cmcl = config.use_cmcl and config.use_cross_attention
    if config.use_cmcl and not config.use_cross_attention:
        log("Warning: CMCL needs the cross-modal attention block; training with cross-entropy only")
    schedule = (AdaptiveSchedule(config.cmcl_warmup_epochs, config.cmcl_decay_rate)
                if config.use_adaptive_cmcl else None)
    criterion = CMCLLoss(config.lambda_consistency, config.lambda_alignment,
                         config.cmcl_temperature, schedule)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=list(config.scheduler_milestones), gamma=config.scheduler_gamma)

    log(describe_model(model_config))
    if use_cmcl:
        log(f"Using CMCL: lambda_consistency={config.lambda_consistency}, "
            f"lambda_alignment={config.lambda_alignment}, temperature={config.cmcl_temperature}, "
            f"adaptive={'on' if schedule else 'off'}")
    log(f"Data: train {paths['train']} ({len(train_set)} samples), "
        + ", ".join(f"{k} {paths[k]} ({len(s)})" for k, s in eval_sets.items())
        + f"; {num_classes} classes")
    log(f"Parameters: {count_parameters(model):,} (cross-modal block "
        f"{count_parameters(model.cross_modal):,}); device {device}")

    history: List[EpochResult] = []
    for epoch in range(config.epochs):
        model.train()
        start = time.perf_counter()
        sums = {"loss": 0.0, "ce": 0.0, "consistency": 0.0, "alignment": 0.0}
        correct, seen = 0, 0
        parts = {}
        for batch in _progress(train_loader, config.progress, desc=f"epoch {epoch + 1}/{config.epochs}"):
            batch = batch_to(batch, device)
            logits, extras = model(batch["lh"], batch["rh"], batch["body"], batch["padding_mask"],
                                   return_extras=True)
            loss, parts = criterion(logits, batch["label"], extras if use_cmcl else None,
                                    batch["padding_mask"], epoch)
            if not torch.isfinite(loss.detach()):
                raise FloatingPointError(f"epoch {epoch + 1}: the loss became {loss.item()}; "
                                         f"lower --lr or check the data")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            n = len(batch["label"])
            sums["loss"] += float(loss.detach()) * n
            for key in ("ce", "consistency", "alignment"):
                sums[key] += parts[key] * n
            correct += int((logits.argmax(-1) == batch["label"]).sum())
            seen += n
        scheduler.step()
        losses = {k: v / seen for k, v in sums.items()}
        result = EpochResult(epoch + 1, losses, {"train": {"top1": correct / seen}})
        for split, loader in eval_loaders.items():
            result.metrics[split] = evaluate(model, loader, device)
        result.seconds = time.perf_counter() - start
        history.append(result)
        line = (f"[{epoch + 1}] loss {losses['loss']:.4f} (ce {losses['ce']:.4f}"
                + (f", cons {losses['consistency']:.4f}, align {losses['alignment']:.4f}, "
                   f"w {parts.get('w_consistency', 0):.3g}/{parts.get('w_alignment', 0):.3g}"
                   if use_cmcl else "")
                + f") train top-1 {correct / seen:.4f}")
        for split in ("val", "test"):
            if split in result.metrics:
                m = result.metrics[split]
                line += f" | {split} top-1 {m['top1']:.4f} top-5 {m['top5']:.4f}"
        log(line + f" | {result.seconds:.1f}s")

    run_dir = Path(config.runs_dir) / config.experiment_name
    model_path = save_model(run_dir / "model.pt", model, class_names,
                            metadata={"train_config": _jsonable(config),
                                      "final_metrics": history[-1].metrics if history else {}})
    log(f"Saved model to {model_path}")
    final = history[-1].metrics if history else {}
    if "test" in final:
        log(f"Test top-1: {final['test']['top1']:.4f}, top-5: {final['test']['top5']:.4f}")
    elif "val" in final:
        log(f"Validation top-1: {final['val']['top1']:.4f}, top-5: {final['val']['top5']:.4f}")
    return {"history": history, "model_path": str(model_path), "final": final}


def _jsonable(config: TrainConfig) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()}
