"""Atomic outputs of the reproduction: all new files, or all old ones.

The reproduction writes its outputs to a staging folder on the same file
system as the output folder, then moves them into place with renames,
holding Ctrl-C back for the milliseconds this takes and undoing the moves
if one fails.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

__all__ = ["replace_outputs", "sigint_held", "staging_dir"]


def staging_dir(out_dir: Path) -> Path:
    """A fresh hidden folder for the new outputs, on ``out_dir``'s file system.

    There, moving the outputs into ``out_dir`` is a rename, not a copy that
    an interruption could cut short.
    """
    out_dir = Path(os.path.abspath(out_dir))
    if os.stat(out_dir.parent).st_dev == os.stat(out_dir).st_dev:
        try:
            return Path(
                tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent)
            )
        except OSError:
            pass
    # out_dir is a mount point (e.g. a container volume) or its parent is
    # read-only: stage inside out_dir, which is on its own file system.
    return Path(tempfile.mkdtemp(prefix=".partial-", dir=out_dir))


@contextmanager
def sigint_held():
    """Hold Ctrl-C (SIGINT) back until the block ends, then deliver it.

    Only the main thread can set signal handlers, and a handler installed
    outside Python cannot be restored: then this does nothing (the moves are
    still undone if Ctrl-C stops them).
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is None
    ):
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(1))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            signal.raise_signal(signal.SIGINT)


def replace_outputs(staging: Path, out_dir: Path, names: list[str]) -> None:
    """Move the files ``names`` from ``staging`` into ``out_dir``: all or none.

    Each old file is first moved aside into ``staging`` (removed by the
    caller), so that if a move fails the new files are taken out and the old
    ones put back: ``out_dir`` never mixes outputs of two runs. Ctrl-C waits
    for the moves, which take milliseconds.
    """
    previous = staging / ".previous"
    previous.mkdir()
    moved, placed = [], []
    with sigint_held():
        try:
            for name in names:
                target = out_dir / name
                if target.exists() or target.is_symlink():
                    os.replace(target, previous / name)
                    moved.append(name)
                os.replace(staging / name, target)
                placed.append(name)
        except BaseException:
            for name in placed:
                (out_dir / name).unlink(missing_ok=True)
            for name in moved:
                os.replace(previous / name, out_dir / name)
            raise
