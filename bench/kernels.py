"""GPU benchmark of the fused cross-modal attention block: ``slr bench kernels``.

    slr bench kernels                                  # B=32, T=204 plus the sweep
    python -m slr_fused.bench.kernels --no-sweep --dtypes fp32   # the same command

Providers (one ``setup_*`` function each): ``fused`` (our Triton kernels through the module's
``backend="triton"``), ``eager`` (``forward_reference``), ``compile`` and ``compile-max-autotune``
(``torch.compile`` of ``forward_reference``). Modes: ``forward`` (no grad) and ``full``
(forward + backward with a fixed random upstream gradient). Times are CUDA-event medians from
``triton.testing.do_bench`` with 20th/80th percentiles, plus the wall-clock time per call
(which includes Python and launch overhead, where this block spends most of its time).

Before timing, every dtype is checked against the float64 reference at the real size (outputs
and every gradient) with the check and bounds of :mod:`slr_fused.kernels.tolerances`, the ones
the tests use. The JSON written to ``<output>/kernels-<device>.json`` (``--output``, default
``bench-results/``; the Markdown table beside it) holds the device,
versions, date, the checks, the launch counts from the profiler (the issue requires at most 3
Triton launches forward and 6 backward) and a floor per configuration: max(bytes / measured
copy bandwidth, FLOPs / measured matmul peak) + one measured launch.

Exit status: 0 every check and launch budget passed, 1 one failed, 2 it cannot run here (no
CUDA GPU, no Triton, or TRITON_INTERPRET=1 set).
"""

import argparse
import datetime
import os
import platform
import time

import torch

from slr_fused.bench.common import (add_output_arguments, command_main, compile_static,
                                    environment, write_result)
from slr_fused.kernels.tolerances import DTYPES, block_inputs, block_module, check_correctness
from slr_fused.models.cross_modal import CrossModalAttention

SWEEP_B = (1, 8, 32, 128)
SWEEP_T = (30, 204, 256)
DEVICE = "cuda"  # the CPU smoke test of this script sets "cpu" (under TRITON_INTERPRET=1)


# ----------------------------------------------------------------------------------------------
# Inputs and providers
# ----------------------------------------------------------------------------------------------


def make_inputs(B, T, dtype, device=None, masked=True, seed=0):
    """The block's inputs (:func:`slr_fused.kernels.tolerances.block_inputs`) on DEVICE."""
    return block_inputs(B, T, dtype, device or DEVICE, masked=masked, seed=seed)


def make_module(heads, dtype, backend, device=None, seed=1):
    return block_module(heads, dtype, backend, device or DEVICE, seed=seed)


def setup_fused(module, mask):
    module.backend = "triton"
    return lambda lh, rh, body: module(lh, rh, body, mask)


def setup_eager(module, mask):
    return lambda lh, rh, body: module.forward_reference(lh, rh, body, mask)


def setup_compile(module, mask, mode=None):
    return compile_static(lambda lh, rh, body: module.forward_reference(lh, rh, body, mask),
                          mode)


PROVIDERS = {
    "fused": setup_fused,
    "eager": setup_eager,
    "compile": setup_compile,
    "compile-max-autotune": lambda m, mask: setup_compile(m, mask, "max-autotune"),
}


def make_step(fn, feats, mode):
    """A zero-argument callable running one forward (no grad) or forward + backward."""
    if mode == "forward":
        def step():
            with torch.no_grad():
                return fn(*feats)
        return step
    leaves = [x.detach().clone().requires_grad_(True) for x in feats]
    g = torch.Generator(device="cpu").manual_seed(2)
    grads = [torch.randn(x.shape, generator=g).to(x.device, x.dtype) for x in feats]

    def step():
        outs = fn(*leaves)
        torch.autograd.backward(list(outs), grads)
    return step


# ----------------------------------------------------------------------------------------------
# Measurements
# ----------------------------------------------------------------------------------------------


def time_step(step, warmup_ms, rep_ms, wall_calls):
    import triton

    median, p20, p80 = triton.testing.do_bench(step, warmup=warmup_ms, rep=rep_ms,
                                               quantiles=[0.5, 0.2, 0.8])
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(wall_calls):
        step()
    torch.cuda.synchronize()
    wall = (time.perf_counter() - start) * 1e3 / wall_calls
    return {"median_ms": median, "p20_ms": p20, "p80_ms": p80, "wall_ms_per_call": wall}


