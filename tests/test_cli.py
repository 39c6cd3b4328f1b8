"""The ``sklearn-inr`` command line: a tiny end-to-end run and bad arguments."""

import json
import re
import subprocess
import sys

import pytest

from sklearn_inr.cli import main
from sklearn_inr.datasets import make_brats_like

OUTPUTS = (
    "results.json",
    "report.md",
    "loss_curves.png",
    "reconstructions.png",
    "accuracy.png",
)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_brats_like(
        tmp_path_factory.mktemp("cohort"), n_patients=6, shape=(32, 32, 12)
    )


def _numbers(text):
    return [
        float(x) for x in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[+-]\d+)?", text)
    ]


def test_reproduce_tiny_run_writes_matching_report(cohort, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(
        [
            "reproduce",
            "--data",
            str(cohort),
            "--out",
            str(out),
            "--preset",
            "tiny",
            "--folds",
            "2",
            "--device",
            "cpu",
        ]
    )
    assert status == 0
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    report = (out / "report.md").read_text()
    printed = capsys.readouterr().out

    # The summary table: same cells in report.md and on stdout, and every
    # number in it equals the one in results.json.
    table = [
        line
        for line in report.splitlines()
        if line.startswith("| Paper protocol")
        or line.startswith("| Leak-free")
        or line.startswith("| Pixel baseline")
    ]
    assert len(table) == len(results["scores"]) == 7
    for line in table:
        assert line in printed
    for line, row in zip(table, results["scores"]):
        cells = line.split(" | ")[2:]
        expected = []
        c = row["conditions"]
        for condition, metric in (
            ("images", "accuracy"),
            ("images", "roc_auc"),
            ("noise", "accuracy"),
            ("permuted", "accuracy"),
        ):
            result = c[condition]
            expected.append(result[metric])
            if f"{metric}_std" in result:
                expected.append(result[metric + "_std"])
        got = _numbers(" ".join(cells))
        assert got == pytest.approx(
            [v for v in expected if v is not None], rel=0, abs=0
        )

    # Reconstruction rows, wall times and the verdict come from the JSON too.
    recon = [
        line
        for line in report.splitlines()
        if line.startswith("| TinySIREN") or line.startswith("| SmallMLP")
    ]
    expected = [
        s[k][stat]
        for fits in results["reconstruction"].values()
        for s in fits.values()
        for k in ("bce", "bce_minus_entropy", "mse", "psnr")
        for stat in ("mean", "std")
    ]
    assert [x for line in recon for x in _numbers(line.split("|", 3)[3])] == expected
    for stage, seconds in results["timings"].items():
        assert f"| {stage} | " in report
        assert _numbers(report.split(f"| {stage} | ")[1].split("|")[0]) == [seconds]
    assert results["verdict"]["text"] in report
    assert "single" in report or "one random split" in report
    assert results["settings"]["preset"] == "tiny"
    assert results["data"]["n_patients"] == 6


@pytest.mark.parametrize(
    "argv, message",
    [
        (["reproduce", "--folds", "1"], "--folds: must be at least 2"),
        (["reproduce", "--folds", "x"], "expected an integer"),
        (["reproduce", "--n-patients", "3"], "cannot fill 5 folds"),
        (["reproduce", "--preset", "huge"], "invalid choice"),
        (["reproduce", "--device", "tpu"], "invalid choice"),
        (["reproduce", "--data", "/nonexistent/folder"], "does not exist"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_bad_arguments_exit_2_with_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_unsuitable_data_folder_gets_loader_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no BraTS here")
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--data", str(tmp_path), "--preset", "tiny"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--data" in err and "BraTS" in err


def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_inr", "reproduce", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "--n-patients" in result.stdout and "--preset" in result.stdout
