"""The ablation table: every configuration trained on one dataset with a fixed budget and seeds.

``python -m slr_fused.bench.ablation`` (or ``slr bench ablation``) trains each configuration of
:data:`ABLATION_CONFIGS` for ``--epochs`` epochs with each seed (seeds outer, configurations
inner, so any drift of the machine during the run hits every configuration alike), and writes
``<output>/<name>-<device>.{json,md,png}`` (``--output``, default ``bench-results/``): per run
the test top-1/top-5 at the last epoch, and per configuration the mean, min and max over seeds,
parameters, seconds per epoch, inference time per sample (batch 1) and FLOPs per sample. A
difference smaller than the seed-to-seed spread is not a result; the Markdown says so next to
the numbers.

``--table recipe`` trains :data:`RECIPE_CONFIGS` instead: the seeds' settings (``--recipe
seed``), the ``wlasl`` recipe (``slr train``'s default), and the wlasl recipe with one part
taken out at a time, each with its own learning-rate schedule over the budget. ``--recipe wlasl`` trains the model table with
that recipe's settings and schedule (BMHCMA/CMCL against the baseline under the new recipe).

``--data`` is a folder with ``<name>_{train,val,test}.csv``; without it, the bundled synthetic
demo data (what ``slr train`` uses by default).
"""

import argparse
import dataclasses
import statistics
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch

from slr_fused.atomic import atomic_write
from slr_fused.bench.common import (Context, add_output_arguments, bench_device, build_model,
                                    check_kernel, command_main, environment, input_dims,
                                    measure_cell, random_inputs, report, setup_eager,
                                    summarize, write_result)
from slr_fused.models.variants import MODEL_VARIANTS
from slr_fused.models.siformer import SiFormerConfig

MODEL_SETTINGS = {f.name for f in dataclasses.fields(SiFormerConfig)} - {"num_classes"}

# Every configuration of `slr info --model`, trained the way the seed trains it: with CMCL where
# the block exists (CMCL needs its attention maps), plus the full model without CMCL, so the
# table separates the block's effect from the loss's.
ABLATION_CONFIGS = tuple(
    (name, dict(overrides, use_cmcl=overrides.get("use_cross_attention", True)))
    for name, overrides in MODEL_VARIANTS
) + (("bidirectional h=3, no CMCL", dict(use_cmcl=False)),)


# The recipe table: each part of the wlasl recipe taken out in turn (its seed value put back).
RECIPE_CONFIGS = (
    ("seed recipe (--recipe seed)", dict(recipe="seed")),
    ("wlasl recipe (slr train's default)", dict(recipe="wlasl")),
    ("wlasl - mirror", dict(recipe="wlasl", mirror=None)),
    ("wlasl - speed/crop", dict(recipe="wlasl", speed=0.0, temporal_crop=0.0)),
    ("wlasl - label smoothing", dict(recipe="wlasl", label_smoothing=0.0)),
    ("wlasl - cosine (multistep, lr 1e-4)", dict(recipe="wlasl", lr_schedule="multistep",
                                                 warmup_epochs=0, lr=1e-4)),
    ("wlasl - weight decay", dict(recipe="wlasl", weight_decay=1e-8)),
    ("wlasl - EMA", dict(recipe="wlasl", ema_decay=0.0)),
    ("wlasl, augmentations_prob 0.8", dict(recipe="wlasl", augmentations_prob=0.8)),
    ("wlasl, no SPOTER augmentations", dict(recipe="wlasl", augmentations=False)),
    ("wlasl, dropout 0.2", dict(recipe="wlasl", dropout=0.2)),
    ("wlasl, no cross-modal block", dict(recipe="wlasl", use_cross_attention=False)),
    ("wlasl + CMCL", dict(recipe="wlasl", use_cmcl=True)),
)
TABLES = {"model": ABLATION_CONFIGS, "recipe": RECIPE_CONFIGS}


def default_data() -> str:
    """The bundled synthetic demo data's folder (written once, as ``slr train`` does)."""
    from slr_fused.data.synthetic import default_demo_folder, write_demo_dataset
    return str(write_demo_dataset(default_demo_folder())["train"].parent)


