"""Which runtime serves a trained SiFormer fastest: every deployment path, side by side.

    slr bench deployment                       # this machine's device, batch 1 and 32, T = 204
    python -m slr_fused.bench.deployment --runtimes eager aoti onnxruntime --batches 1 32

It answers the deployment question: at batch 1 and 32, is ONNX Runtime (CUDA provider on a GPU)
or ``torch.compile``/AOTInductor of the model with the fused Triton block faster, and where do
TensorRT engines land. Every runtime runs the baseline and the BMHCMA model (bidirectional,
3 heads, 100 classes, random weights: timing does not depend on training), so the block's
overhead under each runtime comes out of the same run.

Runtimes (one ``setup_*(model, ctx)`` each, eager and compile from the harness
:mod:`slr_fused.bench.common`; one that cannot run here is listed with its reason):
  eager            PyTorch eager, reference block
  eager-triton     PyTorch eager, fused block (CUDA)
  compile          torch.compile (inductor, static shapes, compiled during warm-up)
  compile-triton   torch.compile with the fused block as one opaque op (CUDA)
  cudagraphs, cudagraphs-triton   torch.compile(mode="reduce-overhead"): the same, replayed as
                   CUDA graphs (one launch for the whole model; CUDA)
  aoti             AOTInductor package (``slr export aoti --kernel reference``)
  aoti-triton      AOTInductor package with the fused block inside (CUDA)
  onnxruntime      ONNX Runtime on the same ONNX file a deployment uses: the CUDA provider with
                   I/O binding on a GPU (needs onnxruntime-gpu), the CPU provider elsewhere
  tensorrt-fp32, tensorrt-fp16   engines built from that ONNX file (GPU with TensorRT)

Timing: inputs already on the device; within one batch size every runner is called once per
repeat, in turn (interleaved, so drifts of the machine land on all alike), after warm-up;
wall-clock seconds with device synchronisation, i.e. what a serving loop sees, Python and
launches included; medians with 20th/80th percentiles, and ratios paired per repeat. Exported
paths go through the project's runners (input checks included), exactly as ``slr predict``.
"""

import argparse
import dataclasses
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch

from slr_fused.bench.common import (BASELINE, Context, Unavailable, add_output_arguments,
                                    bench_device, build_model, command_main, compile_static,
                                    environment, input_dims, measure_cell, needs_cuda,
                                    paired_ratio, random_inputs, setup_compile, setup_eager,
                                    summarize, write_and_report)
from slr_fused.errors import describe_error

BLOCK = "bidirectional h=3"
CONFIGS = ((BASELINE, dict(use_cross_attention=False)), (BLOCK, dict(cross_attn_heads=3)))
RUNTIMES = ("eager", "eager-triton", "compile", "compile-triton", "cudagraphs",
            "cudagraphs-triton", "aoti", "aoti-triton", "onnxruntime", "tensorrt-fp32",
            "tensorrt-fp16")
PRECISION = {"tensorrt-fp16": "fp16 (LayerNorm, softmax fp32)"}


FUSED_ON_CPU = " (on the CPU the Triton interpreter is for tests, far too slow to time)"


def setup_eager_triton(model, ctx):
    needs_cuda(ctx, "the fused block", FUSED_ON_CPU)
    return setup_eager(model.set_kernel("triton"), ctx)


def setup_compile_triton(model, ctx):
    needs_cuda(ctx, "the fused block", FUSED_ON_CPU)
    return setup_compile(model.set_kernel("triton"), ctx)


def _cudagraphs(model, ctx):
    needs_cuda(ctx, "CUDA graphs")
    compiled = compile_static(model.to(ctx.device).eval(), mode="reduce-overhead")

    def run(inputs):
        with torch.no_grad():
            # The graph's output buffer is reused by the next replay: copy it out, as a caller
            # keeping the logits must.
            return compiled(*inputs).clone()
    return run


def setup_cudagraphs(model, ctx):
    return _cudagraphs(model, ctx)


