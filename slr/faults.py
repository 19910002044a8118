"""Kill injection for the crash-consistency tests: die at a named write boundary.

``SLR_FUSED_CRASH_AT=<boundary>[:<epoch>]`` makes the process ``os._exit(CRASH_EXIT_CODE)`` right
after that write (as a SIGKILL would: no cleanup, no flush), so a test can stop a run between
any two artefact writes and check that ``--resume`` completes it. Unset, this costs one lookup.
"""

import os
from typing import Optional

CRASH_EXIT_CODE = 97
ENV = "SLR_FUSED_CRASH_AT"

# The write boundaries of one training epoch, in order, then the final model.
BOUNDARIES = ("best-pending", "last", "best", "metrics", "plots", "model")


def crash_point(name: str, epoch: Optional[int] = None) -> None:
    """Exit at once when the environment asks for a crash at this boundary (and epoch)."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    boundary, _, at_epoch = wanted.partition(":")
    if boundary != name:
        return
    if at_epoch and (epoch is None or int(at_epoch) != epoch):
        return
    os._exit(CRASH_EXIT_CODE)
