"""Model cost of every configuration: parameters, FLOPs, latency, throughput, training cost.

``slr bench`` (``python -m slr_fused.bench.model_cost``) measures, in one run:

* parameters of each configuration of :data:`slr_fused.models.variants.MODEL_VARIANTS` (total, the block's
  share, increase over the baseline);
* FLOPs per sample with fvcore (handles in :mod:`slr_fused.bench.flops`, so attention and the
  fused paths are counted) and the block's analytic count;
* latency per sample at batch 1 and throughput at batch 32, for each backend present, with the
  overhead of each configuration as a ratio to the baseline *measured in the same run*;
* training cost (seconds per step and per epoch, samples per second) on a real training set for
  the baseline, the block without CMCL and the block with CMCL.

Fairness: every measurement is interleaved. For one (backend, length, batch) cell, repeat r times
every configuration once before repeat r + 1 starts, so slow drifts of the machine (another
process, thermal state) land on all configurations alike; the overhead ratio is the median of
the per-repeat ratios (paired), reported with its 20th/80th percentiles. Training steps are
interleaved the same way: each batch of the loader is one step for every configuration.

Providers, inputs, interleaved timing, the training step and result files come from the
harness (:mod:`slr_fused.bench.common`); a backend that cannot run here is listed with the
reason instead of being silently dropped.
"""

import argparse
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from slr_fused.bench.common import (BASELINE, Context, Unavailable, add_output_arguments,
                                    bench_device, build_model, check_kernel, command_main,
                                    environment, input_dims, measure_cell, paired_ratio,
                                    random_inputs, setup_compile, setup_eager, summarize,
                                    training_step, write_and_report)
from slr_fused.bench.flops import count_flops
from slr_fused.errors import describe_error
from slr_fused.models.variants import MODEL_VARIANTS
from slr_fused.models.cross_modal import fused_kernels_have_dropout
from slr_fused.models.siformer import count_parameters

DEFAULT_DETAIL = (BASELINE, "bidirectional h=3")
PROVIDERS = ("eager", "compile", "onnxruntime")

# Training-cost configurations: the question is what the block and CMCL each add to a step.
TRAINING_CONFIGS = (
    (BASELINE, dict(use_cross_attention=False), False),
    ("bidirectional h=3, no CMCL", dict(), False),
    ("bidirectional h=3, CMCL", dict(), True),
)


# ------------------------------------------------------------------------------------------
# Providers: eager and compile from the harness; ONNX Runtime here, as this benchmark runs it
# (CPU provider, dynamic length). A setup returns run(inputs) -> logits, or raises Unavailable.
# ------------------------------------------------------------------------------------------


def setup_onnxruntime(model, ctx: Context) -> Callable:
    """ONNX Runtime, CPU provider: the reference exported with ``slr export onnx``'s function
    (dynamic length, parity with PyTorch verified by the exporter), run through the project's
    runner, i.e. exactly what a deployment calls."""
    try:
        import onnxruntime  # noqa: F401
        from slr_fused.export.onnx import export_onnx
        from slr_fused.export.runtime import OnnxRuntimeRunner
    except ImportError as error:
        raise Unavailable(f"onnx/onnxruntime not installed ({error.name})") from None
    if next(model.parameters()).is_cuda:
        raise Unavailable("this provider is ONNX Runtime's CPU one; on a GPU, `slr bench "
                          "deployment` times its CUDA provider (with I/O binding)")
    from slr_fused.checkpoint import save_model
    checkpoint = ctx.scratch / "model.pt"
    onnx_path = ctx.scratch / "model.onnx"
    save_model(checkpoint, model)
    export_onnx(checkpoint, onnx_path, dynamic_length=True, length=30)
    runner = OnnxRuntimeRunner(onnx_path)
    return lambda inputs: runner(*inputs)


SETUPS = {"eager": setup_eager, "compile": setup_compile, "onnxruntime": setup_onnxruntime}


def unavailable_backends(device: torch.device) -> List[Dict[str, object]]:
    """Backends this run does not time, with the reason (listed in every result)."""
    rows = []
    if device.type != "cuda":
        rows.append({"name": "triton", "available": False,
                     "reason": "no CUDA GPU: the fused kernels run on the CPU only under "
                               "TRITON_INTERPRET=1 (numpy, one program at a time), which is for "
                               "correctness tests and far too slow to time"})
    rows.append({"name": "tensorrt", "available": False,
                 "reason": "needs an NVIDIA GPU and TensorRT (engines are built and run on the "
                           "GPU only)" if device.type != "cuda"
                 else "timed by `slr bench deployment` (tensorrt-fp32, tensorrt-fp16)"})
    return rows


