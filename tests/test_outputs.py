"""Atomic outputs of the reproduction (sklearn_inr/experiments/_outputs.py)."""

import os
import signal

import pytest

from sklearn_inr.experiments import _outputs


def _staged(tmp_path, names, content):
    folder = tmp_path / content
    folder.mkdir()
    for name in names:
        (folder / name).write_text(f"{content} {name}")
    return folder


def test_replace_outputs_is_all_or_nothing(tmp_path, monkeypatch):
    names = ["a.png", "report.md", "results.json"]
    out = _staged(tmp_path, names, "old")
    (out / "cache").mkdir()
    staging = _staged(tmp_path, names, "new")
    replace, calls = os.replace, []

    def failing(src, dst):
        # Interrupted after the first file is in place and the second moved
        # aside: the rollback must restore every old file.
        calls.append(src)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return replace(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(KeyboardInterrupt):
        _outputs.replace_outputs(staging, out, names)
    monkeypatch.setattr(os, "replace", replace)
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, "cache"])
    for name in names:
        assert (out / name).read_text() == f"old {name}"

    staging = _staged(tmp_path, names, "newer")
    _outputs.replace_outputs(staging, out, names)
    for name in names:
        assert (out / name).read_text() == f"newer {name}"
    assert (out / "cache").is_dir()


def test_ctrl_c_waits_for_the_output_moves():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with _outputs.sigint_held():
            signal.raise_signal(signal.SIGINT)
            done.append("moves finished")
    assert done == ["moves finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_outputs_are_staged_beside_out_dir(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    staging = _outputs.staging_dir(out)
    assert staging.parent == tmp_path and staging.name.startswith(".results.")
