"""Training of SiFormer as an importable function (the CLI only parses flags).

Defaults follow the seeds: AdamW (lr 1e-4, weight decay 1e-8), MultiStepLR at epochs 60 and 80
of 100 (x0.1; scaled to 60% and 80% of other run lengths), cross-entropy or CMCL, top-1 and top-5 on the validation and test sets every epoch.
A run lives in ``<runs_dir>/<experiment_name>/`` (see :mod:`slr_fused.runs`); ``resume`` continues
it from ``checkpoints/last.pt`` with the same data order, augmentation and schedule, so a
resumed run on the CPU ends with the same metrics as an uninterrupted one.
"""

import dataclasses
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from .checkpoint import (CheckpointError, load_training_checkpoint, restore_training_state,
                         save_model, save_training_checkpoint)
from .data.checks import label_warnings
from .data.csv_format import read_class_names, read_pose_csv
from .data.dataset import PoseDataset, collate_poses
from .data.splits import stratified_split
from .data.synthetic import default_demo_folder, write_demo_dataset
from .ema import WeightAverage
from .faults import crash_point
from .distributed import (DistributedContext, GlobalBatchSampler, all_reduce_sum, init_distributed,
                          shard_bounds, shutdown_distributed)
from .losses import AdaptiveSchedule, CMCLLoss
from .models.cross_modal import dropout_unsupported_message, fused_kernels_have_dropout
from .models.siformer import SiFormer, SiFormerConfig, count_parameters, describe_model
from .recipes import ADDED_SETTINGS, recipe_values
from .runs import RunDirectory, environment
from .schedules import LR_SCHEDULES, build_scheduler

VALIDATION_CHOICES = ("auto", "from-file", "split-from-train", "none")
AMP_CHOICES = (None, "bf16", "fp16")


@dataclass
class TrainConfig:
    """Every training setting; field names are the CLI flags (``--training_set_path`` ...)."""

    experiment_name: str = "slr_experiment"
    training_set_path: Optional[str] = None      # None: the bundled synthetic demo data
    validation_set_path: Optional[str] = None
    testing_set_path: Optional[str] = None
    validation_set: str = "auto"                 # auto: from-file when a path is given, else none
    validation_set_size: float = 0.2
    experimental_train_split: Optional[float] = None
    num_classes: Optional[int] = None            # None: inferred from the data
    epochs: int = 100
    lr: float = 1e-4
    weight_decay: float = 1e-8
    batch_size: int = 24                         # global batch (split over torchrun processes)
    scheduler_milestones: Optional[Tuple[int, ...]] = None  # None: 60% and 80% of the epochs
    scheduler_gamma: float = 0.1
    lr_schedule: str = "multistep"               # or "cosine" (see slr_fused.schedules)
    warmup_epochs: int = 0                       # linear warm-up before the cosine
    label_smoothing: float = 0.0
    ema_decay: float = 0.0                       # > 0: evaluate and save an EMA of the weights
    use_cross_attention: bool = True
    cross_attn_heads: int = 3
    cross_attn_dropout: float = 0.1              # the BMHCMA seed's attention dropout
    cross_attn_mode: str = "bidirectional"
    use_gating: bool = True
    cross_attn_directions: str = "all"
    kernel: str = "auto"
    use_cmcl: bool = False                       # the CMCL seed's default: opt in with --use_cmcl True
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
    mirror: Optional[float] = None               # probability of mirroring a training sample
    canonical_hand: Optional[str] = None         # "left"/"right": dominant hand put on this side
    speed: float = 0.0                           # random playback speed in [1 - speed, 1 + speed]
    temporal_crop: float = 0.0                   # crop up to this fraction of a sample's frames
    recipe: str = "seed"                         # the recipe the other values came from (recipes.py)
    seed: int = 379
    device: str = "auto"
    amp: Optional[str] = None                    # bf16 or fp16 autocast on CUDA; bf16 on AVX512-BF16/AMX CPUs
    num_workers: int = 0
    runs_dir: str = "runs"
    save_checkpoints: bool = True
    log_freq: int = 1
    resume: bool = False
    overwrite: bool = False                      # delete an existing run of this name first
    progress: Optional[bool] = None               # None: progress bars only on a terminal


# Settings that may change when resuming; everything else must match the checkpoint.
RESUMABLE_CHANGES = {"epochs", "resume", "overwrite", "device", "num_workers", "progress", "runs_dir", "log_freq",
                     "save_checkpoints"}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str, context: DistributedContext = DistributedContext()) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"--device {name}: CUDA is not available on this machine")
        if context.enabled:
            device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
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


