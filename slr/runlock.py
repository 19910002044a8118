"""One process per run folder: an exclusive OS file lock (flock) on ``<run>/.lock``.

The kernel drops the lock when the holder exits, however it exits (SIGKILL included), so a
stale lock never blocks a resume. The lock file names its holder (pid, host, start time) so
the second process can say who has the folder.
"""

import fcntl
import os
import socket
from datetime import datetime, timezone
from pathlib import Path

LOCK_NAME = ".lock"


class RunLockedError(RuntimeError):
    """Another live process holds the run folder."""


class RunLock:
    def __init__(self, folder):
        self.path = Path(folder) / LOCK_NAME
        self._fd = None

    def acquire(self) -> "RunLock":
        """Take the lock at once or raise RunLockedError naming the holder (never waits)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise RunLockedError(f"{self.path.parent} is in use by {holder}; wait for it to finish "
                                 f"or choose another --experiment_name") from None
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