# ------------------------------------------------------------------------------------------
# Static costs
# ------------------------------------------------------------------------------------------


def static_costs(configs, num_classes: int, lengths: Sequence[int], model_settings: dict) -> List[dict]:
    """Parameters and FLOPs per sample (fvcore, with the block's analytic count beside it)."""
    try:
        from slr_fused.kernels.cross_modal_attention import cross_modal_attention_flops
    except ImportError:   # no triton installed: the analytic count lives beside the kernels
        cross_modal_attention_flops = None
    rows, baseline_params = [], None
    for name, overrides in configs:
        model = build_model(overrides, num_classes, **model_settings)
        total, block = count_parameters(model), count_parameters(model.cross_modal)
        if baseline_params is None:
            baseline_params = total
        flops = {}
        for length in lengths:
            counted = count_flops(model, random_inputs(1, length, dims=input_dims(model)))
            block_analytic = (0 if model.cross_modal is None else None
                              if cross_modal_attention_flops is None
                              else cross_modal_attention_flops(model.cross_modal, 1, length))
            flops[str(length)] = {"total": counted["total"],
                                  "block_fvcore": counted["by_module"].get("cross_modal", 0),
                                  "block_analytic": block_analytic,
                                  "by_operator": counted["by_operator"]}
        rows.append({"name": name, "overrides": overrides, "params": total, "block_params": block,
                     "block_share": block / total, "params_increase": total / baseline_params - 1,
                     "flops_per_sample": flops})
    return rows


# ------------------------------------------------------------------------------------------
# Latency and throughput
# ------------------------------------------------------------------------------------------


def latency_rows(provider: str, length: int, batch: int, samples: Dict[str, list]) -> List[dict]:
    rows = []
    base = samples.get(BASELINE)
    for name, values in samples.items():
        stats = summarize(values)
        row = {"config": name, "provider": provider, "length": length, "batch": batch,
               "seconds": stats, "ms_per_sample": 1e3 * stats["median"] / batch,
               "samples_per_second": batch / stats["median"], "ratio_to_baseline": None}
        if base is not None:
            row["ratio_to_baseline"] = paired_ratio(values, base)
        rows.append(row)
    return rows


def run_latency(configs, providers: Sequence[str], lengths: Sequence[int], batches: Sequence[int],
                detail: Sequence[str], num_classes: int, repeats: int, warmup: int,
                model_settings: dict, log: Callable[[str], None],
                device: torch.device = torch.device("cpu")) -> Tuple[List[dict], List[dict]]:
    """Every configuration with eager at the first length; ``detail`` configurations also with
    the other providers and lengths. Returns (latency rows, backend rows)."""
    backends, rows = [], []
    with tempfile.TemporaryDirectory(prefix="slr-bench-") as scratch_root:
        for provider in providers:
            chosen = [(n, o) for n, o in configs if provider == "eager" or n in detail]
            runners, setup_seconds, reason = {}, {}, None
            for name, overrides in chosen:
                scratch = Path(scratch_root) / f"{provider}-{len(runners)}"
                scratch.mkdir()
                torch.manual_seed(0)
                model = build_model(overrides, num_classes, **model_settings).eval().to(device)
                start = time.perf_counter()
                try:
                    runners[name] = SETUPS[provider](model, Context(device, scratch=scratch))
                except Unavailable as error:
                    reason = str(error)
                    break
                except Exception as error:  # a backend failing here is a finding, not a crash
                    reason = describe_error(error)
                    break
                setup_seconds[name] = time.perf_counter() - start
            if reason is not None:
                backends.append({"name": provider, "available": False, "reason": reason})
                log(f"{provider}: unavailable ({reason})")
                continue
            backends.append({"name": provider, "available": True, "reason": "measured",
                             "setup_seconds": setup_seconds})
            dims = input_dims(model)
            for index, length in enumerate(lengths):
                cell_runners = {n: r for n, r in runners.items()
                                if index == 0 and provider == "eager" or n in detail}
                for batch in batches:
                    inputs = random_inputs(batch, length, seed=length * 1000 + batch,
                                           device=device, dims=dims)
                    start = time.perf_counter()
                    samples = measure_cell(cell_runners, inputs, repeats, warmup)
                    rows += latency_rows(provider, length, batch, samples)
                    log(f"{provider:12} T={length:<4} B={batch:<3} {len(cell_runners)} configs x "
                        f"{repeats} repeats ({time.perf_counter() - start:.0f} s)")
    return rows, backends + unavailable_backends(device)


