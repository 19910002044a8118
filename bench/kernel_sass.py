"""Compile a captured launch for a GPU target on the CPU and read what the compiler produced.

``triton.compile`` runs its whole pipeline (through ``ptxas``) without a device. From the cubin,
``cuobjdump`` (shipped beside ``ptxas`` in Triton's NVIDIA backend) gives the resource usage and
the SASS. From the SASS:

- registers per thread (``REG``), shared memory (Triton's metadata, else ``SHARED``);
- spill stores/loads per thread: the bytes of every ``STL``/``LDL`` (local memory is only used
  for spills and register-indexed arrays in these kernels; ptxas' ``-v`` counts the same way);
- the instruction mix of the whole kernel and of its loops (a loop is a backward ``BRA``; the
  loop body is the code between its target and the branch): ``FFMA``, ``HMMA``, ``HGMMA``
  (wgmma), ``MUFU``, global loads/stores (``LDG``/``STG``), local ones (``LDL``/``STL``).
"""

import hashlib
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, Optional

# Opcode families reported; the key is the prefix of the SASS opcode (before the first dot).
FAMILIES = {
    "FFMA": ("FFMA",), "FMUL": ("FMUL",), "FADD": ("FADD",),
    "HMMA": ("HMMA",), "WGMMA": ("HGMMA", "WGMMA"), "MUFU": ("MUFU",),
    "LDG": ("LDG",), "STG": ("STG",), "LDS": ("LDS", "LDSM"), "STS": ("STS",),
    "LDL": ("LDL",), "STL": ("STL",), "RED_ATOM": ("RED", "ATOM", "ATOMG"),
}
_INSTR = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(@!?U?P\w+\s+)?([A-Z][A-Z0-9_]*)((?:\.[A-Z0-9_]+)*)\s*([^;]*);")
_WIDTH = {"64": 8, "128": 16, "U8": 1, "S8": 1, "U16": 2, "S16": 2}


def tool_path(name: str) -> Optional[str]:
    """A CUDA binary tool from Triton's NVIDIA backend (or PATH)."""
    try:
        import triton
        candidate = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / name
        if candidate.exists():
            return str(candidate)
    except ImportError:
        return None
    from shutil import which
    return which(name)


def tool_versions() -> Dict[str, str]:
    out = {}
    try:
        import triton
        out["triton"] = triton.__version__
    except ImportError:
        out["triton"] = "missing"
    for tool in ("ptxas", "cuobjdump"):
        path = tool_path(tool)
        if not path:
            out[tool] = "missing"
            continue
        text = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
        match = re.search(r"release ([\d.]+), V([\d.]+)", text)
        out[tool] = match.group(2) if match else text.strip().splitlines()[-1:]
    return out


def parse_sass(sass: str) -> dict:
    """Instruction mix, loops and spill bytes of one kernel's SASS (``cuobjdump -sass``)."""
    instrs = []  # (address, opcode, modifiers, operands)
    for match in _INSTR.finditer(sass):
        addr = int(match.group(1), 16)
        instrs.append((addr, match.group(3), match.group(4) or "", match.group(5)))

    def family(op):
        for fam, prefixes in FAMILIES.items():
            if op in prefixes:
                return fam
        return None

    def mix(items):
        counts = {fam: 0 for fam in FAMILIES}
        for _, op, _, _ in items:
            fam = family(op)
            if fam:
                counts[fam] += 1
        return counts

    def local_bytes(op_name):
        total = 0
        for _, op, mods, _ in instrs:
            if op == op_name:
                width = 4
                for m in mods.split(".")[1:]:
                    width = _WIDTH.get(m, width)
                total += width
        return total

    loops = []
    for i, (addr, op, mods, operands) in enumerate(instrs):
        if op == "BRA":
            target = re.search(r"0x([0-9a-f]+)", operands)
            if target and int(target.group(1), 16) < addr:
                start = int(target.group(1), 16)
                body = [x for x in instrs if start <= x[0] <= addr]
                loops.append({"start": start, "end": addr, "instructions": len(body),
                              "mix": mix(body)})
    # innermost first: a loop containing no other loop
    for lp in loops:
        lp["innermost"] = not any(o is not lp and lp["start"] <= o["start"] and o["end"] <= lp["end"]
                                  for o in loops)
    return {"instructions": len(instrs), "mix": mix(instrs), "loops": loops,
            "spill_store_bytes": local_bytes("STL"), "spill_load_bytes": local_bytes("LDL")}


def parse_res_usage(text: str) -> dict:
    """``cuobjdump -res-usage``: REG, STACK, SHARED, LOCAL of the (single) function."""
    out = {}
    for key in ("REG", "STACK", "SHARED", "LOCAL"):
        match = re.search(rf"\b{key}:(\d+)", text)
        if match:
            out[key.lower()] = int(match.group(1))
    return out


def cubin_stats(cubin: bytes) -> dict:
    """Resource usage and SASS statistics of one cubin."""
    cuobjdump = tool_path("cuobjdump")
    if not cuobjdump:
        raise RuntimeError("cuobjdump not found (Triton's NVIDIA backend ships it)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "k.cubin"
        path.write_bytes(cubin)
        res = subprocess.run([cuobjdump, "-res-usage", str(path)], capture_output=True,
                             text=True, check=True).stdout
        sass = subprocess.run([cuobjdump, "-sass", str(path)], capture_output=True, text=True,
                              check=True).stdout
    stats = parse_res_usage(res)
    stats.update(parse_sass(sass))
    return stats


def compile_key(launch, arch: int) -> str:
    """What the compiled code depends on: the kernel modules' source (jit helpers may live in
    another module), the Triton version, signature, constexprs, options and target."""
    import inspect
    import sys

    import triton

    def source(mod):
        try:
            return inspect.getsource(mod)
        except (OSError, TypeError):
            return ""
    home = inspect.getmodule(launch.fn.fn) if hasattr(launch.fn, "fn") else None
    sources = [source(mod) for name, mod in sorted(sys.modules.items())
               if mod is not None and (name.startswith("slr_fused.kernels") or mod is home)]
    text = json.dumps([sources, triton.__version__, launch.name, launch.signature(),
                       {k: repr(v) for k, v in launch.all_constexprs().items()},
                       {k: repr(v) for k, v in sorted(launch.options.items())}, arch],
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def compile_launch(launch, arch: int, cache_dir: Optional[Path] = None) -> dict:
    """Compile one captured launch for ``sm_<arch>``; stats cached on disk by :func:`compile_key`."""
    key = compile_key(launch, arch)
    if cache_dir is not None:
        hit = Path(cache_dir) / f"{key}.json"
        if hit.exists():
            return json.loads(hit.read_text())
    import time

    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    options = {"num_warps": 4, **launch.options}
    t0 = time.perf_counter()
    compiled = triton.compile(ASTSource(fn=launch.fn, signature=launch.signature(),
                                        constexprs=launch.all_constexprs()),
                              target=GPUTarget("cuda", arch, 32), options=options)
    stats = cubin_stats(compiled.asm["cubin"])
    meta = compiled.metadata
    shared = getattr(meta, "shared", None)
    if shared is not None:
        stats["shared"] = int(shared)
    stats["num_warps"] = int(getattr(meta, "num_warps", options["num_warps"]))
    stats["maxnreg"] = options.get("maxnreg")
    stats["compile_s"] = round(time.perf_counter() - t0, 1)
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        tmp = Path(cache_dir) / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(stats))
        os.replace(tmp, Path(cache_dir) / f"{key}.json")
    return stats