def setup_cudagraphs_triton(model, ctx):
    needs_cuda(ctx, "the fused block", FUSED_ON_CPU)
    return _cudagraphs(model.set_kernel("triton"), ctx)


def _aoti(ctx, kernel):
    from slr_fused.export.aoti import AotiRunner, export_aoti
    checkpoint = ctx.checkpoint
    path = ctx.scratch / f"{checkpoint.stem}-{kernel}.pt2"
    export_aoti(checkpoint, path, kernel=kernel, device=str(ctx.device), max_batch=ctx.max_batch,
                log=lambda _: None)
    runner = AotiRunner(path, device=ctx.device)
    return lambda inputs: runner(*inputs)


def setup_aoti(model, ctx):
    return _aoti(ctx, "reference")


def setup_aoti_triton(model, ctx):
    needs_cuda(ctx, "the fused block", FUSED_ON_CPU)
    return _aoti(ctx, "triton")


def _onnx_file(ctx) -> Path:
    """One static-length ONNX export per model, shared by ONNX Runtime and TensorRT."""
    checkpoint = ctx.checkpoint
    path = ctx.scratch / f"{checkpoint.stem}-T{ctx.length}.onnx"
    if not path.is_file():
        try:
            from slr_fused.export.onnx import export_onnx
            export_onnx(checkpoint, path, length=ctx.length)
        except ImportError as error:
            raise Unavailable(f"ONNX export needs onnx, onnxscript and onnxruntime "
                              f"({error.name} missing)") from None
    return path


def setup_onnxruntime(model, ctx):
    try:
        import onnxruntime
    except ImportError:
        raise Unavailable("onnxruntime is not installed") from None
    from slr_fused.export.runtime import OnnxRuntimeRunner
    providers = ["CPUExecutionProvider"]
    if ctx.device.type == "cuda":
        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise Unavailable("this onnxruntime has no CUDA provider (pip install onnxruntime-gpu)")
        providers.insert(0, "CUDAExecutionProvider")
    # No spin-waiting: in an interleaved comparison the spinning threads would take the CPU
    # from the runtime timed next (on 2 cores, eager PyTorch ran up to 6x slower after it).
    runner = OnnxRuntimeRunner(_onnx_file(ctx), providers=providers, spinning=False)
    if ctx.device.type == "cuda" and runner.bind_device is None:
        raise Unavailable("ONNX Runtime did not take the CUDA provider for this model")
    return lambda inputs: runner(*inputs)


def _tensorrt(ctx, precision):
    needs_cuda(ctx, "TensorRT", " (engines are built and run on an NVIDIA GPU)")
    from slr_fused.export.tensorrt import (Profile, TensorRTRunner, TensorRTUnavailableError,
                                           build_engine)
    onnx_path = _onnx_file(ctx)
    engine = ctx.scratch / f"{ctx.checkpoint.stem}-{precision}.engine"
    profile = Profile(min_batch=1, opt_batch=ctx.max_batch, max_batch=ctx.max_batch)
    try:
        build_engine(onnx_path, engine, precision=precision, profile=profile,
                     timing_cache=ctx.scratch / "timing.cache", log=lambda _: None)
    except TensorRTUnavailableError as error:
        raise Unavailable(str(error)) from None
    runner = TensorRTRunner(engine, device=ctx.device.index or 0)
    return lambda inputs: runner(*inputs)


def setup_tensorrt_fp32(model, ctx):
    return _tensorrt(ctx, "fp32")


def setup_tensorrt_fp16(model, ctx):
    return _tensorrt(ctx, "fp16")


SETUPS = {"eager": setup_eager, "eager-triton": setup_eager_triton, "compile": setup_compile,
          "compile-triton": setup_compile_triton, "cudagraphs": setup_cudagraphs,
          "cudagraphs-triton": setup_cudagraphs_triton, "aoti": setup_aoti,
          "aoti-triton": setup_aoti_triton, "onnxruntime": setup_onnxruntime,
          "tensorrt-fp32": setup_tensorrt_fp32, "tensorrt-fp16": setup_tensorrt_fp16}
assert tuple(SETUPS) == RUNTIMES