# ------------------------------------------------------------------------------------------
# Training cost
# ------------------------------------------------------------------------------------------


def run_training_cost(train_csv: str, num_classes: Optional[int], steps: Optional[int],
                      batch_size: int, model_settings: dict, seed: int = 379,
                      log: Callable[[str], None] = print,
                      device: torch.device = torch.device("cpu")) -> Dict[str, object]:
    """Seconds per training step (forward, loss, backward, AdamW step) on real batches.

    The loader is the training loader (augmentations on, as ``slr train``); each batch is one
    step of every configuration in turn. ``steps`` None = one epoch.
    """
    from torch.utils.data import DataLoader
    from slr_fused.data.dataset import PoseDataset, collate_poses
    from slr_fused.losses import CMCLLoss

    dataset = PoseDataset(train_csv, augment=True, gaussian_std=0.001, seed=seed, max_frames=256)
    classes = num_classes or dataset.num_classes
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed), collate_fn=collate_poses)
    setups = []
    for name, overrides, use_cmcl in TRAINING_CONFIGS:
        torch.manual_seed(seed)
        model = build_model(overrides, classes, **model_settings).train().to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-8)
        setups.append((name, model, optimizer, use_cmcl))
    criterion = CMCLLoss()

    def step(model, optimizer, use_cmcl, batch):
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        loss, _ = training_step(model, optimizer, criterion,
                                (batch["lh"], batch["rh"], batch["body"]),
                                batch["padding_mask"], batch["label"], use_cmcl)
        # Reading the loss waits for every kernel queued before it, optimizer step included, so
        # on a GPU the timed step ends when its work does.
        return float(loss)

    times = {name: [] for name, *_ in setups}
    losses = {name: [] for name, *_ in setups}
    sizes, load_seconds = [], []
    iterator = iter(loader)
    total_steps = steps or len(loader)
    for index in range(total_steps + 1):       # step 0 is warm-up, not recorded
        start = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            iterator = iter(loader)
            batch = next(iterator)
        load_seconds.append(time.perf_counter() - start)
        for name, model, optimizer, use_cmcl in setups:
            start = time.perf_counter()
            loss = step(model, optimizer, use_cmcl, batch)
            elapsed = time.perf_counter() - start
            if index:
                times[name].append(elapsed)
                losses[name].append(float(loss))
        if index:
            sizes.append(len(batch["label"]))
    samples = sum(sizes)
    base = times[BASELINE]
    rows = []
    for name, *_rest in setups:
        values = times[name]
        rows.append({
            "config": name, "use_cmcl": _rest[2], "step_seconds": summarize(values),
            "epoch_seconds": sum(values) * len(loader) / len(values),
            "samples_per_second": samples / sum(values),
            "ratio_to_baseline": paired_ratio(values, base),
            "ratio_of_totals_to_baseline": sum(values) / sum(base),
            "final_loss_finite": all(map(lambda x: x == x and abs(x) != float("inf"), losses[name])),
        })
    log(f"training cost: {total_steps} steps of batch {batch_size} for {len(setups)} configurations")
    return {"train_csv": str(train_csv), "steps": total_steps, "batch_size": batch_size,
            "steps_per_epoch": len(loader), "samples_per_epoch": len(dataset),
            "data_seconds_per_batch": summarize(load_seconds[1:]) if len(load_seconds) > 1 else None,
            "rows": rows}


# ------------------------------------------------------------------------------------------
# The run, its file and its table
# ------------------------------------------------------------------------------------------


def select(names: Optional[Sequence[str]]):
    known = dict(MODEL_VARIANTS)
    if not names:
        return list(MODEL_VARIANTS)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown configurations {unknown}; choose from {list(known)}")
    # The baseline always runs: every ratio is against it, measured in the same run.
    chosen = [BASELINE] + [n for n in names if n != BASELINE]
    return [(n, known[n]) for n in chosen]


