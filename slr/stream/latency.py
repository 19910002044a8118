"""Per-stage latencies of a stream, summarised as p50/p90/p99 on exit."""

from collections import defaultdict
from typing import Dict, List

import numpy as np

STAGES = ("capture", "landmarks", "model", "end-to-end")


class LatencyLog:
    """Seconds per stage; ``table`` prints milliseconds."""

    def __init__(self):
        self.samples: Dict[str, List[float]] = defaultdict(list)
        self.dropped = 0
        self.frames = 0

    def add(self, stage: str, seconds: float) -> None:
        self.samples[stage].append(seconds)

    def summary(self) -> dict:
        out = {}
        for stage in STAGES:
            values = np.asarray(self.samples.get(stage, []), dtype=np.float64) * 1000.0
            if len(values):
                p50, p90, p99 = np.percentile(values, [50, 90, 99])
                out[stage] = {"n": int(len(values)), "p50_ms": float(p50), "p90_ms": float(p90),
                              "p99_ms": float(p99)}
            else:
                out[stage] = {"n": 0}
        return {"stages": out, "frames": self.frames, "dropped_frames": self.dropped}

    def table(self) -> str:
        return format_summary(self.summary())


def format_summary(summary: dict) -> str:
    """The summary as a table of milliseconds per stage, then the frame counts."""
    lines = [f"{'stage':<11} {'n':>6} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9}"]
    for stage, row in summary["stages"].items():
        if row["n"]:
            lines.append(f"{stage:<11} {row['n']:>6} {row['p50_ms']:>9.2f} {row['p90_ms']:>9.2f} "
                         f"{row['p99_ms']:>9.2f}")
        else:
            lines.append(f"{stage:<11} {0:>6} {'-':>9} {'-':>9} {'-':>9}")
    lines.append(f"frames: {summary['frames']}, dropped: {summary['dropped_frames']}")
    return "\n".join(lines)
