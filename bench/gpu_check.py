"""The Python steps of ``scripts/gpu-check.sh`` that no other command covers.

    python -m slr_fused.bench.gpu_check correctness --out bench/results/kernel-check-<gpu>.json
    python -m slr_fused.bench.gpu_check tensorrt --out bench/results/tensorrt-agreement-<gpu>.json

``correctness``: the fused block's outputs and every gradient against the float64 reference at
real sizes (B 1, 32, 128 x T 30, 204, 256 x fp32, bf16, fp16, masked), with the check and
bounds the tests use (:mod:`slr_fused.kernels.tolerances`). ``tensorrt``: top-1 agreement of the TensorRT fp16 engine with
the eager fp32 model (BMHCMA configuration, random weights, 8 batches of 32); the goal is >= 99%.
Both exit 1 when the check fails, 2 when they cannot run (no GPU, no TensorRT).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

SIZES_B = (1, 32, 128)
SIZES_T = (30, 204, 256)
AGREEMENT_GOAL = 0.99


def run_correctness(heads=3, dtypes=("fp32", "bf16", "fp16")) -> dict:
    from slr_fused.kernels.tolerances import check_correctness
    checks = []
    for dtype in dtypes:
        for B in SIZES_B:
            for T in SIZES_T:
                start = time.perf_counter()
                try:
                    row = check_correctness(heads, B, T, dtype, True, device="cuda")
                except Exception as exc:  # one size failing must not hide the others
                    row = {"dtype": dtype, "B": B, "T": T, "passed": False,
                           "error": f"{type(exc).__name__}: {exc}"[:300]}
                row["seconds"] = round(time.perf_counter() - start, 2)
                checks.append(row)
                print(f"check {dtype} B={B} T={T}: "
                      + (row.get("error") or f"max rel error {row['max_rel_error']:.2e} "
                         f"({row['worst']}) bound {row['bound']:.0e}")
                      + (" ok" if row["passed"] else " FAILED"), flush=True)
    return {"kind": "kernel-check", "heads": heads, "checks": checks,
            "passed": all(c["passed"] for c in checks)}


def run_tensorrt_agreement(batches=8, batch=32, length=204) -> dict:
    import torch

    from slr_fused.bench.common import Context, random_inputs
    from slr_fused.bench.deployment import build_runners
    device = torch.device("cuda")
    with tempfile.TemporaryDirectory(prefix="slr-gpu-check-") as scratch:
        ctx = Context(device, length, batch, Path(scratch))
        runners, status = build_runners(["eager", "tensorrt-fp16"], ctx, 100, {}, lambda m: None)
        missing = [s for s in status if not s.get("available", True)]
        if missing:
            return {"kind": "tensorrt-agreement", "available": False,
                    "reason": "; ".join(str(s.get("reason")) for s in missing), "passed": None}
        results = {}
        for (runtime, config), fn in runners.items():
            results.setdefault(config, {})[runtime] = fn
        rows = []
        for config, fns in results.items():
            same = total = 0
            worst = 0.0
            for i in range(batches):
                inputs = random_inputs(batch, length, seed=100 + i, device=device)
                ref = fns["eager"](inputs).float()
                got = fns["tensorrt-fp16"](inputs).float()
                same += int((ref.argmax(-1) == got.argmax(-1)).sum())
                total += ref.shape[0]
                worst = max(worst, float((ref - got).abs().max()))
            rows.append({"config": config, "top1_agreement": same / total, "samples": total,
                         "max_abs_logit_diff": worst})
    return {"kind": "tensorrt-agreement", "available": True, "rows": rows, "goal": AGREEMENT_GOAL,
            "passed": all(r["top1_agreement"] >= AGREEMENT_GOAL for r in rows)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m slr_fused.bench.gpu_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=("correctness", "tensorrt"))
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--heads", type=int, default=3)
    args = p.parse_args(argv)
    import torch
    if not torch.cuda.is_available():
        print(f"gpu_check {args.step}: needs a CUDA GPU; torch sees none", file=sys.stderr)
        return 2
    if args.step == "correctness":
        result = run_correctness(args.heads)
    else:
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            print("gpu_check tensorrt: TensorRT does not import here; skipped", file=sys.stderr)
            return 2
        result = run_tensorrt_agreement()
    from slr_fused.bench.common import environment, write_json
    result["environment"] = environment(torch.device("cuda"))
    out = write_json(args.out, result)
    print(f"wrote {out}: {'passed' if result['passed'] else 'FAILED' if result['passed'] is False else result.get('reason')}")
    return 0 if result["passed"] in (True, None) else 1


if __name__ == "__main__":
    sys.exit(main())
