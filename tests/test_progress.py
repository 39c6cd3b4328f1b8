"""The reproduction's record of finished tasks (``experiments/_progress.py``)."""

import json
from types import SimpleNamespace

import pytest

from sklearn_inr.experiments._progress import (
    PROGRESS_FILE,
    fingerprint,
    is_done,
    read_done,
    record_done,
)

TASK = SimpleNamespace(variant="shared", model="siren", condition="images")
OTHER = SimpleNamespace(variant="shared", model="siren", condition="noise")


def test_recorded_tasks_read_back_under_their_key_only(tmp_path):
    key = fingerprint({"preset": "tiny"}, 16, (12, 12), 3, 0)
    record_done(tmp_path, key, "grouped CV", TASK)
    record_done(tmp_path, key, "grouped CV", TASK)  # twice: recorded once
    done = read_done(tmp_path, key)
    assert is_done(done, "grouped CV", TASK)
    assert not is_done(done, "grouped CV", OTHER)
    assert not is_done(done, "paper protocol", TASK)
    assert read_done(tmp_path, "another run") == set()
    assert read_done(None, key) == set()


def test_fingerprint_changes_with_what_decides_the_fits():
    base = fingerprint({"preset": "tiny"}, 16, (12, 12), 3, 0)
    assert base == fingerprint({"preset": "tiny"}, 16, (12, 12), 3, 0)
    assert base != fingerprint({"preset": "cpu"}, 16, (12, 12), 3, 0)
    assert base != fingerprint({"preset": "tiny"}, 18, (12, 12), 3, 0)
    assert base != fingerprint({"preset": "tiny"}, 16, (16, 16), 3, 0)
    assert base != fingerprint({"preset": "tiny"}, 16, (12, 12), 5, 0)
    assert base != fingerprint({"preset": "tiny"}, 16, (12, 12), 3, 1)


@pytest.mark.parametrize(
    "content",
    ["not json", "[1, 2]", '{"key": 5}', '{"key": [{"a": 1}, 3]}', '"text"'],
)
def test_a_malformed_record_reads_as_nothing_and_is_rewritten(tmp_path, content):
    (tmp_path / PROGRESS_FILE).write_text(content)
    assert read_done(tmp_path, "key") == set()
    record_done(tmp_path, "key", "grouped CV", TASK)  # never raises
    assert is_done(read_done(tmp_path, "key"), "grouped CV", TASK)
    assert json.loads((tmp_path / PROGRESS_FILE).read_text())["key"] == [
        "grouped CV/shared/siren/images"
    ]


def test_a_refused_write_is_silent_and_leaves_no_temporary_file(tmp_path):
    missing = tmp_path / "gone"  # mkstemp fails: the folder does not exist
    record_done(missing, "key", "grouped CV", TASK)
    assert not missing.exists()
    (tmp_path / PROGRESS_FILE).mkdir()  # os.replace onto a directory fails
    record_done(tmp_path, "key", "grouped CV", TASK)
    assert not list(tmp_path.glob(".progress-*"))