def validate_config(config: TrainConfig) -> None:
    """Reject inconsistent settings before any work starts, one message each."""
    if config.validation_set not in VALIDATION_CHOICES:
        raise ValueError(f"--validation_set must be one of {VALIDATION_CHOICES}")
    if config.validation_set == "from-file" and config.validation_set_path is None \
            and config.training_set_path is not None:
        raise ValueError("--validation_set from-file needs --validation_set_path")
    from .config_checks import check_train_config
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


def scheduler_milestones(config: TrainConfig) -> List[int]:
    """The seeds' MultiStepLR milestones, 60 and 80 of 100 epochs, scaled to the run's length.

    Without scaling a shorter run never decays its learning rate, and AdamW at a constant rate
    keeps jumping around the minimum on small datasets (seen on isl13: test top-1 alternating
    between 0.92 and 0.98 in the last epochs of a 40-epoch run).
    """
    if config.scheduler_milestones is not None:
        return list(config.scheduler_milestones)
    return [max(1, round(0.6 * config.epochs)), max(1, round(0.8 * config.epochs))]


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks=(1, 5)) -> Dict[int, int]:
    """Number of samples whose label is among the k highest logits, per k (k capped at classes)."""
    ranked = logits.topk(min(max(ks), logits.shape[-1]), dim=-1).indices
    hits = ranked == labels[:, None]
    return {k: int(hits[:, :k].any(-1).sum()) for k in ks}


def batch_to(batch: Dict[str, torch.Tensor], device: torch.device) -> Dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def autocast_context(config: TrainConfig, device: torch.device):
    if config.amp is None:
        return nullcontext()
    dtype = torch.bfloat16 if config.amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.no_grad()
def evaluate_counts(model: SiFormer, loader: DataLoader, device: torch.device, amp=nullcontext):
    """(top-1 hits, top-5 hits, samples) over a loader."""
    model.eval()
    hits1 = hits5 = total = 0
    for batch in loader:
        batch = batch_to(batch, device)
        with amp():
            logits = model(batch["lh"], batch["rh"], batch["body"], batch["padding_mask"])
        correct = topk_correct(logits.float(), batch["label"])
        hits1, hits5, total = hits1 + correct[1], hits5 + correct[5], total + len(batch["label"])
    return hits1, hits5, total


def build_model_config(config: TrainConfig, num_classes: int) -> SiFormerConfig:
    return SiFormerConfig(
        num_classes=num_classes, num_enc_layers=config.num_enc_layers,
        num_dec_layers=config.num_dec_layers, d_ff=config.d_ff, dropout=config.dropout,
        max_frames=config.max_frames, use_cross_attention=config.use_cross_attention,
        cross_attn_heads=config.cross_attn_heads, cross_attn_dropout=config.cross_attn_dropout,
        cross_attn_mode=config.cross_attn_mode,
        use_gating=config.use_gating, cross_attn_directions=config.cross_attn_directions,
        kernel=config.kernel)


def config_dict(config: TrainConfig) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()}


def _progress(iterable, enabled: Optional[bool], **kwargs):
    from tqdm.auto import tqdm
    return tqdm(iterable, disable=None if enabled is None else not enabled, leave=False, **kwargs)


def load_datasets(config: TrainConfig, paths: Dict[str, Optional[str]]):
    """(train set, {split: eval set}) with the validation policy and experimental subset applied."""
    max_frames = None if config.num_frames else config.max_frames
    common = dict(num_frames=config.num_frames, max_frames=max_frames,
                  canonical_hand=config.canonical_hand)
    train_sequences = read_pose_csv(paths["train"])
    eval_sources = {}
    policy = config.validation_set
    if policy == "auto":
        policy = "from-file" if paths["val"] else "none"
    if policy == "from-file" and paths["val"]:
        eval_sources["val"] = read_pose_csv(paths["val"])
    elif policy == "split-from-train":
        kept, taken = stratified_split(train_sequences.labels, config.validation_set_size, config.seed)
        eval_sources["val"] = train_sequences.subset(taken)
        train_sequences = train_sequences.subset(kept)
    if config.experimental_train_split is not None and config.experimental_train_split < 1:
        kept, _ = stratified_split(train_sequences.labels, 1 - config.experimental_train_split,
                                   config.seed + 1)
        train_sequences = train_sequences.subset(kept)
    if paths["test"]:
        eval_sources["test"] = read_pose_csv(paths["test"])
    train_set = PoseDataset(train_sequences, augment=config.augmentations,
                            augmentations_prob=config.augmentations_prob,
                            gaussian_std=config.gaussian_std, seed=config.seed,
                            mirror=config.mirror, speed=config.speed,
                            temporal_crop=config.temporal_crop, **common)
    eval_sets = {split: PoseDataset(seqs, **common) for split, seqs in eval_sources.items()}
    return train_set, eval_sets


