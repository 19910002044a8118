#!/usr/bin/env bash
# GPU acceptance in one command, sized for a borrowed GPU (<= 8 minutes on an H100 class GPU,
# compilation included):
#
#   bash scripts/gpu-check.sh            # run every step, write bench/results/*-<gpu>.json
#                                        # (GPU_CHECK_OUT=folder to write elsewhere)
#   bash scripts/gpu-check.sh --dry-run  # print the plan and exit 0 (works without a GPU)
#
# Steps (each under its own time budget; a step over budget is stopped and counted failed, the
# next still runs):
#   1. correctness: fused block vs float64 at real sizes (fp32/bf16/fp16; B 1, 32, 128;
#      T 30, 204, 256): python -m slr_fused.bench.gpu_check correctness
#   2. kernel timings vs eager and torch.compile with the targets judged (B=32, T=204):
#      python -m slr_fused.bench.kernels, i.e. slr bench kernels (GPU_CHECK_MAX_AUTOTUNE=1 adds
#      compile-max-autotune)
#   3. deployment runtimes at batch 1 and 32: slr bench deployment
#   4. TensorRT fp16 top-1 agreement with eager fp32 (>= 99%), where tensorrt imports
# Exit status: 0 every step passed, 1 a step failed, 2 no GPU (without --dry-run).
set -u

DRY_RUN=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=1 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check.sh: unknown argument '$arg' (use --dry-run or --help)" >&2; exit 2 ;;
  esac
done

PY="${PYTHON:-python}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${GPU_CHECK_OUT:-$ROOT/bench/results}"
unset TRITON_INTERPRET

if [ "$DRY_RUN" = 0 ] && ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "gpu-check.sh: no CUDA GPU visible to torch here; run it on a GPU machine (or use --dry-run)" >&2
  exit 2
fi

if [ "$DRY_RUN" = 1 ]; then
  GPU="<gpu>"
else
  GPU="$("$PY" -c "import torch; from slr_fused.bench.timing import device_tag; print(device_tag(torch.device('cuda')))")"
fi

PROVIDERS="fused eager compile"
if [ "${GPU_CHECK_MAX_AUTOTUNE:-0}" = 1 ]; then PROVIDERS="$PROVIDERS compile-max-autotune"; fi

# name | budget (s) | command. Budgets total 480 s (8 minutes).
STEPS=(
  "correctness|130|$PY -m slr_fused.bench.gpu_check correctness --out $OUT/kernel-check-$GPU.json"
  "kernel-timings|150|$PY -m slr_fused.bench.kernels --no-sweep --providers $PROVIDERS --warmup 10 --rep 40 --wall-calls 30 --output $OUT"
  "deployment|140|$PY -m slr_fused.bench.deployment --batches 1 32 --repeats 15 --warmup 3 --device cuda --runtimes eager eager-triton compile compile-triton cudagraphs cudagraphs-triton tensorrt-fp16 --output $OUT"
  "tensorrt-agreement|60|$PY -m slr_fused.bench.gpu_check tensorrt --out $OUT/tensorrt-agreement-$GPU.json"
)

total=0
for step in "${STEPS[@]}"; do total=$((total + $(echo "$step" | cut -d'|' -f2))); done

if [ "$DRY_RUN" = 1 ]; then
  echo "gpu-check plan (dry run; nothing is executed), budgets total ${total} s:"
  i=1
  for step in "${STEPS[@]}"; do
    IFS='|' read -r name budget cmd <<< "$step"
    echo "  $i. $name (<= ${budget} s): $cmd"
    i=$((i + 1))
  done
  echo "  summary: $OUT/gpu-check-$GPU.json"
  exit 0
fi

mkdir -p "$OUT"
cd "$ROOT" || exit 2
summary="["
failed=0
for step in "${STEPS[@]}"; do
  IFS='|' read -r name budget cmd <<< "$step"
  echo "=== $name (budget ${budget} s): $cmd"
  start=$(date +%s)
  # shellcheck disable=SC2086
  timeout --signal=INT --kill-after=10 "$budget" $cmd
  rc=$?
  secs=$(( $(date +%s) - start ))
  status=passed
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status=timed-out; failed=1
  elif [ "$name" = tensorrt-agreement ] && [ "$rc" = 2 ]; then status=skipped
  elif [ "$rc" != 0 ]; then status=failed; failed=1; fi
  echo "=== $name: $status (exit $rc, ${secs} s)"
  summary="$summary{\"step\": \"$name\", \"status\": \"$status\", \"exit\": $rc, \"seconds\": $secs, \"budget\": $budget},"
done
summary="${summary%,}]"
printf '{"gpu": "%s", "date": "%s", "steps": %s}\n' "$GPU" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$summary" \
  > "$OUT/.gpu-check-$GPU.json.tmp" && mv "$OUT/.gpu-check-$GPU.json.tmp" "$OUT/gpu-check-$GPU.json"
echo "wrote $OUT/gpu-check-$GPU.json"
exit "$failed"