def dataset_paths(data: str) -> Dict[str, str]:
    """``<dir>/<name>_{train,val,test}.csv`` of a dataset folder (one set of CSVs in it)."""
    folder = Path(data)
    trains = sorted(folder.glob("*_train.csv"))
    if len(trains) != 1:
        raise ValueError(f"expected one *_train.csv in {folder}, found {len(trains)}")
    stem = trains[0].name[:-len("_train.csv")]
    paths = {split: folder / f"{stem}_{split}.csv" for split in ("train", "val", "test")}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise ValueError(f"dataset files missing: {', '.join(missing)}")
    return {k: str(v) for k, v in paths.items()}


def select_configs(names: Optional[Sequence[str]], table: str = "model"):
    if table not in TABLES:
        raise ValueError(f"--table must be one of {sorted(TABLES)}, got {table!r}")
    if not names:
        return TABLES[table]
    known = {name: overrides for name, overrides in TABLES[table]}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown configurations {unknown}; choose from {list(known)}")
    return tuple((n, known[n]) for n in names)


def train_one(paths: Dict[str, str], overrides: dict, seed: int, epochs: int, batch_size: int,
              runs_dir: str, log: Callable[[str], None], device: str = "cpu",
              kernel: str = "reference", recipe: Optional[str] = None) -> Dict[str, object]:
    """One training run; returns its last-epoch metrics and per-epoch timings.

    Without ``recipe`` the learning rate stays constant (the model table's short budgets);
    with one (or a ``recipe`` key in ``overrides``) the run follows that recipe's own schedule.
    """
    from slr_fused.recipes import recipe_config
    from slr_fused.training import train
    overrides = dict(overrides)
    recipe = overrides.pop("recipe", recipe)
    common = dict(
        experiment_name=f"ablation-seed{seed}", training_set_path=paths["train"],
        validation_set_path=paths["val"], testing_set_path=paths["test"], epochs=epochs,
        batch_size=batch_size, seed=seed, kernel=kernel, device=device,
        save_checkpoints=False, runs_dir=runs_dir, progress=False,
        overwrite=True)   # one scratch folder per seed, reused by each configuration
    if recipe is None:
        # A short budget would otherwise decay the learning rate after its first epoch (the
        # default milestones sit at 60% and 80% of the run): keep 1e-4 constant within it.
        common["scheduler_milestones"] = (epochs + 1,)
    config = recipe_config(recipe or "seed", **common, **overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(config, log=lambda line: None)
    history = result["history"]
    last = history[-1]
    return {"test_top1": last["test"]["top1"], "test_top5": last["test"]["top5"],
            "val_top1": last["val"]["top1"],
            "epoch_seconds": [r["epoch_seconds"] for r in history],
            "train_samples_per_second": [r["samples_per_second"] for r in history]}


def model_costs(chosen, num_classes: int, length: int, repeats: int,
                device: torch.device = torch.device("cpu"),
                kernel: str = "reference") -> Dict[str, dict]:
    """Parameters, FLOPs and batch-1 latency per sample of each configuration (eager).

    Latency is measured interleaved over the configurations (as `slr bench` does), so a slow
    moment of the machine does not land on one configuration only.
    """
    from slr_fused.bench.flops import count_flops
    from slr_fused.models.siformer import count_parameters
    runners, costs, x = {}, {}, None
    for name, overrides in chosen:
        torch.manual_seed(0)
        model = build_model({k: v for k, v in overrides.items() if k in MODEL_SETTINGS}, num_classes)
        x = x or random_inputs(1, length, dims=input_dims(model))
        costs[name] = {"params": count_parameters(model),
                       "block_params": count_parameters(model.cross_modal),
                       "flops_per_sample": count_flops(model, x)["total"]}
        runners[name] = setup_eager(model.set_kernel(kernel), Context(device))
    x_on_device = tuple(t.to(device) for t in x)
    samples = measure_cell(runners, x_on_device, repeats, warmup=3)
    for name in runners:
        costs[name]["latency_b1"] = summarize(samples[name])
    return costs


def run_ablation(data: Optional[str] = None, epochs: int = 2, seeds: Sequence[int] = (1, 2),
                 batch_size: int = 24, configs: Optional[Sequence[str]] = None,
                 latency_repeats: int = 20, length: int = 30,
                 log: Callable[[str], None] = print, device: str = "auto",
                 kernel: str = "reference", table: str = "model",
                 recipe: Optional[str] = None) -> Dict[str, object]:
    """Train every configuration with every seed; returns the result dict (see module doc).

    ``data``: a folder with ``<name>_{train,val,test}.csv`` (None: the bundled demo data).
    """
    from slr_fused.data.dataset import PoseDataset
    if epochs < 1 or not seeds:
        raise ValueError("the ablation needs at least one epoch and one seed")
    target = bench_device(device)
    check_kernel(kernel, target)
    data = data or default_data()
    paths = dataset_paths(data)
    chosen = select_configs(configs, table)
    if recipe is not None:
        from slr_fused.recipes import recipe_values
        recipe_values(recipe)   # an unknown name fails before any training
    from slr_fused.models.cross_modal import fused_kernels_have_dropout
    from slr_fused.training import TrainConfig
    dropout = TrainConfig().cross_attn_dropout
    if kernel == "triton" and not fused_kernels_have_dropout():
        dropout = 0.0   # the fused kernels cannot train with attention dropout yet (recorded)
    num_classes = max(PoseDataset(p).num_classes for p in paths.values())
    runs: List[Dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="slr-ablation-") as runs_dir:
        for seed in seeds:
            for name, overrides in chosen:
                record = train_one(paths, {**overrides, "cross_attn_dropout": dropout}, seed,
                                   epochs, batch_size, runs_dir, log, device=str(target),
                                   kernel=kernel, recipe=recipe)
                record.update(config=name, seed=seed)
                runs.append(record)
                log(f"seed {seed} {name:38} test top-1 {record['test_top1']:.4f} top-5 "
                    f"{record['test_top5']:.4f} ({statistics.mean(record['epoch_seconds']):.1f} s/epoch)")
    costs = model_costs(chosen, num_classes, length, latency_repeats, target, kernel)
    return {"kind": "ablation", "environment": environment(target),
            "budget": {"dataset": str(Path(data)), "epochs": epochs, "seeds": list(seeds),
                       "batch_size": batch_size, "table": table, "recipe": recipe,
                       **({"lr": 1e-4, "lr_schedule": "constant"} if table == "model" and recipe is None
                          else {"lr": "per recipe", "lr_schedule": "per recipe"}),
                       "cross_attn_dropout": dropout,
                       "kernel": kernel, "device": str(target), "latency_length": length,
                       "latency_repeats": latency_repeats, "num_classes": num_classes},
            "runs": runs, "configs": summarize_runs(runs, chosen, costs)}


def summarize_runs(runs: List[dict], chosen, costs: Dict[str, dict]) -> List[dict]:
    """Per configuration: mean/min/max/spread of test top-1 and top-5 over seeds, with costs."""
    rows = []
    for name, overrides in chosen:
        mine = [r for r in runs if r["config"] == name]
        if not mine:
            continue
        top1 = [r["test_top1"] for r in mine]
        top5 = [r["test_top5"] for r in mine]
        epoch_s = [s for r in mine for s in r["epoch_seconds"]]
        rows.append({
            "config": name, "use_cmcl": bool(overrides.get("use_cmcl", False)), "seeds": len(mine),
            "top1_mean": statistics.mean(top1), "top1_min": min(top1), "top1_max": max(top1),
            "top1_spread": max(top1) - min(top1),
            "top5_mean": statistics.mean(top5), "top5_min": min(top5), "top5_max": max(top5),
            "epoch_seconds_median": statistics.median(epoch_s),
            **costs[name]})
    if rows:
        base = rows[0]
        for row in rows:
            row["top1_delta_vs_first"] = row["top1_mean"] - base["top1_mean"]
    return rows


def markdown_table(result: Dict[str, object]) -> str:
    budget = result["budget"]
    env = result["environment"]
    rows = result["configs"]
    spread = max((r["top1_spread"] for r in rows), default=0.0)
    lines = [
        f"Ablation on `{Path(budget['dataset']).name}`: {budget['epochs']} epoch(s) x "
        f"{len(budget['seeds'])} seed(s) {budget['seeds']} per configuration, batch "
        f"{budget['batch_size']}, lr {budget['lr']} ({budget['lr_schedule']}), attention "
        f"dropout {budget.get('cross_attn_dropout', 0.0):g}, "
        f"{budget['kernel']} backend; test split at the last epoch. {env['device']} "
        f"({env['torch_num_threads']} threads), torch {env['versions']['torch']}, commit "
        f"`{env['git_commit'][:12]}`, {env['date']}.",
        "",
        "| configuration | CMCL | top-1 mean [min, max] | top-5 mean | params | block | s/epoch "
        "| inference ms/sample (b=1, T=%d) | MFLOPs/sample |" % budget["latency_length"],
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['config']} | {'yes' if r['use_cmcl'] else 'no'} | {r['top1_mean']:.4f} "
            f"[{r['top1_min']:.4f}, {r['top1_max']:.4f}] | {r['top5_mean']:.4f} | "
            f"{r['params']:,} | {r['block_params']:,} | {r['epoch_seconds_median']:.1f} | "
            f"{1e3 * r['latency_b1']['median']:.2f} | {r['flops_per_sample'] / 1e6:.1f} |")
    lines += ["", f"Largest seed-to-seed spread of top-1 in this table: {spread:.4f} "
              f"({100 * spread:.1f} points). A difference between configurations smaller than "
              f"this spread is not a result."]
    return "\n".join(lines) + "\n"


