"""``slr bench``: model cost (default), ``slr bench ablation``, ``slr bench deployment``,
``slr bench quantization`` and ``slr bench kernel-stats``.

Thin wrappers: the work is in :func:`slr_fused.bench.model_cost.run_model_cost`,
:func:`slr_fused.bench.ablation.run_ablation`, :func:`slr_fused.bench.deployment.run_deployment`,
:mod:`slr_fused.bench.quantization` and :func:`slr_fused.bench.kernel_stats.run_from_args`,
which take the same options.
"""


def add_bench_parser(subparsers) -> None:
    """Register ``bench`` (with its ``ablation`` subcommand) on the ``slr`` subparsers."""
    from . import ablation, deployment, kernel_stats, model_cost
    bench = subparsers.add_parser(
        "bench", help="model cost of every configuration (params, FLOPs, latency, training "
                      "cost); `slr bench ablation` trains the ablation table",
        description="Without a subcommand: parameters, FLOPs, latency, throughput and training "
                    "cost of every configuration, written to bench/results/"
                    "model-cost-<device>.{json,md} (a few minutes on a CPU).")
    model_cost.add_arguments(bench)
    sub = bench.add_subparsers(dest="bench_command", metavar="SUBCOMMAND")
    sub.required = False
    table = sub.add_parser("ablation", help="train every configuration with fixed budget and "
                                            "seeds; writes the table (JSON, Markdown) and a plot")
    ablation.add_arguments(table)
    runtimes = sub.add_parser("deployment", help="latency and throughput of every runtime "
                                                 "(eager, compile, AOTInductor, ONNX Runtime, "
                                                 "TensorRT; fused kernel on CUDA)")
    deployment.add_arguments(runtimes)
    from . import quantization
    reduced = sub.add_parser("quantization", help="INT8 ONNX and bf16 vs fp32 on the CPU: accuracy "
                                                  "on a held-out CSV, batch-1 latency per length")
    quantization.add_arguments(reduced)
    lab = sub.add_parser("kernel-stats", help="kernel performance lab without a GPU: registers, "
                                              "spills, SASS mix, executed work, dispatches, "
                                              "budgets (same as python -m "
                                              "slr_fused.bench.kernel_stats)")
    kernel_stats.add_arguments(lab)


def run_bench(args) -> int:
    """Run what ``args`` asks; errors are ValueError with one sentence (the CLI exits 2)."""
    command = getattr(args, "bench_command", None)
    if command == "ablation":
        from .ablation import run_from_args
        run_from_args(args)
        return 0
    if command == "quantization":
        from .quantization import run_from_args
        run_from_args(args)
        return 0
    if command == "deployment":
        from .deployment import run_from_args
        run_from_args(args)
        return 0
    if command == "kernel-stats":
        import sys

        from .kernel_stats import run_from_args
        args.command_line = "slr " + " ".join(sys.argv[1:])
        return run_from_args(args)
    from .model_cost import run_from_args
    run_from_args(args)
    return 0
