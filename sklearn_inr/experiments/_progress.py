"""Which tasks of a reproduction a cache already holds, for the estimate.

The run records each task it finishes in ``progress.json`` in its cache
folder, under a fingerprint of what decides the task's fits (the preset, the
number and size of the slices, the folds and the seed). The plan reads it
back, so that a rerun or a resumed run counts the fits the cache serves as
done instead of pricing the whole run again. The file only informs the
estimate: the cache itself is keyed by every image and setting, so a stale or
damaged record can make an estimate wrong, never a result.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

__all__ = ["PROGRESS_FILE", "fingerprint", "read_done", "record_done"]

PROGRESS_FILE = "progress.json"


def fingerprint(settings: dict, n_slices: int, image_shape, n_splits, seed) -> str:
    """A digest of what decides a run's tasks and fits (not its images)."""
    text = json.dumps(
        [settings, int(n_slices), [int(n) for n in image_shape], int(n_splits),
         int(seed)],
        sort_keys=True, default=str,
    )  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _task_id(stage: str, task) -> str:
    return "/".join((stage, task.variant, task.model, task.condition))


def _read_record(path) -> dict:
    """The record at ``path``; a missing, unreadable or malformed one is empty."""
    try:
        record = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _done_under(record: dict, key: str) -> set:
    """The task ids of ``record[key]``, ignoring anything that is not one."""
    done = record.get(key)
    if not isinstance(done, list):
        return set()
    return {task for task in done if isinstance(task, str)}


def read_done(cache_dir, key: str) -> set:
    """The tasks recorded done under ``key`` (``"stage/variant/model/cond"``).

    A missing, unreadable or malformed file reads as nothing done.
    """
    if cache_dir is None:
        return set()
    return _done_under(_read_record(Path(cache_dir) / PROGRESS_FILE), key)


def is_done(done: set, stage: str, task) -> bool:
    return _task_id(stage, task) in done


def record_done(cache_dir, key: str, stage: str, task) -> None:
    """Add a finished task to the record (written whole, then renamed in).

    Best effort: a folder that refuses the write, or a malformed record,
    leaves the estimate of the next run pricing that task again, nothing
    worse; no temporary file is left behind.
    """
    path = Path(cache_dir) / PROGRESS_FILE
    record = _read_record(path)
    record[key] = sorted(_done_under(record, key) | {_task_id(stage, task)})
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".progress-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(tmp, path)
    except (OSError, TypeError, ValueError):  # unwritable, or not JSON-able
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
