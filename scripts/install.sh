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
# MediaPipe depends on opencv-contrib-python (desktop OpenCV; its cv2 needs libGL/GLib). Where those
# are missing (servers, containers), let the headless build own cv2.
if "$PYTHON" -m pip show -q opencv-contrib-python >/dev/null 2>&1 && ! "$PYTHON" -c "import cv2" >/dev/null 2>&1; then
    "$PYTHON" -m pip uninstall -q -y opencv-contrib-python
    "$PYTHON" -m pip install -q --force-reinstall --no-deps -c constraints.txt "opencv-python-headless>=4.8,<4.12"
fi
