"""Data-parallel helpers (slr/distributed.py) in one process; two real gloo processes are run by
tests/test_training.py (torchrun vs one process)."""

import pytest

from slr_fused.distributed import (DistributedContext, GlobalBatchSampler, all_reduce_sum,
                                   init_distributed, shard_bounds)


@pytest.mark.parametrize("count, world", [(10, 3), (2, 4), (8, 2), (0, 2)])
def test_shards_cover_the_items_in_order_and_differ_by_at_most_one(count, world):
    bounds = [shard_bounds(count, rank, world) for rank in range(world)]
    assert bounds[0][0] == 0 and bounds[-1][1] == count
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_single_process_context(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    context = init_distributed("cpu")
    assert context == DistributedContext() and context.is_main and not context.enabled
    assert all_reduce_sum([1.5, 2.0], context, "cpu") == [1.5, 2.0]


def test_ranks_split_every_global_batch_of_the_same_permutation():
    one = GlobalBatchSampler(10, batch_size=4, seed=1)
    ranks = [GlobalBatchSampler(10, batch_size=4, seed=1, rank=r, world_size=3) for r in range(3)]
    whole = list(one)
    assert [len(b) for b in whole] == [4, 4, 2] and sorted(sum(whole, [])) == list(range(10))
    # the last global batch (2 samples) is smaller than 3 ranks: dropped for every rank
    assert len(ranks[0]) == 2
    for k, batch in enumerate(whole[:2]):
        assert sum((list(r)[k] for r in ranks), []) == batch


def test_the_order_depends_on_seed_and_epoch_only():
    sampler = GlobalBatchSampler(50, batch_size=50, seed=3)
    first = list(sampler)
    assert list(GlobalBatchSampler(50, batch_size=50, seed=3)) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    assert list(GlobalBatchSampler(5, batch_size=2, seed=0, shuffle=False)) == [[0, 1], [2, 3], [4]]


def test_a_global_batch_smaller_than_the_processes_is_refused():
    with pytest.raises(ValueError, match="--batch_size 2 is the global batch: it must be at least "
                                         r"the number of processes \(4\)"):
        GlobalBatchSampler(10, batch_size=2, seed=0, world_size=4)