# ------------------------------------------------------------------------------------------


def _reason(error: BaseException) -> str:
    return str(error) if isinstance(error, Unavailable) else describe_error(error)


def build_runners(runtimes, ctx: Context, num_classes: int, model_settings: dict,
                  log: Callable[[str], None]):
    """{(runtime, config): callable} plus one status row per runtime (setup seconds or reason)."""
    from slr_fused.checkpoint import save_model
    checkpoints = {}
    for index, (name, overrides) in enumerate(CONFIGS):
        torch.manual_seed(0)
        model = build_model(overrides, num_classes, **model_settings).eval()
        checkpoints[name] = save_model(ctx.scratch / f"model{index}.pt", model)
    runners, status = {}, []
    for runtime in runtimes:
        built, reason, seconds = {}, None, {}
        for name, overrides in CONFIGS:
            torch.manual_seed(0)
            model = build_model(overrides, num_classes, **model_settings).eval()
            start = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    built[name] = SETUPS[runtime](
                        model, dataclasses.replace(ctx, checkpoint=checkpoints[name]))
            except Exception as error:   # a runtime failing here is a finding, not a crash
                reason = _reason(error)
                break
            seconds[name] = time.perf_counter() - start
        if reason is None:
            runners.update({(runtime, name): run for name, run in built.items()})
            status.append({"name": runtime, "available": True, "setup_seconds": seconds})
            log(f"{runtime}: ready ({sum(seconds.values()):.0f} s of setup)")
        else:
            status.append({"name": runtime, "available": False, "reason": reason})
            log(f"{runtime}: unavailable ({reason})")
    return runners, status


def drop_failing(runners: Dict[tuple, Callable], status: List[dict], inputs,
                 log: Callable[[str], None]) -> None:
    """Call every runner once on the cell's inputs (compiling happens here, per shape); a
    runtime that fails is removed, all configurations of it, and its status says why."""
    failed = {}
    for (runtime, config), run in runners.items():
        if runtime in failed:
            continue
        try:
            run(inputs)
        except Exception as error:   # e.g. a CUDA graph capture the model cannot take
            failed[runtime] = _reason(error)
    for runtime, reason in failed.items():
        for key in [k for k in runners if k[0] == runtime]:
            del runners[key]
        for row in status:
            if row["name"] == runtime:
                row.update(available=False, reason=f"failed at batch {inputs[0].shape[0]}: {reason}")
        log(f"{runtime}: dropped ({reason})")


def inputs_for(batch: int, length: int, device: torch.device, dims=None):
    """The cell's inputs (seeded by its shape), of the models' widths."""
    return random_inputs(batch, length, seed=batch * 1000 + length, device=device, dims=dims)


def cell_rows(samples: Dict[tuple, List[float]], batch: int, length: int) -> List[dict]:
    """Statistics per runner, paired ratios to the same runtime's baseline and to eager."""
    rows = []
    for (runtime, config), values in samples.items():
        stats = summarize(values)
        row = {"runtime": runtime, "config": config, "batch": batch, "length": length,
               "precision": PRECISION.get(runtime, "fp32"), "seconds": stats,
               "ms_per_batch": 1e3 * stats["median"],
               "samples_per_second": batch / stats["median"]}
        for key, other in (("ratio_to_baseline", (runtime, BASELINE)),
                           ("speedup_vs_eager", ("eager", config))):
            if other in samples and other != (runtime, config):
                row[key] = paired_ratio(values, samples[other]) if key == "ratio_to_baseline" \
                    else paired_ratio(samples[other], values)
        rows.append(row)
    return rows


