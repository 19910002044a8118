#!/usr/bin/env bash
# Install slr-fused (editable) with optional extras: bash scripts/install.sh [extra,extra,...]
# Keeps an existing torch (a GPU user's CUDA build stays); with none, installs torch 2.13.0.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import torch" >/dev/null 2>&1; then
    "$PYTHON" -m pip install -q "torch==2.13.0"
fi
extras=${1:-}
"$PYTHON" -m pip install -q -c constraints.txt -e ".${extras:+[$extras]}"
