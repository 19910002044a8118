"""The training loop of SiFormer, as an importable function (the CLI only parses flags).

Defaults follow the seeds: AdamW (lr 1e-4, weight decay 1e-8), MultiStepLR at epochs 60 and 80
of 100 (x0.1; scaled to 60% and 80% of other run lengths), cross-entropy or CMCL, top-1 and
top-5 on the validation and test sets every epoch. The settings are :class:`TrainConfig`
(:mod:`slr_fused.config`); the data and loaders come from :mod:`slr_fused.training_data`, the
per-epoch evaluation from :mod:`slr_fused.evaluation`, devices and the environment record from
:mod:`slr_fused.devices` and :mod:`slr_fused.environment`.

A run lives in ``<runs_dir>/<experiment_name>/`` (see :mod:`slr_fused.runs`); ``resume`` continues
it from ``checkpoints/last.pt`` with the same data order, augmentation and schedule, so a
resumed run on the CPU ends with the same metrics as an uninterrupted one.
"""

import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from .checkpoint import (CheckpointError, load_training_checkpoint, restore_training_state,
                         save_model, save_training_checkpoint)
from .config import LEGACY_VALUES, RESUMABLE_CHANGES, TrainConfig, build_model_config
from .config_validation import validate_config
from .devices import batch_to, pick_device
from .distributed import DistributedContext, all_reduce_sum, init_distributed, shutdown_distributed
from .ema import WeightAverage
from .environment import environment
from .evaluation import evaluate_counts
from .faults import crash_point
from .losses import AdaptiveSchedule, CMCLLoss
from .models.siformer import SiFormer, count_parameters, describe_model
from .recipes import ADDED_SETTINGS
from .runs import RunDirectory
from .schedules import build_scheduler
from .training_data import TrainingData, demo_mirror_note, prepare_data, resolve_data_paths