def run_deployment(runtimes: Sequence[str] = RUNTIMES, batches: Sequence[int] = (1, 32),
                   length: int = 204, repeats: int = 30, warmup: int = 5, num_classes: int = 100,
                   device: str = "auto", model_settings: Optional[dict] = None,
                   log: Callable[[str], None] = print) -> Dict[str, object]:
    bad = [r for r in runtimes if r not in SETUPS]
    if bad:
        raise ValueError(f"unknown runtimes {bad}; choose from {list(SETUPS)}")
    if not batches or min(batches) < 1 or length < 1 or repeats < 1 or warmup < 0:
        raise ValueError("batches and length must be positive, repeats at least 1")
    target = bench_device(device)
    model_settings = model_settings or {}
    rows = []
    with tempfile.TemporaryDirectory(prefix="slr-bench-deploy-") as scratch:
        ctx = Context(target, length, max(batches), Path(scratch))
        runners, status = build_runners(runtimes, ctx, num_classes, model_settings, log)
        dims = input_dims(build_model({}, num_classes, **model_settings))
        for batch in batches:
            inputs = inputs_for(batch, length, target, dims)
            start = time.perf_counter()
            drop_failing(runners, status, inputs, log)
            samples = measure_cell(runners, inputs, repeats, warmup)
            rows += cell_rows(samples, batch, length)
            log(f"B={batch:<3} T={length}: {len(runners)} runners x {repeats} repeats "
                f"({time.perf_counter() - start:.0f} s)")
    return {"kind": "deployment", "environment": environment(target),
            "settings": {"runtimes": list(runtimes), "batches": list(batches), "length": length,
                         "repeats": repeats, "warmup": warmup, "num_classes": num_classes,
                         "device": str(target), "model_settings": model_settings,
                         "configs": [name for name, _ in CONFIGS]},
            "runtimes": status, "rows": rows}


def markdown_report(result: Dict[str, object]) -> str:
    env, settings = result["environment"], result["settings"]
    lines = [f"# Deployment runtimes: {env['device']}", "",
             f"{env['date']}, torch {env['versions']['torch']}, onnxruntime "
             f"{env['versions'].get('onnxruntime')}, tensorrt {env['versions'].get('tensorrt')}; "
             f"T = {settings['length']}, {settings['num_classes']} classes, {settings['repeats']} "
             f"interleaved repeats after {settings['warmup']} warm-up calls; medians "
             f"[20th, 80th percentile].", "",
             "| batch | runtime | precision | baseline ms | BMHCMA ms | BMHCMA / baseline | "
             "BMHCMA speed-up vs eager |", "|---:|---|---|---:|---:|---:|---:|"]
    by_key = {(r["batch"], r["runtime"], r["config"]): r for r in result["rows"]}
    for batch in settings["batches"]:
        for runtime in settings["runtimes"]:
            base, block = by_key.get((batch, runtime, BASELINE)), by_key.get((batch, runtime, BLOCK))
            if block is None:
                continue

            def ms(row):
                s = row["seconds"]
                return f"{1e3 * s['median']:.2f} [{1e3 * s['p20']:.2f}, {1e3 * s['p80']:.2f}]"

            def ratio(stats):
                return "-" if stats is None else \
                    f"{stats['median']:.2f} [{stats['p20']:.2f}, {stats['p80']:.2f}]"
            lines.append(f"| {batch} | {runtime} | {block['precision']} | "
                         f"{ms(base) if base else '-'} | {ms(block)} | "
                         f"{ratio(block.get('ratio_to_baseline'))} | "
                         f"{ratio(block.get('speedup_vs_eager'))} |")
    missing = [r for r in result["runtimes"] if not r["available"]]
    if missing:
        lines += ["", "Not measured here:", ""]
        lines += [f"- {r['name']}: {r['reason']}" for r in missing]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=RUNTIMES,
                        help="runtimes to time (default: all; those that cannot run here are "
                             "listed with the reason)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--length", type=int, default=204, help="frames per sample")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--num_classes", type=int, default=100)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    add_output_arguments(parser, "deployment")


def run_from_args(args, log: Callable[[str], None] = print) -> Dict[str, Path]:
    result = run_deployment(args.runtimes, args.batches, args.length, args.repeats, args.warmup,
                            args.num_classes, args.device, log=log)
    return write_and_report(result, args, markdown_report, log)


main = command_main("deployment", __doc__, add_arguments, run_from_args)


if __name__ == "__main__":
    raise SystemExit(main())
