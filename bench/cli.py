"""``slr bench [SUBCOMMAND]``: every benchmark of the package from one command.

Without a subcommand, the model cost (:mod:`.model_cost`). Each subcommand is a module with
``add_arguments(parser)`` and ``run_from_args(args)`` (the harness's command pattern,
:mod:`.common`); ``python -m slr_fused.bench.<module>`` takes the same flags. Results go to
``--output`` (default ``bench-results/`` in the current directory).
"""

import importlib
import sys

# subcommand -> (module, help). The model cost is the default (no subcommand).
SUBCOMMANDS = {
    "ablation": ("ablation", "train every configuration with fixed budget and seeds; writes the "
                             "table (JSON, Markdown) and a plot"),
    "deployment": ("deployment", "latency and throughput of every runtime (eager, compile, "
                                 "AOTInductor, ONNX Runtime, TensorRT; fused kernel on CUDA)"),
    "quantization": ("quantization", "INT8 ONNX and bf16 vs fp32 on the CPU: accuracy on a "
                                     "held-out CSV, batch-1 latency per length"),
    "kernels": ("kernels", "the fused block's kernels against eager and torch.compile, with "
                           "correctness checks, launch counts and targets (CUDA GPU)"),
    "kernel-stats": ("kernel_stats", "kernel performance lab without a GPU: registers, spills, "
                                     "SASS mix, executed work, dispatches, budgets"),
}
DEFAULT = "model_cost"


def _module(name: str):
    return importlib.import_module(f"slr_fused.bench.{name}")


def add_bench_parser(subparsers) -> None:
    """Register ``bench`` and its subcommands on the ``slr`` subparsers."""
    bench = subparsers.add_parser(
        "bench", help="model cost of every configuration (params, FLOPs, latency, training "
                      "cost); subcommands: " + ", ".join(SUBCOMMANDS),
        description="Without a subcommand: parameters, FLOPs, latency, throughput and training "
                    "cost of every configuration, written to <output>/model-cost-<device>."
                    "{json,md} (--output, default bench-results/; a few minutes on a CPU).")
    _module(DEFAULT).add_arguments(bench)
    sub = bench.add_subparsers(dest="bench_command", metavar="SUBCOMMAND")
    sub.required = False
    for command, (module, text) in SUBCOMMANDS.items():
        _module(module).add_arguments(sub.add_parser(command, help=text, description=text))


def run_bench(args) -> int:
    """Run what ``args`` asks; errors are ValueError with one sentence (the CLI exits 2).

    Returns the benchmark's exit status (0 where it only writes results).
    """
    command = getattr(args, "bench_command", None)
    module = SUBCOMMANDS[command][0] if command else DEFAULT
    args.command_line = "slr " + " ".join(sys.argv[1:])   # recorded by kernel-stats
    code = _module(module).run_from_args(args)
    return code if isinstance(code, int) else 0