def _check_resume(saved: dict, config: TrainConfig) -> None:
    current = config_dict(config)
    saved = {"cross_attn_dropout": 0.0, **ADDED_SETTINGS, **saved}   # runs from before the flags
    differences = [f"--{k} {saved.get(k)!r} in the checkpoint, {current[k]!r} now"
                   for k in current if k not in RESUMABLE_CHANGES and saved.get(k) != current[k]]
    if differences:
        raise CheckpointError("cannot resume: the run was started with other settings: "
                              + "; ".join(differences[:4]) + ("; ..." if len(differences) > 4 else ""))


def train(config: TrainConfig, log: Callable[[str], None] = print) -> Dict[str, object]:
    """Train as configured; returns the per-epoch records, final metrics and saved paths."""
    validate_config(config)
    context = init_distributed("cuda" if config.device.startswith("cuda") or
                               (config.device == "auto" and torch.cuda.is_available()) else "cpu")
    try:
        return _train(config, context, log if context.is_main else (lambda _: None))
    finally:
        shutdown_distributed(context)


def _train(config: TrainConfig, context: DistributedContext, log) -> Dict[str, object]:
    device = pick_device(config.device, context)
    if config.amp and device.type != "cuda":
        from .precision import cpu_supports_bf16
        if config.amp != "bf16" or device.type != "cpu" or not cpu_supports_bf16():
            raise ValueError("--amp needs a CUDA device, or --amp bf16 on a CPU with AVX512-BF16 "
                             "or AMX-BF16 (elsewhere bf16 is emulated and slower than fp32)")
    seed_everything(config.seed)
    run = RunDirectory(config.runs_dir, config.experiment_name)
    refused = None
    if context.is_main:
        try:
            run.claim(config.resume, config.overwrite)
        except (ValueError, RuntimeError, OSError) as error:
            refused = error
    # Every rank stops when rank 0 could not claim the folder (instead of waiting for it forever).
    if all_reduce_sum([1.0 if refused else 0.0], context, device)[0]:
        raise refused or RuntimeError(f"{run.path}: rank 0 could not claim the run folder (see its "
                                      f"error)")
    try:
        return _train_in(run, config, context, device, log)
    finally:
        run.release()