def run_model_cost(configs: Optional[Sequence[str]] = None, providers: Sequence[str] = ("eager", "onnxruntime"),
                   lengths: Sequence[int] = (30, 204), batches: Sequence[int] = (1, 32),
                   detail: Sequence[str] = DEFAULT_DETAIL, repeats: int = 20, warmup: int = 3,
                   num_classes: int = 100, train_csv: Optional[str] = None,
                   train_steps: Optional[int] = None, train_batch: int = 24,
                   threads: Optional[int] = None, model_settings: Optional[dict] = None,
                   log: Callable[[str], None] = print, device: str = "cpu",
                   kernel: str = "reference") -> Dict[str, object]:
    """The whole measurement; returns the result dict (written by ``run_from_args``).

    Args:
        configs: names from MODEL_VARIANTS (default all; the baseline is always included).
        providers: backends to time (eager, compile, onnxruntime).
        lengths: sequence lengths; every configuration runs eagerly at the first, the ``detail``
            configurations at all of them and with every provider.
        repeats, warmup: timed calls per cell (median and percentiles over ``repeats``).
        train_csv: a training CSV for the training cost (None skips it).
        train_steps: steps per configuration (None: one epoch).
        model_settings: SiFormerConfig overrides for every model (tests use tiny models).
        device: where latency and training are timed (``auto``: the GPU if any); FLOPs and
            parameters do not depend on it.
        kernel: the block's backend for eager latency and training (``triton`` needs CUDA).
    """
    if repeats < 3:
        raise ValueError("repeats must be at least 3 (percentiles of fewer are meaningless)")
    bad = [p for p in providers if p not in SETUPS]
    if bad:
        raise ValueError(f"unknown providers {bad}; choose from {list(SETUPS)}")
    if not lengths or not batches or min(lengths) < 1 or min(batches) < 1:
        raise ValueError("lengths and batches must be positive")
    if threads:
        torch.set_num_threads(threads)
    target = bench_device(device)
    check_kernel(kernel, target)
    model_settings = {**(model_settings or {}), "kernel": kernel}
    if kernel == "triton" and not fused_kernels_have_dropout():
        # The fused kernels cannot train with attention dropout yet: time their training without
        # it (recorded in the settings) rather than fail after the latency cells.
        model_settings.setdefault("cross_attn_dropout", 0.0)
    chosen = select(configs)
    if max(lengths) > model_settings.get("max_frames", 256):
        raise ValueError(f"length {max(lengths)} exceeds the model's max_frames")
    # "all": every configuration with every provider and length (slow: one ONNX export each).
    detail = ([n for n, _ in chosen] if list(detail) == ["all"]
              else [n for n in detail if n in dict(chosen)] or [BASELINE])
    env = environment(target)
    log(f"slr bench on {env['device']} ({env['torch_num_threads']} torch threads), "
        f"{len(chosen)} configurations, providers {list(providers)}")
    static = static_costs(chosen, num_classes, lengths, {**model_settings, "kernel": "reference"})
    latency, backends = run_latency(chosen, providers, lengths, batches, detail, num_classes,
                                    repeats, warmup, model_settings, log, target)
    training = None
    if train_csv:
        if not Path(train_csv).is_file():
            raise ValueError(f"training set {train_csv} not found")
        training = run_training_cost(train_csv, None, train_steps, train_batch, model_settings,
                                     log=log, device=target)
    return {"kind": "model_cost", "environment": env,
            "settings": {"configs": [n for n, _ in chosen], "providers": list(providers),
                         "lengths": list(lengths), "batches": list(batches), "detail": detail,
                         "repeats": repeats, "warmup": warmup, "num_classes": num_classes,
                         "device": str(target), "kernel": kernel,
                         "model_settings": model_settings, "flop_convention":
                         "fvcore: one multiply-add = 1 flop; matrix products only (linear, "
                         "attention scores and P@V); softmax, sigmoid, LayerNorm, elementwise "
                         "not counted", "timing": "wall clock per call, no_grad, inputs already "
                         "in memory; ratio_to_baseline = median of paired per-repeat ratios"},
            "configs": static, "backends": backends, "latency": latency, "training": training}