def plot(result: Dict[str, object], path: Path) -> None:
    """Accuracy (mean, min-max bars over seeds) against batch-1 latency per sample."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for r in result["configs"]:
        x = 1e3 * r["latency_b1"]["median"]
        y = r["top1_mean"]
        # A legend rather than annotations: configurations with equal accuracy and close
        # latency would print their names on top of each other.
        ax.errorbar([x], [y], yerr=[[y - r["top1_min"]], [r["top1_max"] - y]], fmt="o",
                    capsize=3, label=r["config"] + (" + CMCL" if r["use_cmcl"] else ""))
    budget = result["budget"]
    ax.set_xlabel(f"inference ms/sample (batch 1, T={budget['latency_length']}, "
                  f"{result['environment']['device']})")
    ax.set_ylabel("test top-1 (mean, min-max over seeds)")
    ax.set_title(f"{Path(budget['dataset']).name}: {budget['epochs']} epochs x "
                 f"{len(budget['seeds'])} seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=120))
    plt.close(fig)


def write_outputs(result: Dict[str, object], output_dir, name: str = "ablation") -> Dict[str, Path]:
    """``<name>-<device>.json``, ``.md`` and ``.png`` in ``output_dir``; returns the paths."""
    paths = write_result(result, output_dir, name, markdown_table)
    paths["png"] = paths["json"].with_suffix(".png")
    plot(result, paths["png"])
    return paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None,
                        help="folder with <name>_{train,val,test}.csv (default: the bundled "
                             "synthetic demo data, as slr train)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (default 2)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2], help="seeds (default 1 2)")
    parser.add_argument("--batch_size", type=int, default=24)
    parser.add_argument("--configs", nargs="+", default=None,
                        help="configuration names (default: all); see ABLATION_CONFIGS")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--device", default="auto",
                        help="auto (the GPU if any), cpu, cuda or cuda:N")
    parser.add_argument("--kernel", choices=("reference", "triton", "auto"), default="reference",
                        help="the block's backend for training and latency (default: "
                             "%(default)s, the specification)")
    parser.add_argument("--table", choices=sorted(TABLES), default="model",
                        help="model: the cross-modal variants (default); recipe: the training "
                             "recipe and each of its parts (see RECIPE_CONFIGS)")
    parser.add_argument("--recipe", default=None,
                        help="train the model table with this recipe (e.g. wlasl) and its "
                             "schedule (default: seed settings at a constant lr 1e-4)")
    add_output_arguments(parser, "ablation")


def run_from_args(args) -> Dict[str, Path]:
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run_ablation(args.data, args.epochs, args.seeds, args.batch_size, args.configs,
                          device=args.device, kernel=args.kernel, table=args.table,
                          recipe=args.recipe)
    return report(result, write_outputs(result, args.output, args.name), markdown_table)


main = command_main("ablation", __doc__, add_arguments, run_from_args)


if __name__ == "__main__":
    raise SystemExit(main())
