"""The data of a training run: which CSVs, the splits, the datasets and their loaders.

Split from the training loop so the loop reads as steps; everything here is decided by the
configuration alone (plus the process's rank for the sharded loaders).
"""

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from torch.utils.data import DataLoader, Subset

from .config import TrainConfig
from .data.checks import label_warnings
from .data.csv_format import read_class_names, read_pose_csv
from .data.dataset import PoseDataset, collate_poses
from .data.splits import stratified_split
from .data.synthetic import default_demo_folder, write_demo_dataset
from .distributed import DistributedContext, GlobalBatchSampler, shard_bounds


def resolve_data_paths(config: TrainConfig) -> Dict[str, Optional[str]]:
    """The CSVs to use; with no training set, the synthetic demo data (generated once)."""
    if config.training_set_path is None:
        demo = write_demo_dataset(default_demo_folder())
        return {"train": str(demo["train"]),
                "val": config.validation_set_path or str(demo["val"]),
                "test": config.testing_set_path or str(demo["test"])}
    return {"train": config.training_set_path, "val": config.validation_set_path,
            "test": config.testing_set_path}


def demo_mirror_note(config: TrainConfig) -> Optional[str]:
    """A warning when mirroring the bundled demo data, whose classes are mirror-image pairs."""
    if config.training_set_path is not None or not config.mirror:
        return None
    return (f"Warning: --mirror {config.mirror} on the bundled demo data: its classes come in "
            f"mirror-image pairs (left open/right fist against left fist/right open), which "
            f"mirroring merges (test top-1 stays near 0.75); train it with --recipe seed or "
            f"--mirror 0. Real sign languages are signed with either dominant hand, which is "
            f"what mirroring assumes")


def load_datasets(config: TrainConfig, paths: Dict[str, Optional[str]]):
    """(train set, {split: eval set}) with the validation policy and experimental subset applied."""
    max_frames = None if config.num_frames else config.max_frames
    common = dict(num_frames=config.num_frames, max_frames=max_frames,
                  canonical_hand=config.canonical_hand)
    train_sequences = read_pose_csv(paths["train"])
    eval_sources = {}
    policy = config.validation_set
    if policy == "auto":
        policy = "from-file" if paths["val"] else "none"
    if policy == "from-file" and paths["val"]:
        eval_sources["val"] = read_pose_csv(paths["val"])
    elif policy == "split-from-train":
        kept, taken = stratified_split(train_sequences.labels, config.validation_set_size, config.seed)
        eval_sources["val"] = train_sequences.subset(taken)
        train_sequences = train_sequences.subset(kept)
    if config.experimental_train_split is not None and config.experimental_train_split < 1:
        kept, _ = stratified_split(train_sequences.labels, 1 - config.experimental_train_split,
                                   config.seed + 1)
        train_sequences = train_sequences.subset(kept)
    if paths["test"]:
        eval_sources["test"] = read_pose_csv(paths["test"])
    train_set = PoseDataset(train_sequences, augment=config.augmentations,
                            augmentations_prob=config.augmentations_prob,
                            gaussian_std=config.gaussian_std, seed=config.seed,
                            mirror=config.mirror, speed=config.speed,
                            temporal_crop=config.temporal_crop, **common)
    eval_sets = {split: PoseDataset(seqs, **common) for split, seqs in eval_sources.items()}
    return train_set, eval_sets


@dataclass
class TrainingData:
    """Everything the loop reads: datasets, loaders, the class count and names."""

    paths: Dict[str, Optional[str]]
    train_set: PoseDataset
    eval_sets: Dict[str, PoseDataset]
    num_classes: int
    class_names: Optional[List[str]]
    sampler: GlobalBatchSampler
    train_loader: DataLoader
    eval_loaders: Dict[str, DataLoader]


def prepare_data(config: TrainConfig, context: DistributedContext,
                 log: Callable[[str], None]) -> TrainingData:
    """Read the CSVs, settle the class count (warning about odd labels), build the loaders.

    The training sampler walks the same seeded global batches on every rank (each takes its
    slice); each rank evaluates a contiguous shard of every evaluation set.
    """
    paths = resolve_data_paths(config)
    train_set, eval_sets = load_datasets(config, paths)
    found = max([train_set.num_classes] + [s.num_classes for s in eval_sets.values()])
    num_classes = config.num_classes or found
    if num_classes < found:
        raise ValueError(f"--num_classes {num_classes} is smaller than the data's labels need "
                         f"({found}: labels go up to {found - 1})")
    class_names = read_class_names(paths["train"], num_classes)
    for note in label_warnings(train_set.sequences.labels,
                               {k: s.sequences.labels for k, s in eval_sets.items()}, num_classes):
        log(f"Warning: {note}")

    sampler = GlobalBatchSampler(len(train_set), config.batch_size, config.seed, True,
                                 context.rank, context.world_size)
    train_loader = DataLoader(train_set, batch_sampler=sampler, collate_fn=collate_poses,
                              num_workers=config.num_workers)
    eval_loaders = {}
    for split, dataset in eval_sets.items():
        start, stop = shard_bounds(len(dataset), context.rank, context.world_size)
        eval_loaders[split] = DataLoader(Subset(dataset, range(start, stop)),
                                         batch_size=max(config.batch_size, 64), shuffle=False,
                                         collate_fn=collate_poses, num_workers=config.num_workers)
    return TrainingData(paths, train_set, eval_sets, num_classes, class_names, sampler,
                        train_loader, eval_loaders)