def count_launches(heads, B, T, dtype, masked):
    """Kernels launched by one fused forward and one fused backward, from the profiler."""
    from torch.profiler import ProfilerActivity, profile

    module = make_module(heads, dtype, "triton")
    feats, mask = make_inputs(B, T, dtype, masked=masked)
    leaves = [x.clone().requires_grad_(True) for x in feats]
    for _ in range(2):  # compile and warm the caches outside the profile
        outs = module(*leaves, mask)
        torch.autograd.backward(list(outs), [torch.ones_like(o) for o in outs])
    torch.cuda.synchronize()

    def kernels(prof):
        names = [e.name for e in prof.events() if e.device_type.name == "CUDA"]
        ours = sum(n.startswith("_cross_modal_attention_") for n in names)
        packing = sum(n.startswith("triton_") for n in names)  # inductor's compiled packing
        return {"triton": ours, "packing": packing, "all": len(names), "names": sorted(set(names))}

    with profile(activities=[ProfilerActivity.CUDA]) as prof_fwd:
        outs = module(*leaves, mask)
        torch.cuda.synchronize()
    ones = [torch.ones_like(o) for o in outs]
    with profile(activities=[ProfilerActivity.CUDA]) as prof_bwd:
        torch.autograd.backward(list(outs), ones)
        torch.cuda.synchronize()
    fwd, bwd = kernels(prof_fwd), kernels(prof_bwd)
    return {"forward": fwd, "backward": bwd,
            "forward_ok": fwd["triton"] <= 3, "backward_ok": bwd["triton"] <= 6}


def measure_machine():
    """Copy bandwidth, matmul peaks and the cost of one trivial launch, measured here."""
    import triton

    n = 64 * 1024 * 1024
    src = torch.empty(n, device="cuda", dtype=torch.float32)
    dst = torch.empty_like(src)
    copy_ms = triton.testing.do_bench(lambda: dst.copy_(src), warmup=25, rep=100)
    peaks = {}
    for name, dtype, tf32 in (("fp32", torch.float32, False), ("tf32", torch.float32, True),
                              ("bf16", torch.bfloat16, False)):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        a = torch.randn(8192, 8192, device="cuda", dtype=dtype)
        ms = triton.testing.do_bench(lambda: a @ a, warmup=25, rep=100)
        peaks[name] = 2 * 8192 ** 3 / (ms * 1e-3)
    torch.backends.cuda.matmul.allow_tf32 = False
    tiny = torch.zeros(1, device="cuda")
    launch_ms = triton.testing.do_bench(lambda: tiny.add_(1), warmup=25, rep=100)
    return {"copy_bandwidth_Bps": 2 * n * 4 / (copy_ms * 1e-3), "matmul_peak_flops": peaks,
            "launch_ms": launch_ms}


def floor_ms(machine, heads, B, T, dtype, mode):
    """Lower bound for the fused block: traffic or arithmetic, plus one launch."""
    from slr_fused.kernels.cross_modal_attention import cross_modal_attention_flops

    module = CrossModalAttention(num_heads=heads)
    size = torch.tensor([], dtype=dtype).element_size()
    io = 2 * B * T * sum(module.dims.values()) * size + B * T  # inputs + outputs + mask
    params = sum(p.numel() for p in module.parameters()) * 4
    flops = 2 * cross_modal_attention_flops(module, B, T)  # multiply-add = 2 for peak rates
    if mode == "full":  # backward reads the inputs and output gradient, writes input gradients
        io, params, flops = 2 * io, 3 * params, 3 * flops
    peak = machine["matmul_peak_flops"]["fp32"]  # the kernels use ieee fp32 dots
    bytes_ms = (io + params) / machine["copy_bandwidth_Bps"] * 1e3
    flops_ms = flops / peak * 1e3
    launches = 1 if mode == "forward" else 3
    return {"bytes": io + params, "flops": flops, "bytes_ms": bytes_ms, "flops_ms": flops_ms,
            "floor_ms": max(bytes_ms, flops_ms) + launches * machine["launch_ms"]}


# ----------------------------------------------------------------------------------------------
# The targets, judged from the rows
# ----------------------------------------------------------------------------------------------

# (name, mode, what the fused median is compared with, required ratio): "compile" means the
# faster of the two torch.compile modes; "floor" means fused / floor at most the ratio.
TARGETS = (
    ("forward >= 10x eager", "forward", "eager", 10.0),
    ("forward >= 2x best torch.compile", "forward", "compile", 2.0),
    ("forward+backward >= 5x eager", "full", "eager", 5.0),
    ("forward within 3x of the floor", "forward", "floor", 3.0),
    ("forward+backward within 3x of the floor", "full", "floor", 3.0),
)


