"""Documented limits and peak rates of the two GPUs the kernels are designed for.

Occupancy follows the CUDA occupancy rules (registers allocated per warp in units of 256,
shared memory per SM, warps and blocks per SM). The rates feed a *model* of kernel time, not a
measurement: ``max(multiply-adds / peak rate of the unit the SASS uses, bytes / DRAM
bandwidth)``, which ignores latency, occupancy and instruction overheads. A GPU run
(``scripts/gpu-check.sh``) is what confirms or refutes it.

Sources: NVIDIA H100 Tensor Core GPU datasheet and architecture whitepaper (H100 SXM5: 132 SMs,
1.98 GHz boost, 67 TFLOPS fp32, 495 TFLOPS tf32 and 989 TFLOPS bf16/fp16 dense tensor,
3.35 TB/s HBM3); NVIDIA Jetson AGX Orin 64GB module datasheet (16 Ampere SMs, 2048 CUDA cores,
1.3 GHz, 204.8 GB/s LPDDR5; tensor rate from 4 third-generation tensor cores per SM at 256 fp16
FMA per clock per SM-partition pair, i.e. 512 dense fp16 FMA/clock/SM, tf32 half of that); CUDA
C Programming Guide, "Compute Capabilities" table (per-SM limits of 8.7 and 9.0).
"""

ARCHS = {
    90: {"name": "H100 SXM (sm_90)", "sms": 132, "regs_per_sm": 65536, "max_warps_per_sm": 64,
         "max_ctas_per_sm": 32, "smem_per_sm": 228 * 1024, "smem_per_cta": 227 * 1024,
         "smem_reserved_per_cta": 1024, "max_regs_per_thread": 255,
         "tflops": {"ffma": 66.9, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4},
         "dram_gbs": 3350.0},
    87: {"name": "Jetson AGX Orin 64GB (sm_87)", "sms": 16, "regs_per_sm": 65536,
         "max_warps_per_sm": 48, "max_ctas_per_sm": 16, "smem_per_sm": 164 * 1024,
         "smem_per_cta": 163 * 1024, "smem_reserved_per_cta": 1024, "max_regs_per_thread": 255,
         "tflops": {"ffma": 5.3, "tf32": 10.6, "bf16": 21.3, "fp16": 21.3},
         "dram_gbs": 204.8},
}


def occupancy(arch: int, regs: int, num_warps: int, shared: int) -> dict:
    """CTAs per SM and occupancy (active warps / maximum) from the documented limits."""
    a = ARCHS[arch]
    regs_per_warp = -(-max(regs, 1) * 32 // 256) * 256
    by_regs = (a["regs_per_sm"] // regs_per_warp) // num_warps
    by_warps = a["max_warps_per_sm"] // num_warps
    by_smem = (a["smem_per_sm"] // (shared + a["smem_reserved_per_cta"])
               if shared <= a["smem_per_cta"] else 0)
    ctas = max(0, min(by_regs, by_warps, by_smem, a["max_ctas_per_sm"]))
    limiter = min((("registers", by_regs), ("warps", by_warps), ("shared memory", by_smem),
                   ("blocks", a["max_ctas_per_sm"])), key=lambda kv: kv[1])[0]
    return {"ctas_per_sm": ctas, "occupancy": round(ctas * num_warps / a["max_warps_per_sm"], 4),
            "limited_by": limiter}


def unit_for(precision: str, mix: dict) -> str:
    """The unit the SASS says the dots run on: tensor cores (for the precision) or FFMA."""
    if mix.get("HMMA", 0) + mix.get("WGMMA", 0) == 0:
        return "ffma"
    return {"fp32-high": "tf32", "bf16": "bf16", "fp16": "fp16"}.get(precision, "tf32")


def modelled_time_us(arch: int, macs: int, bytes_moved: int, unit: str) -> dict:
    """Modelled kernel time (a model, not a measurement): compute or DRAM bound."""
    a = ARCHS[arch]
    compute = 2.0 * macs / (a["tflops"][unit] * 1e12) * 1e6
    memory = bytes_moved / (a["dram_gbs"] * 1e9) * 1e6
    return {"model_us": round(max(compute, memory), 2), "compute_us": round(compute, 2),
            "memory_us": round(memory, 2), "unit": unit}
