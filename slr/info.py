"""What ``slr info`` reports: versions, devices, usable backends, and model sizes."""

import platform
from typing import List, Tuple

import torch

from .environment import package_version
from .models.variants import parameter_table

OPTIONAL_PACKAGES = ("numpy", "triton", "onnx", "onnxruntime", "onnxscript", "tensorrt",
                     "mediapipe", "fvcore", "tqdm", "matplotlib")


def backends() -> List[Tuple[str, bool, str]]:
    """(backend, usable, why) for the BMHCMA block and deployment."""
    from .models.cross_modal import triton_available
    import os
    rows = [("reference (PyTorch)", True, "always")]
    has_triton = triton_available()
    if has_triton and torch.cuda.is_available():
        rows.append(("triton", True, "CUDA GPU"))
    elif has_triton and os.environ.get("TRITON_INTERPRET") == "1":
        rows.append(("triton", True, "CPU interpreter (TRITON_INTERPRET=1; slow, for tests)"))
    else:
        rows.append(("triton", False, "needs Triton and a CUDA GPU" if not has_triton
                     else "no CUDA GPU (set TRITON_INTERPRET=1 to run on the CPU, slowly)"))
    onnx_ok = package_version("onnx")[0].isdigit() and package_version("onnxruntime")[0].isdigit()
    rows.append(("onnx export + onnxruntime", onnx_ok, "installed" if onnx_ok else "pip install -e .[export]"))
    if onnx_ok and torch.cuda.is_available():
        import onnxruntime
        cuda_ep = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
        rows.append(("onnxruntime CUDA provider", cuda_ep,
                     "available" if cuda_ep else "CPU-only onnxruntime: pip install onnxruntime-gpu"))
    import shutil
    compiler = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    rows.append(("aotinductor export (.pt2)", compiler is not None,
                 f"C++ compiler {compiler}" if compiler else "needs a C++ compiler (g++ or clang)"))
    trt = package_version("tensorrt")[0].isdigit()
    rows.append(("tensorrt", trt and torch.cuda.is_available(),
                 "installed" if trt else "TensorRT not installed (needs an NVIDIA GPU machine)"))
    return rows


def environment_report() -> str:
    from . import __version__
    lines = [f"slr-fused {__version__}",
             f"python {platform.python_version()} on {platform.platform()}",
             f"torch {torch.__version__} (CUDA build: {torch.version.cuda or 'no'})"]
    lines += [f"{name} {package_version(name)}" for name in OPTIONAL_PACKAGES]
    lines.append("")
    lines.append(f"CPU: {torch.get_num_threads()} threads")
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            lines.append(f"cuda:{i}: {props.name}, {props.total_memory / 2**30:.1f} GiB")
    else:
        lines.append("CUDA: no GPU available")
    lines.append("")
    lines.append("Backends:")
    for name, ok, why in backends():
        lines.append(f"  {'yes' if ok else 'no ':3} {name}: {why}")
    return "\n".join(lines)


def model_report(num_classes: int = 100) -> str:
    lines = [f"Parameters (default SiFormer: 3 encoder layers, 2 decoder layers, d_ff 2048, "
             f"{num_classes} classes):",
             f"  {'configuration':40} {'total':>10} {'block':>8} {'share':>7} {'vs baseline':>12}"]
    for name, total, block, share, increase in parameter_table(num_classes):
        lines.append(f"  {name:40} {total:>10,} {block:>8,} {share:>6.1%} {increase:>+11.1%}")
    return "\n".join(lines)
