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


def read_done(cache_dir, key: str) -> set:
    """The tasks recorded done under ``key`` (``"stage/variant/model/cond"``).

    A missing, unreadable or malformed file reads as nothing done.
    """
    if cache_dir is None:
        return set()
    try:
        record = json.loads((Path(cache_dir) / PROGRESS_FILE).read_text("utf-8"))
        done = record.get(key, [])
        return {t for t in done if isinstance(t, str)}
    except (OSError, ValueError, AttributeError):
        return set()


def is_done(done: set, stage: str, task) -> bool:
    return _task_id(stage, task) in done


def record_done(cache_dir, key: str, stage: str, task) -> None:
    """Add a finished task to the record (written whole, then renamed in).

    Best effort: a folder that refuses the write leaves the estimate of the
    next run pricing that task again, nothing worse.
    """
    path = Path(cache_dir) / PROGRESS_FILE
    try:
        try:
            record = json.loads(path.read_text("utf-8"))
            if not isinstance(record, dict):
                record = {}
        except (OSError, ValueError):
            record = {}
        done = set(record.get(key, [])) | {_task_id(stage, task)}
        record[key] = sorted(done)
        fd, tmp = tempfile.mkstemp(prefix=".progress-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(tmp, path)
    except OSError:
        pass