__all__ = ["TrainConfig", "train", "validate_config", "build_model_config", "resolve_data_paths",
           "scheduler_milestones"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def scheduler_milestones(config: TrainConfig) -> List[int]:
    """The seeds' MultiStepLR milestones, 60 and 80 of 100 epochs, scaled to the run's length.

    Without scaling a shorter run never decays its learning rate, and AdamW at a constant rate
    keeps jumping around the minimum on small datasets (seen on isl13: test top-1 alternating
    between 0.92 and 0.98 in the last epochs of a 40-epoch run).
    """
    if config.scheduler_milestones is not None:
        return list(config.scheduler_milestones)
    return [max(1, round(0.6 * config.epochs)), max(1, round(0.8 * config.epochs))]


def autocast_context(config: TrainConfig, device: torch.device):
    if config.amp is None:
        return nullcontext()
    dtype = torch.bfloat16 if config.amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _progress(iterable, enabled: Optional[bool], **kwargs):
    from tqdm.auto import tqdm
    return tqdm(iterable, disable=None if enabled is None else not enabled, leave=False, **kwargs)


def _check_resume(saved: dict, config: TrainConfig) -> None:
    """Refuse a resume whose settings differ from the checkpoint's (but for RESUMABLE_CHANGES)."""
    current = config.flat_dict()
    saved = {**LEGACY_VALUES, **ADDED_SETTINGS, **saved}   # runs from before the flags
    differences = [f"--{k} {saved.get(k)!r} in the checkpoint, {current[k]!r} now"
                   for k in current if k not in RESUMABLE_CHANGES and saved.get(k) != current[k]]
    if differences:
        hint = ""
        if saved.get("recipe") != current["recipe"]:
            # e.g. a run started before wlasl became slr train's default recipe
            hint = f" (it was trained with --recipe {saved.get('recipe')}: add that flag to resume it)"
        raise CheckpointError("cannot resume: the run was started with other settings: "
                              + "; ".join(differences[:4]) + ("; ..." if len(differences) > 4 else "")
                              + hint)


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
    """Resolve the device, seed, claim the run folder (every rank stops if rank 0 cannot), train."""
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


@dataclass
class _Session:
    """What one run trains with: the model (and its DDP wrapper), loss, optimiser and friends."""

    config: TrainConfig
    context: DistributedContext
    device: torch.device
    model_config: object
    model: SiFormer
    step_model: torch.nn.Module            # the DDP wrapper under torchrun, else the model
    use_cmcl: bool
    criterion: CMCLLoss
    optimizer: torch.optim.Optimizer
    scheduler: object
    ema: Optional[WeightAverage]
    scaler: Optional[torch.amp.GradScaler]

    @property
    def evaluated(self) -> SiFormer:
        """The weights that are evaluated and saved (best.pt, model.pt): the EMA when kept."""
        return self.ema.model if self.ema is not None else self.model

    def amp(self):
        return autocast_context(self.config, self.device)


def _load_resume_state(run: RunDirectory, config: TrainConfig) -> Optional[dict]:
    if not config.resume:
        return None
    if not run.last.is_file():
        raise CheckpointError(f"--resume: no checkpoint at {run.last} (nothing to resume)")
    state = load_training_checkpoint(run.last)
    _check_resume(state["train_config"], config)
    return state


def _build_session(config: TrainConfig, num_classes: int, context: DistributedContext, device,
                   log) -> _Session:
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
    scaler = torch.amp.GradScaler("cuda") if config.amp == "fp16" else None
    return _Session(config, context, device, model_config, model, step_model, use_cmcl, criterion,
                    optimizer, scheduler, ema, scaler)


def _restore(state: Optional[dict], session: _Session, run: RunDirectory):
    """(first epoch, best so far, records so far): a fresh start, or what the checkpoint holds."""
    if state is None:
        return 0, {"epoch": None, "val_top1": None}, []
    model = session.model
    restore_training_state(state, model, session.optimizer, session.scheduler, session.scaler)
    if session.ema is not None:   # the file's weights are the average; the raw ones sit beside them
        session.ema.load(state["state_dict"], state["ema"])
        model.load_state_dict(state["ema"]["raw_state_dict"])
    start_epoch, best = state["epoch"], state["best"]
    records = state.get("history")
    if records is None:  # a checkpoint from before the history was stored in it
        records = [r for r in run.read_metrics() if r["epoch"] <= start_epoch]
    if session.context.is_main:
        run.settle_pending_best(best["epoch"])
    return start_epoch, best, records


def _log_setup(session: _Session, data: TrainingData, log) -> None:
    config, model, context = session.config, session.model, session.context
    log(describe_model(session.model_config))
    if session.use_cmcl:
        log(f"Using CMCL: lambda_consistency={config.lambda_consistency}, "
            f"lambda_alignment={config.lambda_alignment}, temperature={config.cmcl_temperature}, "
            f"adaptive={'on' if config.use_adaptive_cmcl else 'off'}")
    log(f"Data: train {data.paths['train']} ({len(data.train_set)} samples), "
        + ", ".join(f"{k} ({len(s)})" for k, s in data.eval_sets.items())
        + f"; {data.num_classes} classes")
    demo_note = demo_mirror_note(config)
    if demo_note:
        log(demo_note)
    log(f"Parameters: {count_parameters(model):,} (cross-modal block "
        f"{count_parameters(model.cross_modal):,}); device {session.device}"
        + (f" x {context.world_size} processes" if context.enabled else "")
        + (f"; amp {config.amp}" if config.amp else ""))


def _write_run_config(run: RunDirectory, session: _Session, data: TrainingData) -> None:
    """config.json: the TrainConfig (``slr train --config`` reads it back), the model built,
    the data used and the environment."""
    run.write_config({"train": session.config.to_dict(), "model": session.model_config.to_dict(),
                      "data": data.paths, "num_classes": data.num_classes,
                      "class_names": data.class_names, "environment": environment(session.device),
                      "world_size": session.context.world_size})


def _train_epoch(session: _Session, data: TrainingData, epoch: int) -> Dict:
    """One epoch of optimiser steps; the epoch's record with the training metrics."""
    config, context, device = session.config, session.context, session.device
    model, optimizer, scaler = session.model, session.optimizer, session.scaler
    model.train()
    data.sampler.set_epoch(epoch)
    data.train_set.set_epoch(epoch)
    global_sizes = [len(b) for b in data.sampler.global_batches()]
    lr = optimizer.param_groups[0]["lr"]
    start = time.perf_counter()
    sums = np.zeros(6)  # loss, ce, consistency, alignment, correct, seen
    use_cmcl = session.use_cmcl
    w_c, w_a = session.criterion.weights(epoch) if use_cmcl else (0.0, 0.0)
    for step, batch in enumerate(_progress(data.train_loader, config.progress,
                                           desc=f"epoch {epoch + 1}/{config.epochs}")):
        batch = batch_to(batch, device)
        with session.amp():
            output = session.step_model(batch["lh"], batch["rh"], batch["body"],
                                        batch["padding_mask"], return_extras=use_cmcl)
        logits, extras = output if use_cmcl else (output, None)
        total, parts = session.criterion.per_sample(logits.float(), batch["label"], extras,
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
        if session.ema is not None:
            session.ema.update(model)
        sums += [float(total.detach().sum()), float(parts["ce"].detach().sum()),
                 float(parts["consistency"].detach().sum()), float(parts["alignment"].detach().sum()),
                 int((logits.argmax(-1) == batch["label"]).sum()), len(batch["label"])]
    train_seconds = time.perf_counter() - start
    session.scheduler.step()
    sums = all_reduce_sum(list(sums), context, device)
    seen = sums[5]
    return {"epoch": epoch + 1, "lr": lr, "w_consistency": w_c, "w_alignment": w_a,
            "train": {"loss": sums[0] / seen, "ce": sums[1] / seen, "consistency": sums[2] / seen,
                      "alignment": sums[3] / seen, "top1": sums[4] / seen},
            "samples_per_second": seen / train_seconds}


def _evaluate_epoch(session: _Session, data: TrainingData, record: Dict) -> None:
    """Top-1/top-5 of the evaluated weights on every evaluation split, summed over the ranks."""
    for split, loader in data.eval_loaders.items():
        counts = evaluate_counts(session.evaluated, loader, session.device, session.amp)
        hits1, hits5, total = all_reduce_sum(list(counts), session.context, session.device)
        record[split] = {"top1": hits1 / total, "top5": hits5 / total}


def _train_in(run: RunDirectory, config: TrainConfig, context: DistributedContext, device, log):
    """The run, in steps: resume state, data, model and optimiser, epochs, the saved model."""
    state = _load_resume_state(run, config)
    data = prepare_data(config, context, log)
    session = _build_session(config, data.num_classes, context, device, log)
    start_epoch, best, records = _restore(state, session, run)
    _log_setup(session, data, log)
    if state is not None:
        log(f"Resuming {run.path} after epoch {start_epoch}")
    if context.is_main:
        _write_run_config(run, session, data)
        if state is not None:
            run.write_metrics(records)
            _write_plots(run, records)   # a kill may have come between the metrics and the plots

    for epoch in range(start_epoch, config.epochs):
        start = time.perf_counter()
        record = _train_epoch(session, data, epoch)
        _evaluate_epoch(session, data, record)
        record["epoch_seconds"] = time.perf_counter() - start
        records.append(record)
        improved = "val" in record and (best["val_top1"] is None or record["val"]["top1"] > best["val_top1"])
        if improved:
            best = {"epoch": epoch + 1, "val_top1": record["val"]["top1"]}
        if context.is_main:
            _write_epoch(run, config, records, session.model, session.optimizer, session.scheduler,
                         session.scaler, epoch + 1, data.class_names, best, improved, session.ema)
        if (epoch + 1) % config.log_freq == 0 or epoch + 1 == config.epochs:
            log(_epoch_line(record, session.use_cmcl))
    return _finish(run, session, data, records, best, log)


def _finish(run: RunDirectory, session: _Session, data: TrainingData, records: List[Dict],
            best: Dict, log) -> Dict[str, object]:
    """Save model.pt (the evaluated weights), report the final and best-epoch metrics."""
    config = session.config
    final = {split: records[-1][split] for split in ("val", "test") if records and split in records[-1]}
    model_path = run.path / "model.pt"
    if session.context.is_main:
        save_model(model_path, session.evaluated, data.class_names,
                   metadata={"train_config": config.flat_dict(), "final_metrics": final})
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
            path, saved, optimizer, scheduler, epoch, class_names, config.flat_dict(), best, scaler,
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
