"""Data-parallel training helpers (torchrun / DistributedDataParallel), also used single-process.

The batch size users give is the global batch. Every rank walks the same seeded permutation of the
data, cut into global batches, and takes its own contiguous slice of each; losses are summed per
sample and divided by the global batch, so one step over N ranks equals the single-process step
(tested with two gloo processes on the CPU).
"""

import os
from dataclasses import dataclass
from typing import Iterator, List

import torch
import torch.distributed as dist


@dataclass
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistributedContext:
    """Join the process group torchrun describes in the environment; single process otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistributedContext(dist.get_rank(), dist.get_world_size(),
                              int(os.environ.get("LOCAL_RANK", "0")))


def shutdown_distributed(context: DistributedContext) -> None:
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: List[float], context: DistributedContext, device) -> List[float]:
    """Sum a list of numbers over ranks (identity in a single process)."""
    if not context.enabled:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def shard_bounds(count: int, rank: int, world_size: int):
    """Contiguous [start, stop) of ``count`` items for ``rank``; sizes differ by at most one."""
    base, extra = divmod(count, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class GlobalBatchSampler(torch.utils.data.Sampler):
    """Yields this rank's slice of each global batch of a per-epoch seeded permutation.

    The permutation depends only on (seed, epoch), so a resumed run replays the same order without
    saving sampler state. A last global batch smaller than the number of ranks is dropped (every
    rank must take part in every step).
    """

    def __init__(self, size: int, batch_size: int, seed: int, shuffle: bool = True,
                 rank: int = 0, world_size: int = 1):
        if batch_size < world_size:
            raise ValueError(f"--batch_size {batch_size} is the global batch: it must be at least "
                             f"the number of processes ({world_size})")
        self.size, self.batch_size, self.seed, self.shuffle = size, batch_size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def global_batches(self) -> List[List[int]]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 7919 + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        batches = [order[i:i + self.batch_size] for i in range(0, self.size, self.batch_size)]
        return [b for b in batches if len(b) >= self.world_size]

    def __iter__(self) -> Iterator[List[int]]:
        for batch in self.global_batches():
            start, stop = shard_bounds(len(batch), self.rank, self.world_size)
            yield batch[start:stop]

    def __len__(self) -> int:
        return len(self.global_batches())