def _train_in(run: RunDirectory, config: TrainConfig, context: DistributedContext, device, log):
    training_state = None
    if config.resume:
        if not run.last.is_file():
            raise CheckpointError(f"--resume: no checkpoint at {run.last} (nothing to resume)")
        training_state = load_training_checkpoint(run.last)
        _check_resume(training_state["train_config"], config)

    paths = resolve_data_paths(config)
    train_set, eval_sets = load_datasets(config, paths)
    found = max([train_set.num_classes] + [s.num_classes for s in eval_sets.values()])
    num_classes = config.num_classes or found
    if num_classes < found:
        raise ValueError(f"--num_classes {num_classes} is smaller than the data's labels need "
                         f"({found}: labels go up to {found - 1})")
    class_names = read_class_names(paths["train"], num_classes)
    for note in label_warnings(train_set.sequences.labels,
                               {k: s.sequences.labels for k, s in eval_sets.items()}, num_classes):
        log(f"Warning: {note}")

    sampler = GlobalBatchSampler(len(train_set), config.batch_size, config.seed, True,
                                 context.rank, context.world_size)
    train_loader = DataLoader(train_set, batch_sampler=sampler, collate_fn=collate_poses,
                              num_workers=config.num_workers)
    eval_loaders = {}
    for split, dataset in eval_sets.items():
        start, stop = shard_bounds(len(dataset), context.rank, context.world_size)
        eval_loaders[split] = DataLoader(Subset(dataset, range(start, stop)),
                                         batch_size=max(config.batch_size, 64), shuffle=False,
                                         collate_fn=collate_poses, num_workers=config.num_workers)

    model_config = build_model_config(config, num_classes)
    model = SiFormer(model_config).to(device)
    step_model = model
    if context.enabled:
        step_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    use_cmcl = config.use_cmcl and config.use_cross_attention
    if config.use_cmcl and not config.use_cross_attention:
        log("Warning: CMCL needs the cross-modal attention block; training with cross-entropy only")
    schedule = (AdaptiveSchedule(config.cmcl_warmup_epochs, config.cmcl_decay_rate)
                if config.use_adaptive_cmcl else None)
    criterion = CMCLLoss(config.lambda_consistency, config.lambda_alignment,
                         config.cmcl_temperature, schedule, label_smoothing=config.label_smoothing)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = build_scheduler(optimizer, config.lr_schedule, config.epochs,
                                scheduler_milestones(config), config.scheduler_gamma,
                                config.warmup_epochs)
    ema = WeightAverage(model, config.ema_decay) if config.ema_decay > 0 else None
    evaluated = ema.model if ema is not None else model   # metrics, best.pt and model.pt
    scaler = torch.amp.GradScaler("cuda") if config.amp == "fp16" else None

    start_epoch, best, records = 0, {"epoch": None, "val_top1": None}, []
    if training_state is not None:
        restore_training_state(training_state, model, optimizer, scheduler, scaler)
        if ema is not None:   # the file's weights are the average; the raw ones sit beside them
            ema.load(training_state["state_dict"], training_state["ema"])
            model.load_state_dict(training_state["ema"]["raw_state_dict"])
        start_epoch, best = training_state["epoch"], training_state["best"]
        records = training_state.get("history")
        if records is None:  # a checkpoint from before the history was stored in it
            records = [r for r in run.read_metrics() if r["epoch"] <= start_epoch]
        if context.is_main:
            run.settle_pending_best(best["epoch"])

    log(describe_model(model_config))
    if use_cmcl:
        log(f"Using CMCL: lambda_consistency={config.lambda_consistency}, "
            f"lambda_alignment={config.lambda_alignment}, temperature={config.cmcl_temperature}, "
            f"adaptive={'on' if schedule else 'off'}")
    log(f"Data: train {paths['train']} ({len(train_set)} samples), "
        + ", ".join(f"{k} ({len(s)})" for k, s in eval_sets.items()) + f"; {num_classes} classes")
    log(f"Parameters: {count_parameters(model):,} (cross-modal block "
        f"{count_parameters(model.cross_modal):,}); device {device}"
        + (f" x {context.world_size} processes" if context.enabled else "")
        + (f"; amp {config.amp}" if config.amp else ""))
    if training_state is not None:
        log(f"Resuming {run.path} after epoch {start_epoch}")
    if context.is_main:
        run.write_config({"train": config_dict(config), "model": model_config.to_dict(),
                          "data": paths, "num_classes": num_classes, "class_names": class_names,
                          "environment": environment(device), "world_size": context.world_size})
        if training_state is not None:
            run.write_metrics(records)
            _write_plots(run, records)   # a kill may have come between the metrics and the plots

    amp = lambda: autocast_context(config, device)  # noqa: E731
    for epoch in range(start_epoch, config.epochs):
        model.train()
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        global_sizes = [len(b) for b in sampler.global_batches()]
        lr = optimizer.param_groups[0]["lr"]
        start = time.perf_counter()
        sums = np.zeros(6)  # loss, ce, consistency, alignment, correct, seen
        w_c, w_a = criterion.weights(epoch) if use_cmcl else (0.0, 0.0)
        for step, batch in enumerate(_progress(train_loader, config.progress,
                                               desc=f"epoch {epoch + 1}/{config.epochs}")):
            batch = batch_to(batch, device)
            with amp():
                output = step_model(batch["lh"], batch["rh"], batch["body"],
                                    batch["padding_mask"], return_extras=use_cmcl)
            logits, extras = output if use_cmcl else (output, None)
            total, parts = criterion.per_sample(logits.float(), batch["label"], extras,
                                                batch["padding_mask"], epoch)
            # Sum over this shard / global batch, times the world size DDP divides by: the
            # gradient of the global batch mean, however the batch is split.
            loss = total.sum() * (context.world_size / global_sizes[step])
            if not torch.isfinite(loss.detach()):
                raise FloatingPointError(f"epoch {epoch + 1}: the loss became {loss.item()}; "
                                         f"lower --lr or check the data")
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            if ema is not None:
                ema.update(model)
            sums += [float(total.detach().sum()), float(parts["ce"].detach().sum()),
                     float(parts["consistency"].detach().sum()), float(parts["alignment"].detach().sum()),
                     int((logits.argmax(-1) == batch["label"]).sum()), len(batch["label"])]
        train_seconds = time.perf_counter() - start
        scheduler.step()
        sums = all_reduce_sum(list(sums), context, device)
        seen = sums[5]
        record = {"epoch": epoch + 1, "lr": lr, "w_consistency": w_c, "w_alignment": w_a,
                  "train": {"loss": sums[0] / seen, "ce": sums[1] / seen, "consistency": sums[2] / seen,
                            "alignment": sums[3] / seen, "top1": sums[4] / seen},
                  "samples_per_second": seen / train_seconds}
        for split, loader in eval_loaders.items():
            hits1, hits5, total_count = all_reduce_sum(list(evaluate_counts(evaluated, loader, device, amp)),
                                                       context, device)
            record[split] = {"top1": hits1 / total_count, "top5": hits5 / total_count}
        record["epoch_seconds"] = time.perf_counter() - start
        records.append(record)
        improved = "val" in record and (best["val_top1"] is None or record["val"]["top1"] > best["val_top1"])
        if improved:
            best = {"epoch": epoch + 1, "val_top1": record["val"]["top1"]}
        if context.is_main:
            _write_epoch(run, config, records, model, optimizer, scheduler, scaler, epoch + 1,
                         class_names, best, improved, ema)
        if (epoch + 1) % config.log_freq == 0 or epoch + 1 == config.epochs:
            log(_epoch_line(record, use_cmcl))

    final = {split: records[-1][split] for split in ("val", "test") if records and split in records[-1]}
    model_path = run.path / "model.pt"
    if context.is_main:
        save_model(model_path, evaluated, class_names,
                   metadata={"train_config": config_dict(config), "final_metrics": final})
        crash_point("model")
        log(f"Saved model to {model_path}"
            + (f" (best validation top-1 {best['val_top1']:.4f} at epoch {best['epoch']}: {run.best})"
               if best["epoch"] and config.save_checkpoints else ""))
        at_best = next((r.get("test") for r in records if r["epoch"] == best["epoch"]), None)
        if at_best:
            log(f"At the best validation epoch ({best['epoch']}): test top-1 {at_best['top1']:.4f}, "
                f"top-5 {at_best['top5']:.4f}")
        log(f"Metrics: {run.metrics_file}; plots: {run.plots}")
        if "test" in final:
            log(f"Test top-1: {final['test']['top1']:.4f}, top-5: {final['test']['top5']:.4f}")
        elif "val" in final:
            log(f"Validation top-1: {final['val']['top1']:.4f}, top-5: {final['val']['top5']:.4f}")
    return {"history": records, "model_path": str(model_path), "final": final, "best": best,
            "run_dir": str(run.path)}