def judge_targets(results, B, T):
    """Per dtype, each target at (B, T): the measured ratio and whether it is met."""
    verdicts = []
    cells = {}
    for row in results:
        if row["B"] == B and row["T"] == T and "median_ms" in row:
            cells.setdefault((row["dtype"], row["mode"]), {})[row["provider"]] = row
    for (dtype, mode), rows in sorted(cells.items()):
        fused = rows.get("fused")
        if fused is None:
            continue
        for name, target_mode, other, needed in TARGETS:
            if target_mode != mode:
                continue
            if other == "floor":
                ratio = fused["median_ms"] / fused["floor_ms"]
                met = ratio <= needed
            else:
                rivals = [r["median_ms"] for p, r in rows.items()
                          if p == other or (other == "compile" and p.startswith("compile"))]
                if not rivals:
                    continue
                ratio = min(rivals) / fused["median_ms"]
                met = ratio >= needed
            verdicts.append({"target": name, "dtype": dtype, "B": B, "T": T,
                             "ratio": ratio, "met": met})
    return verdicts


def markdown_report(report) -> str:
    """The table for docs/benchmarks.md: the main size, every provider, and the verdicts."""
    B, T = report["main_size"]
    lines = [f"{report['device']}, torch {report['torch']}, triton {report['triton']}, "
             f"CUDA {report['cuda']}, {report['date']}; B = {B}, T = {T}, heads "
             f"{report['heads']}, {'masked' if report['masked'] else 'no mask'}; CUDA-event "
             f"medians [20th, 80th percentile] (triton.testing.do_bench) and wall-clock per call.",
             "", "| dtype | mode | provider | median ms [p20, p80] | wall ms | fused speed-up |",
             "|---|---|---|---:|---:|---:|"]
    rows = [r for r in report["results"] if (r["B"], r["T"]) == (B, T)]
    fused = {(r["dtype"], r["mode"]): r for r in rows
             if r["provider"] == "fused" and "median_ms" in r}
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['dtype']} | {r['mode']} | {r['provider']} | failed: "
                         f"{r['error'][:80]} | | |")
            continue
        f = fused.get((r["dtype"], r["mode"]))
        speedup = f"{r['median_ms'] / f['median_ms']:.2f}x" if f and r is not f else "-"
        lines.append(f"| {r['dtype']} | {r['mode']} | {r['provider']} | {r['median_ms']:.4f} "
                     f"[{r['p20_ms']:.4f}, {r['p80_ms']:.4f}] | {r['wall_ms_per_call']:.4f} | "
                     f"{speedup} |")
    lines += ["", "| target | dtype | measured | met |", "|---|---|---:|---|"]
    for v in report["targets"]:
        lines.append(f"| {v['target']} | {v['dtype']} | {v['ratio']:.2f} | "
                     f"{'yes' if v['met'] else '**no**'} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------


def run(args, log=print):
    import triton

    torch.backends.cuda.matmul.allow_tf32 = False
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 256)
    device = torch.cuda.get_device_name()
    report = {
        "device": device, "torch": torch.__version__, "triton": triton.__version__,
        "cuda": torch.version.cuda, "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "heads": args.heads, "masked": not args.no_mask, "checks": [], "results": [],
    }
    log(f"{device} | torch {torch.__version__} | triton {triton.__version__} | "
        f"CUDA {torch.version.cuda}")

    for name in args.dtypes:
        check = check_correctness(args.heads, args.batch, args.length, name,
                                  not args.no_mask, device=DEVICE)
        report["checks"].append(check)
        log(f"check {name}: max rel error {check['max_rel_error']:.2e} ({check['worst']}) "
            f"bound {check['bound']:.0e} -> {'ok' if check['passed'] else 'FAILED'}")
    report["launches"] = count_launches(args.heads, args.batch, args.length, torch.float32,
                                        not args.no_mask)
    lf, lb = report["launches"]["forward"], report["launches"]["backward"]
    log(f"launches: forward {lf['triton']} ours + {lf['packing']} packing / {lf['all']} kernels "
        f"in all; backward {lb['triton']} ours + {lb['packing']} packing / {lb['all']} in all "
        "(the issue's limits: 3 and 6)")
    machine = measure_machine()
    report["machine"] = machine

    configs = [(args.batch, args.length, list(args.providers))]
    if not args.no_sweep:
        sweep_providers = [p for p in args.providers if p != "compile-max-autotune"]
        configs += [(B, T, sweep_providers) for B in SWEEP_B for T in SWEEP_T
                    if (B, T) != (args.batch, args.length)]
    failed = {c["dtype"] for c in report["checks"] if not c["passed"]}
    log(f"{'B':>4} {'T':>4} {'dtype':>5} {'mode':>8} {'provider':>22} {'median ms':>10} "
        f"{'p20':>8} {'p80':>8} {'wall ms':>9} {'floor ms':>9}")
    for B, T, providers in configs:
        for name in args.dtypes:
            dtype = DTYPES[name]
            for mode in args.modes:
                floor = floor_ms(machine, args.heads, B, T, dtype, mode)
                for provider in providers:
                    if provider == "fused" and name in failed:
                        continue  # never time a kernel that failed its check
                    module = make_module(args.heads, dtype, "reference")
                    feats, mask = make_inputs(B, T, dtype, masked=not args.no_mask)
                    try:
                        step = make_step(PROVIDERS[provider](module, mask), feats, mode)
                        timing = time_step(step, args.warmup, args.rep, args.wall_calls)
                    except Exception as exc:  # one provider failing must not lose the others
                        timing = {"error": f"{type(exc).__name__}: {exc}"[:500]}
                    row = {"B": B, "T": T, "dtype": name, "mode": mode, "provider": provider,
                           **timing, **floor}
                    report["results"].append(row)
                    if "error" in timing:
                        log(f"{B:>4} {T:>4} {name:>5} {mode:>8} {provider:>22} "
                            f"{timing['error'][:60]}")
                    else:
                        log(f"{B:>4} {T:>4} {name:>5} {mode:>8} {provider:>22} "
                            f"{timing['median_ms']:>10.4f} {timing['p20_ms']:>8.4f} "
                            f"{timing['p80_ms']:>8.4f} {timing['wall_ms_per_call']:>9.4f} "
                            f"{floor['floor_ms']:>9.4f}")

    report["main_size"] = [args.batch, args.length]
    report["targets"] = judge_targets(report["results"], args.batch, args.length)
    report["environment"] = environment(torch.device("cuda"))
    paths = write_result(report, args.output, args.name, markdown_report)
    log(markdown_report(report))
    log(f"wrote {paths['json']} and {paths['md']}")
    ok = (not failed and report["launches"]["forward_ok"] and report["launches"]["backward_ok"])
    return 0 if ok else 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--length", type=int, default=204)
    p.add_argument("--heads", type=int, default=3, choices=(1, 2, 3, 6))
    p.add_argument("--dtypes", nargs="+", default=["fp32", "bf16", "fp16"], choices=list(DTYPES),
                   help="checked dtypes; all are timed unless their check fails")
    p.add_argument("--modes", nargs="+", default=["forward", "full"], choices=["forward", "full"])
    p.add_argument("--providers", nargs="+", default=list(PROVIDERS), choices=list(PROVIDERS))
    p.add_argument("--no-sweep", action="store_true",
                   help=f"only --batch/--length (the sweep is B in {SWEEP_B}, T in {SWEEP_T}; "
                        "max-autotune only at the main size)")
    p.add_argument("--no-mask", action="store_true", help="no key padding mask")
    p.add_argument("--warmup", type=int, default=25, help="do_bench warmup, ms")
    p.add_argument("--rep", type=int, default=100, help="do_bench repetitions, ms")
    p.add_argument("--wall-calls", type=int, default=50, help="calls for the wall-clock mean")
    add_output_arguments(p, "kernels")


def run_from_args(args, log=print) -> int:
    """Refuse (ValueError, one sentence) where the kernels cannot be timed, else run."""
    if not torch.cuda.is_available():
        raise ValueError("slr bench kernels needs a CUDA GPU: torch sees none here "
                         f"(torch {torch.__version__}); run it on a GPU machine")
    if os.environ.get("TRITON_INTERPRET") == "1":
        raise ValueError("TRITON_INTERPRET=1 is set: unset it to time the compiled kernels")
    try:
        import triton  # noqa: F401
    except ImportError:
        raise ValueError("Triton is not installed: pip install -e .[kernels]") from None
    return run(args, log)


main = command_main("kernels", __doc__, add_arguments, run_from_args)


if __name__ == "__main__":
    raise SystemExit(main())
