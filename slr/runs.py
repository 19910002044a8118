"""The folder of one run: config.json, metrics.jsonl, checkpoints/ and plots/.

Only the main process writes. Every file is replaced atomically, so a run killed at any moment
leaves readable files behind. The epoch's writes are ordered so that ``--resume`` can complete
any prefix of them (see ``slr_fused.training._write_epoch``): last.pt carries the metrics of
every epoch, metrics.jsonl is rewritten from it on resume, and a best.pending.pt left by a kill
is either finished (renamed to best.pt) or dropped, as last.pt says.
"""

import json
import os
import shutil
from pathlib import Path
from typing import Dict, List

from .atomic import write_text_atomic
from .runlock import LOCK_NAME, RunLock


class RunExistsError(ValueError):
    """The run folder holds a run and neither --resume nor --overwrite was given."""


def run_folder(root, name: str) -> Path:
    """``<root>/<name>``, refusing names that would put the run anywhere but inside ``root``."""
    if not name or not name.strip() or Path(name).is_absolute() or ".." in Path(name).parts \
            or Path(name) == Path("."):
        raise ValueError(f"--experiment_name {name!r}: must be a plain folder name inside "
                         f"--runs_dir (no absolute path, no '..')")
    path = Path(root) / name
    real_root, real_path = os.path.realpath(root), os.path.realpath(path)
    if os.path.commonpath([real_root, real_path]) != real_root or real_path == real_root:
        raise ValueError(f"--experiment_name {name!r}: resolves to {real_path}, outside --runs_dir "
                         f"{root}")
    return path


class RunDirectory:
    def __init__(self, root, name: str):
        self.path = run_folder(root, name)
        self._lock = None
        self.checkpoints = self.path / "checkpoints"
        self.plots = self.path / "plots"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    @property
    def pending_best(self) -> Path:
        return self.checkpoints / "best.pending.pt"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    def claim(self, resume: bool, overwrite: bool) -> None:
        """Own the folder for this process (lock), then make it ready for a new or resumed run.

        A folder holding a run is only reused with ``resume`` (continue it) or ``overwrite``
        (delete it first); otherwise a RunExistsError says which flag to pass.
        """
        self._lock = RunLock(self.path).acquire()
        try:
            existing = [p for p in self.path.iterdir() if p.name != LOCK_NAME]
            if existing and not resume:
                if not overwrite:
                    state = "finished" if (self.path / "model.pt").is_file() else "partial"
                    raise RunExistsError(f"{self.path} already holds a {state} run; pass --resume to "
                                         f"continue it or --overwrite to delete it and start again")
                for entry in existing:
                    shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            self.remove_temporary_files()
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def remove_temporary_files(self) -> List[Path]:
        """Delete what interrupted atomic writes left behind (``.<name>.*.tmp``, an old best.tmp).

        Only safe while this process owns the folder (see ``claim``): a running writer's
        temporary file would otherwise vanish under it.
        """
        removed = []
        for folder in (self.path, self.checkpoints, self.plots):
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                if entry.is_file() and ((entry.name.startswith(".") and entry.name.endswith(".tmp"))
                                        or entry.name == "best.tmp"):
                    entry.unlink()
                    removed.append(entry)
        return removed

    def settle_pending_best(self, best_epoch) -> None:
        """Finish or drop a best.pending.pt left by a kill, as the resumed last.pt decides.

        The pending file is written before last.pt; if last.pt names its epoch as the best, the
        kill came after last.pt and the rename is completed, otherwise the epoch is redone.
        """
        pending = self.pending_best
        if not pending.is_file():
            return
        from .checkpoint import CheckpointError, load_training_checkpoint
        try:
            epoch = load_training_checkpoint(pending)["epoch"]
        except CheckpointError:
            epoch = None
        if epoch is not None and epoch == best_epoch:
            pending.replace(self.best)
        else:
            pending.unlink()

    def write_config(self, config: Dict) -> None:
        write_text_atomic(self.path / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")

    def read_metrics(self) -> List[Dict]:
        if not self.metrics_file.is_file():
            return []
        records = []
        for line in self.metrics_file.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by a crash: everything after it is untrustworthy
        return records

    def write_metrics(self, records: List[Dict]) -> None:
        write_text_atomic(self.metrics_file, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