def _write_epoch(run, config, records, model, optimizer, scheduler, scaler, epoch, class_names,
                 best, improved, ema=None) -> None:
    """The epoch's files, in an order where a kill between any two writes is completed by --resume.

    best.pending.pt -> last.pt (holding every epoch's metrics) -> best.pt (rename of the pending
    file) -> metrics.jsonl -> plots. last.pt is the commit point: before it the epoch is redone
    (and the pending best dropped); after it the resume renames the pending best and rewrites
    metrics.jsonl from the history inside last.pt. best.pt thus never lags the log's best.
    """
    if config.save_checkpoints:
        saved, extra = model, None
        if ema is not None:   # the evaluated (averaged) weights load as the model
            saved, extra = ema.model, {"ema": {**ema.state(), "raw_state_dict": {
                k: v.detach().cpu() for k, v in model.state_dict().items()}}}
        save = lambda path: save_training_checkpoint(  # noqa: E731
            path, saved, optimizer, scheduler, epoch, class_names, config_dict(config), best, scaler,
            history=records, extra=extra)
        if improved:
            save(run.pending_best)
            crash_point("best-pending", epoch)
        save(run.last)
        crash_point("last", epoch)
        if improved:
            run.pending_best.replace(run.best)
            crash_point("best", epoch)
    run.write_metrics(records)
    crash_point("metrics", epoch)
    _write_plots(run, records, warn=epoch == 1)
    crash_point("plots", epoch)


def _write_plots(run, records, warn: bool = False) -> None:
    try:
        from .plots import plot_history
        plot_history(records, run.plots)
    except ImportError:
        if warn:
            print("Warning: matplotlib is not installed; skipping plots")


def _epoch_line(record: Dict, use_cmcl: bool) -> str:
    t = record["train"]
    line = (f"[{record['epoch']}] loss {t['loss']:.4f} (ce {t['ce']:.4f}"
            + (f", cons {t['consistency']:.4f}, align {t['alignment']:.4f}, "
               f"w {record['w_consistency']:.3g}/{record['w_alignment']:.3g}" if use_cmcl else "")
            + f") train top-1 {t['top1']:.4f}")
    for split in ("val", "test"):
        if split in record:
            line += f" | {split} top-1 {record[split]['top1']:.4f} top-5 {record[split]['top5']:.4f}"
    return line + f" | {record['epoch_seconds']:.1f}s, {record['samples_per_second']:.0f} samples/s"