def markdown_report(result: Dict[str, object]) -> str:
    env, settings = result["environment"], result["settings"]
    first = str(settings["lengths"][0])
    lines = [f"Measured on {env['device']} ({env['cpu']}, {env['torch_num_threads']} torch "
             f"threads), torch {env['versions']['torch']}, onnxruntime "
             f"{env['versions']['onnxruntime']}, commit `{env['git_commit'][:12]}`, {env['date']}; "
             f"{settings['repeats']} repeats after {settings['warmup']} warm-up calls, "
             f"{settings['num_classes']} classes.", "",
             f"| configuration | params | block | block share | vs baseline | MFLOPs/sample "
             f"(T={first}) | block MFLOPs |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for c in result["configs"]:
        f = c["flops_per_sample"][first]
        lines.append(f"| {c['name']} | {c['params']:,} | {c['block_params']:,} | "
                     f"{c['block_share']:.1%} | {c['params_increase']:+.1%} | "
                     f"{f['total'] / 1e6:.2f} | {f['block_fvcore'] / 1e6:.2f} |")
    lines += ["", "Latency (median [p20, p80] per call) and overhead against the baseline "
              "measured in the same run (median of paired per-repeat ratios [p20, p80]):", "",
              "| backend | T | batch | configuration | ms/call | ms/sample | samples/s | vs baseline |",
              "|---|---:|---:|---|---:|---:|---:|---:|"]
    for r in result["latency"]:
        s = r["seconds"]
        ratio = r["ratio_to_baseline"]
        ratio_text = (f"{ratio['median']:.3f} [{ratio['p20']:.3f}, {ratio['p80']:.3f}]"
                      if ratio else "-")
        lines.append(f"| {r['provider']} | {r['length']} | {r['batch']} | {r['config']} | "
                     f"{1e3 * s['median']:.2f} [{1e3 * s['p20']:.2f}, {1e3 * s['p80']:.2f}] | "
                     f"{r['ms_per_sample']:.3f} | {r['samples_per_second']:.0f} | {ratio_text} |")
    lines += ["", "Backends:", ""]
    for b in result["backends"]:
        lines.append(f"- {b['name']}: {'measured' if b['available'] else 'unavailable'}"
                     + ("" if b["available"] else f" ({b['reason']})"))
    training = result.get("training")
    if training:
        lines += ["", f"Training cost on `{Path(training['train_csv']).name}` "
                  f"({training['steps']} steps of batch {training['batch_size']} per configuration, "
                  f"interleaved; reference backend, AdamW):", "",
                  "| configuration | s/step median [p20, p80] | s/epoch | samples/s | vs baseline "
                  "(paired median [p20, p80]) |", "|---|---:|---:|---:|---:|"]
        for r in training["rows"]:
            s, q = r["step_seconds"], r["ratio_to_baseline"]
            lines.append(f"| {r['config']} | {s['median']:.3f} [{s['p20']:.3f}, {s['p80']:.3f}] | "
                         f"{r['epoch_seconds']:.1f} | {r['samples_per_second']:.0f} | "
                         f"{q['median']:.3f} [{q['p20']:.3f}, {q['p80']:.3f}] |")
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--configs", nargs="+", default=None,
                        help="configurations (default: all of `slr info --model`)")
    parser.add_argument("--providers", nargs="+", default=["eager", "onnxruntime"],
                        choices=PROVIDERS, help="backends to time (default: eager onnxruntime; "
                        "compile adds ~30-60 s of compilation per configuration and shape on a CPU)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[30, 204],
                        help="sequence lengths (default 30 204: all configurations at the first)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--detail", nargs="+", default=list(DEFAULT_DETAIL),
                        help="configurations timed with every provider and length "
                             "(default: the baseline and bidirectional h=3; 'all' for every one)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--num_classes", type=int, default=100)
    parser.add_argument("--train_csv", default=None,
                        help="training set for the training cost (default: the bundled "
                             "synthetic demo data's training split; 'none' skips)")
    parser.add_argument("--train_steps", type=int, default=None,
                        help="training steps per configuration (default: one epoch)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu",
                        help="where latency and training are timed: cpu (default), cuda, cuda:N "
                             "or auto")
    parser.add_argument("--kernel", choices=("reference", "triton", "auto"), default="reference",
                        help="the block's backend for eager latency and training cost (triton: "
                             "the fused kernels, CUDA only; default: %(default)s)")
    add_output_arguments(parser, "model-cost")


def run_from_args(args, log: Callable[[str], None] = print) -> Dict[str, Path]:
    train_csv = args.train_csv
    if train_csv is None:
        from slr_fused.data.synthetic import default_demo_folder, write_demo_dataset
        train_csv = str(write_demo_dataset(default_demo_folder())["train"])
    elif train_csv.lower() == "none":
        train_csv = None
    result = run_model_cost(args.configs, args.providers, args.lengths, args.batches, args.detail,
                            args.repeats, args.warmup, args.num_classes, train_csv,
                            args.train_steps, threads=args.threads, log=log,
                            device=args.device, kernel=args.kernel)
    return write_and_report(result, args, markdown_report, log)


main = command_main("model_cost", __doc__, add_arguments, run_from_args)


if __name__ == "__main__":
    raise SystemExit(main())
