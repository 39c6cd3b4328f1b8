"""The ``sklearn-inr`` command line: a tiny end-to-end run and bad arguments."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import sklearn_inr._cli_reproduce as cli_reproduce
import sklearn_inr.datasets
import sklearn_inr.fitting._runner as runner
from sklearn_inr.cli import main
from sklearn_inr.datasets import make_brats_like
from sklearn_inr.experiments import _reproduce, get_preset

# The real function: conftest's autouse fixture replaces it in every test.
REUSE_FREED_MEMORY = cli_reproduce.reuse_freed_memory

OUTPUTS = (
    "results.json",
    "report.md",
    "loss_curves.png",
    "reconstructions.png",
    "accuracy.png",
    "weight_space.png",
)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_brats_like(
        tmp_path_factory.mktemp("cohort"), n_patients=6, shape=(32, 32, 12)
    )


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory):
    """The smallest cohort 2 folds accept, for the runs that only check files."""
    return make_brats_like(
        tmp_path_factory.mktemp("small"), n_patients=4, shape=(32, 32, 12)
    )


def _tiny(data, out, *extra):
    """argv of a tiny CPU run on ``data`` writing to ``out``."""
    return [
        "reproduce",
        "--data",
        str(data),
        "--out",
        str(out),
        "--preset",
        "tiny",
        "--folds",
        "2",
        "--device",
        "cpu",
        *extra,
    ]


def _main_interrupted(argv):
    """main(argv), failing the test (not ending the session) if Ctrl-C leaks."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped main()")


def _numbers(text):
    return [
        float(x) for x in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[+-]\d+)?", text)
    ]


def test_reproduce_tiny_run_writes_matching_report(cohort, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(_tiny(cohort, out))
    assert status == 0
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    report = (out / "report.md").read_text()
    printed = capsys.readouterr().out
    # BraTS's classes in the table's order, tumour first, as run_reproduction
    # gives them (the loader's target_names must not reorder them).
    assert results["data"]["display_order"] == [1, 0]

    # The summary table: same cells in report.md and on stdout, and every
    # number in it equals the one in results.json.
    table = [
        line
        for line in report.splitlines()
        if line.startswith("| Paper protocol")
        or line.startswith("| Leak-free")
        or line.startswith("| Pixel baseline")
    ]
    assert len(table) == len(results["scores"]) == 12
    for line in table:
        assert line in printed
    for line, row in zip(table, results["scores"]):
        cells = line.split(" | ")[2:]
        expected = []
        c = row["conditions"]
        for condition, metric in (
            ("images", "accuracy"),
            ("images", "balanced_accuracy"),
            ("images", "roc_auc"),
            ("noise", "accuracy"),
            ("permuted", "accuracy"),
        ):
            result = c[condition]
            if metric != "accuracy":  # two decimals, ± its spread over folds
                expected += [result[metric], result.get(f"{metric}_std")]
                continue
            # 0.79 (63/80, 95 % CI 0.69–0.86): correct/total, two decimals.
            expected += [result["n_correct"] / result["n_test"]]
            expected += [result["n_correct"], result["n_test"], 95]
            expected += result["accuracy_ci"]
        got = _numbers(" ".join(cells))
        assert got == pytest.approx(
            [v for v in expected if v is not None], rel=0, abs=0.005
        )

    # Reconstruction rows, wall times and the verdict come from the JSON too.
    recon = [
        line
        for line in report.splitlines()
        if line.startswith("| TinySIREN") or line.startswith("| SmallMLP")
    ]
    expected = [
        value
        for fits in results["reconstruction"].values()
        for s in fits.values()
        for value in [
            *(
                s[k][stat]
                for k in ("bce", "bce_minus_entropy", "mse", "psnr")
                for stat in ("mean", "std")
            ),
            # PSNR's median and 10th percentile, where the report has them.
            *(s["psnr"][stat] for stat in ("median", "p10") if stat in s["psnr"]),
        ]
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
        (
            ["reproduce", "--preset", "tiny", "--folds", "11"],
            "11 folds need at least 11 patients, and the preset 'tiny' writes 10",
        ),
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


@pytest.mark.parametrize(
    "option, path, message",
    [
        # --data must be a folder (a file gave a NotADirectoryError traceback).
        ("--data", "file.txt", "'{tmp}/file.txt' is a file, not a folder"),
        # --out and --cache must be folders we can create or write to.
        ("--out", "file.txt", "'{tmp}/file.txt' is a file, not a folder"),
        (
            "--out",
            "file.txt/out",
            "'{tmp}/file.txt/out' cannot be created: '{tmp}/file.txt' is a file",
        ),
        ("--cache", "file.txt", "'{tmp}/file.txt' is a file, not a folder"),
        (
            "--cache",
            "file.txt/c",
            "'{tmp}/file.txt/c' cannot be created: '{tmp}/file.txt' is a file",
        ),
        # The default cache, <out>/cache, is checked as part of --out.
        ("--out", "old", "its cache folder '{tmp}/old/cache' is a file"),
    ],
)
def test_unusable_data_or_output_paths_exit_2(option, path, message, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("not a folder")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "cache").write_text("a file where the cache goes")
    argv = ["reproduce", "--preset", "tiny", "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exc:
        main([*argv, option, str(tmp_path / path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: {message.format(tmp=tmp_path)}" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "old"]


def test_unwritable_out_exits_2(tmp_path, monkeypatch, capsys):
    # Tests may run as root, for whom chmod 0o500 does not forbid writing:
    # fake what os.access says about the read-only folder instead.
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    access = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda path, mode: access(path, mode) and str(path) != str(readonly),
    )
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--preset", "tiny", "--out", str(readonly / "out")])
    assert exc.value.code == 2
    assert f"{str(readonly)!r} is not writable" in capsys.readouterr().err


def test_interrupted_run_keeps_old_outputs_then_rerun_replaces_them(
    small_cohort, tmp_path, monkeypatch, capsys
):
    out, cache = tmp_path / "out", tmp_path / "inr_cache"
    old = {name: f"old {name}".encode() for name in OUTPUTS}
    out.mkdir()
    for name, content in old.items():
        (out / name).write_bytes(content)
    (out / "notes.txt").write_text("mine")
    write_figures = _reproduce.write_figures
    calls = []

    def interrupted_write(folder, *args):
        # The first call dies half-way: one complete PNG, one cut short
        # (what SIGINT left in --out before: a 124-byte PNG).
        calls.append(folder)
        if len(calls) > 1:
            return write_figures(folder, *args)
        write_figures(folder, *args)
        path = folder / "reconstructions.png"
        path.write_bytes(path.read_bytes()[:124])
        raise KeyboardInterrupt

    monkeypatch.setattr(_reproduce, "write_figures", interrupted_write)
    argv = _tiny(small_cohort, out, "--cache", str(cache))

    assert _main_interrupted(argv) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    n_kept = len(list(cache.rglob("*.npz")))
    assert n_kept > 0
    assert err.strip().splitlines()[-1] == (
        f"Interrupted: {n_kept} fitted INRs kept in {cache}; rerun the same "
        "command to resume."
    )
    # The new files were written beside --out, not in it, and are gone.
    assert calls[0].parent == tmp_path and not calls[0].exists()
    assert sorted(p.name for p in out.iterdir()) == sorted([*old, "notes.txt"])
    for name, content in old.items():
        assert (out / name).read_bytes() == content, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inr_cache", "out"]

    assert main(argv) == 0
    for name, content in old.items():
        assert (out / name).read_bytes() != content, name
    assert (out / "accuracy.png").read_bytes().startswith(b"\x89PNG")
    assert json.loads((out / "results.json").read_text())["figures"]
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / "cache").exists()
    assert len(list(cache.rglob("*.npz"))) == n_kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inr_cache", "out"]


def test_cache_in_out_makes_a_rerun_fit_nothing(small_cohort, tmp_path, fit_counter):
    out = tmp_path / "out"
    assert main(_tiny(small_cohort, out)) == 0
    assert fit_counter["images"] > 0
    assert list((out / "cache").rglob("*.npz"))
    # The outputs were replaced around the cache, which stays in place.
    results = (out / "results.json").read_text()
    fit_counter["images"] = 0
    assert main(_tiny(small_cohort, out)) == 0
    assert fit_counter["images"] == 0
    assert (out / "results.json").read_text() != results  # new date and timings

    # --no-cache: fits again, and leaves no cache folder anywhere.
    fresh = tmp_path / "fresh"
    assert main(_tiny(small_cohort, fresh, "--no-cache")) == 0
    assert fit_counter["images"] > 0
    assert sorted(p.name for p in fresh.iterdir()) == sorted(OUTPUTS)


def test_cache_and_no_cache_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--cache", "somewhere", "--no-cache"])
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_ctrl_c_while_loading_exits_130_without_traceback(
    small_cohort, tmp_path, monkeypatch, capsys
):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sklearn_inr.datasets, "load_brats_slices", interrupted)
    out = tmp_path / "out"
    assert _main_interrupted(_tiny(small_cohort, out)) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        f"Interrupted: 0 fitted INRs kept in {out / 'cache'}; rerun the same "
        "command to resume."
    ]
    assert _main_interrupted(_tiny(small_cohort, out, "--no-cache")) == 130
    assert capsys.readouterr().err.strip() == (
        "Interrupted: no fitted INRs kept (--no-cache); rerun to start over."
    )


@pytest.mark.parametrize("n_patients, warned", [(9, True), (4, False)])
def test_n_patients_beyond_the_data_warns(
    small_cohort, tmp_path, monkeypatch, capsys, n_patients, warned
):
    seen = {}

    def fake_run(images, target, groups, **kwargs):
        seen["groups"] = groups
        return {"verdict": {"text": ""}, "timings": {"total": 0.0}}

    monkeypatch.setattr(cli_reproduce, "run_reproduction", fake_run)
    argv = _tiny(small_cohort, tmp_path / "out", "--n-patients", str(n_patients))
    assert main(argv) == 0
    assert len(set(seen["groups"])) == 4
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if "--n-patients" in line]
    if warned:
        assert warning == [
            f"warning: --n-patients 9 asks for more patients than {small_cohort} "
            "has: only 4 yield a tumour/no-tumour slice pair (0 folders skipped); "
            "using 4."
        ]
    else:
        assert warning == []


def test_unsuitable_data_folder_gets_loader_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no BraTS here")
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--data", str(tmp_path), "--preset", "tiny"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--data" in err and "BraTS" in err
    # The loader's Python hints, said as flags.
    assert "Point --data at" in err and "drop --data" in err
    assert "`root`" not in err and "make_brats_like(root)" not in err


def test_console_script_is_main():
    # pyproject.toml's [project.scripts] names sklearn_inr.cli:main.
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="sklearn-inr")
    assert script.value == "sklearn_inr.cli:main"
    assert script.load() is main


def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_inr", "reproduce", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "--n-patients" in result.stdout and "--preset" in result.stdout


def _no_work(monkeypatch):
    """Make generating, loading and running fail the test if reached."""

    def forbidden(original):
        def call(*args, **kwargs):
            # The estimate's steps probe fits a few slices of a temporary
            # cohort (experiments/_expected_steps.py): not the run's work.
            if "sklearn_inr_probe_" in str(args[0]):
                return original(*args, **kwargs)
            pytest.fail("a dry run did work")

        return call

    for name in ("make_brats_like", "load_brats_slices", "make_acdc_like", "load_acdc"):
        original = getattr(sklearn_inr.datasets, name)
        monkeypatch.setattr(sklearn_inr.datasets, name, forbidden(original))
    monkeypatch.setattr(cli_reproduce, "run_reproduction", forbidden)


def _plan_lines(printed):
    return [line.split()[0] for line in printed.splitlines() if line.startswith("  ")]


@pytest.mark.parametrize("preset", ["tiny", "cpu"])
def test_dry_run_prints_the_plan_and_does_nothing(
    preset, tmp_path, fit_counter, monkeypatch, capsys
):
    _no_work(monkeypatch)
    out = tmp_path / "out"
    argv = ["reproduce", "--preset", preset, "--dry-run", "--out", str(out)]
    assert main([*argv, "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    # The preset's own sizes, so retuning a preset does not break this test.
    n_patients = get_preset(preset)["n_patients"]
    size = get_preset(preset)["image_size"]
    assert printed.startswith(
        f"Plan of preset {preset!r} on a synthetic cohort of {n_patients} patients: "
        f"{2 * n_patients} slices of {size} x {size}, 5-fold grouped CV, seed 0."
    )
    stages = ["shared-init", "paper", "grouped", "pixel", "total"]
    assert [w for w in _plan_lines(printed) if w in stages] == stages
    assert "Speed, from a" in printed and "An estimate" in printed
    assert printed.strip().endswith(
        "Dry run: nothing of the run was fitted, generated or written (the "
        "estimate's probe fitted a few slices of a temporary cohort, now removed)."
    )
    assert fit_counter["images"] == 0
    assert list(tmp_path.iterdir()) == []


def test_dry_run_with_data_assumes_the_requested_patients(
    small_cohort, tmp_path, monkeypatch, capsys
):
    _no_work(monkeypatch)
    argv = _tiny(small_cohort, tmp_path / "out", "--dry-run", "--n-patients", "3")
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"on {small_cohort}, assuming 3 patients" in printed
    assert "6 slices of 12 x 12, 2-fold grouped CV" in printed
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(SystemExit) as exc:
        main(_tiny(tmp_path / "missing", tmp_path / "out", "--dry-run"))
    assert exc.value.code == 2
    assert "does not exist" in capsys.readouterr().err


def test_estimate_is_printed_before_the_cohort_is_generated(
    tmp_path, monkeypatch, capsys
):
    seen = {}

    original = sklearn_inr.datasets.make_brats_like

    def generate(*args, **kwargs):
        if "sklearn_inr_probe_" in str(args[0]):  # the estimate's steps probe
            return original(*args, **kwargs)
        # What was printed by then; then stop the run (Ctrl-C).
        seen["printed"] = capsys.readouterr().out
        raise KeyboardInterrupt

    monkeypatch.setattr(sklearn_inr.datasets, "make_brats_like", generate)
    argv = ["reproduce", "--preset", "tiny", "--out", str(tmp_path / "out")]
    assert _main_interrupted([*argv, "--device", "cpu", "--no-cache"]) == 130
    printed = seen["printed"]
    assert printed.startswith("Plan of preset 'tiny' on a synthetic cohort")
    assert "total" in _plan_lines(printed) and "An estimate" in printed
    assert "Dry run" not in printed


def test_plan_with_data_counts_the_loaded_slices(
    small_cohort, tmp_path, monkeypatch, capsys
):
    def fake_run(images, target, groups, **kwargs):
        print("RUN")
        return {"verdict": {"text": ""}, "timings": {"total": 0.0}}

    monkeypatch.setattr(cli_reproduce, "run_reproduction", fake_run)
    assert main(_tiny(small_cohort, tmp_path / "out", "--n-patients", "9")) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(
        f"Plan of preset 'tiny' on {small_cohort} (4 patients loaded): 8 slices of "
        "12 x 12, 2-fold grouped CV, seed 0."
    )
    assert printed.index("An estimate") < printed.index("RUN")


def _theta_store(cache):
    """Every cached fit under ``cache``: {relative path: {name: array}}."""
    entries = {}
    for path in sorted(cache.rglob("*.npz")):
        with np.load(path, allow_pickle=False) as npz:
            entries[str(path.relative_to(cache))] = {k: npz[k] for k in npz.files}
    return entries


def test_dask_scheduler_runs_the_fits_on_the_cluster_with_local_results(
    small_cohort, tmp_path, monkeypatch, capsys
):
    distributed = pytest.importorskip("distributed")
    where = []
    train_batch = runner._train_batch

    def recording(*args):
        # A task's thread knows its Dask worker; the caller's thread has none.
        try:
            distributed.get_worker()
            where.append("dask")
        except ValueError:
            where.append("local")
        return train_batch(*args)

    monkeypatch.setattr(runner, "_train_batch", recording)
    local, remote = tmp_path / "local", tmp_path / "dask"
    assert main(_tiny(small_cohort, local)) == 0
    assert set(where) == {"local"}
    where.clear()
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        assert main(_tiny(small_cohort, remote, "--dask-scheduler", address)) == 0
    assert set(where) == {"dask"}
    assert f"Dask scheduler {address}: 2 workers, 2 threads" in capsys.readouterr().err

    # The same INRs, to the bit, and so the same scores.
    expected, got = _theta_store(local / "cache"), _theta_store(remote / "cache")
    assert expected and sorted(got) == sorted(expected)
    for key, arrays in expected.items():
        for name, array in arrays.items():
            np.testing.assert_array_equal(got[key][name], array, err_msg=key)
    a, b = (json.loads((d / "results.json").read_text()) for d in (local, remote))
    assert a["scores"] == b["scores"]
    assert a["reconstruction"] == b["reconstruction"]


@pytest.mark.parametrize(
    "address, reason",
    [
        # Nothing listens on port 1: refused until the connect timeout.
        ("tcp://127.0.0.1:1", "Timed out trying to connect"),
        ("head-node", "missing port number"),
    ],
)
def test_unreachable_dask_scheduler_exits_2_before_any_work(
    address, reason, tmp_path, monkeypatch, capsys
):
    pytest.importorskip("distributed")
    _no_work(monkeypatch)
    monkeypatch.setattr(cli_reproduce, "_DASK_CONNECT_TIMEOUT", "0.5s")
    argv = ["reproduce", "--preset", "tiny", "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--dask-scheduler", address])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert (
        f"argument --dask-scheduler: cannot reach a Dask scheduler at {address!r}"
        in err
    )
    assert reason in err and "that the scheduler is running" in err
    assert list(tmp_path.iterdir()) == []


def test_dask_scheduler_without_distributed_says_what_to_install(
    tmp_path, monkeypatch, capsys
):
    _no_work(monkeypatch)
    # None in sys.modules makes the import fail, as if not installed.
    monkeypatch.setitem(sys.modules, "distributed", None)
    argv = ["reproduce", "--preset", "tiny", "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--dask-scheduler", "tcp://127.0.0.1:8786"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --dask-scheduler: needs dask.distributed" in err
    assert "pip install 'sklearn-inr[dask]'" in err
    assert list(tmp_path.iterdir()) == []


# Usage errors, loader errors and warnings (issue 24): one line each, no
# traceback, in terms of flags.


def _fake_run(monkeypatch):
    """Replace the run by a stub; return what it was given."""
    seen = {}

    def fake_run(images, target, groups, **kwargs):
        seen.update(images=images, groups=groups)
        return {"verdict": {"text": ""}, "timings": {"total": 0.0}}

    monkeypatch.setattr(cli_reproduce, "run_reproduction", fake_run)
    return seen


def _no_plan(monkeypatch):
    def forbidden(*args, **kwargs):
        pytest.fail("the plan was made before the arguments were checked")

    monkeypatch.setattr(cli_reproduce, "plan", forbidden)
    monkeypatch.setattr(cli_reproduce, "probe_throughput", forbidden)


def _usage_error(argv, capsys):
    """stderr of main(argv), which must exit 2 without a traceback."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("seed", ["-1", "4294967296", str(2**31)])
def test_seed_out_of_range_is_a_usage_error(seed, tmp_path, monkeypatch, capsys):
    # Was exit 1 with a numpy or scikit-learn traceback.
    _no_plan(monkeypatch)
    argv = ["reproduce", "--preset", "tiny", "--dry-run", "--seed", seed]
    err = _usage_error([*argv, "--out", str(tmp_path / "out")], capsys)
    assert (
        f"argument --seed: expected an integer from 0 to {2**31 - 1}, got {seed}" in err
    )


def test_largest_seed_and_patients_are_accepted():
    from sklearn_inr.cli import MAX_PATIENTS, build_parser

    argv = ["reproduce", "--seed", str(2**31 - 1), "--n-patients", str(MAX_PATIENTS)]
    args = build_parser().parse_args(argv)
    assert (args.seed, args.n_patients) == (2**31 - 1, MAX_PATIENTS)


def test_absurd_n_patients_is_refused_before_any_plan(tmp_path, monkeypatch, capsys):
    # Was a dry run that printed nothing and took 12 GB planning 10^8 patients.
    from sklearn_inr.cli import MAX_PATIENTS

    _no_plan(monkeypatch)
    _no_work(monkeypatch)
    argv = ["reproduce", "--dry-run", "--n-patients", "100000000"]
    err = _usage_error([*argv, "--out", str(tmp_path / "out")], capsys)
    assert (
        f"argument --n-patients: at most {MAX_PATIENTS:,} patients, got 100,000,000"
        in err
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_out_where_nothing_can_be_created_exits_2_before_the_plan(monkeypatch, capsys):
    # os.access says /proc is writable for root; creating anything there fails.
    # It was found only after the plan, with a traceback.
    _no_plan(monkeypatch)
    err = _usage_error(["reproduce", "--preset", "tiny", "--out", "/proc/x"], capsys)
    assert (
        "argument --out: '/proc/x' is not writable (it would be created in '/proc')"
        in err
    )
    assert "pass a folder you can write to" in err


def test_out_that_refuses_a_test_write_exits_2(tmp_path, monkeypatch, capsys):
    # A read-only mount, or a folder root may "write" by its bits but cannot.
    mkdtemp = cli_reproduce.tempfile.mkdtemp

    def refused(*args, dir=None, **kwargs):
        if str(dir) == str(tmp_path):
            raise PermissionError(30, "Read-only file system")
        return mkdtemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(cli_reproduce.tempfile, "mkdtemp", refused)
    _no_plan(monkeypatch)
    err = _usage_error(["reproduce", "--out", str(tmp_path)], capsys)
    assert (
        f"argument --out: {str(tmp_path)!r} is not writable: Read-only file system"
        in err
    )


def _lying_flair(root, case):
    """Make ``case``'s flair a 1 KB .nii.gz whose header claims 4000^3 voxels."""
    import gzip

    import nibabel as nib

    path = root / case / f"{case}_flair.nii.gz"
    header = nib.Nifti1Header()
    header.set_data_shape((4000, 4000, 4000))
    header.set_data_dtype(np.int16)
    header["vox_offset"] = 352
    with gzip.open(path, "wb") as file:
        file.write(header.binaryblock + b"\0" * 4 + bytes(64))
    return path


@pytest.fixture
def lying_cohort(tmp_path):
    root = make_brats_like(tmp_path / "data", n_patients=5, shape=(32, 32, 12))
    return root, _lying_flair(root, "BraTS2021_00001")


def test_lying_nifti_header_is_a_usage_error_naming_the_file_and_the_flag(
    lying_cohort, tmp_path, monkeypatch, capsys
):
    # Once a bare MemoryError and exit 1; the hint was Python's on_error='skip'.
    root, path = lying_cohort
    _fake_run(monkeypatch)
    err = _usage_error(_tiny(root, tmp_path / "out"), capsys)
    assert "argument --data:" in err and str(path) in err
    assert "pass --on-error skip" in err and "on_error=" not in err


def test_on_error_skip_loads_the_other_patients_with_one_warning(
    lying_cohort, tmp_path, monkeypatch, capsys
):
    root, path = lying_cohort
    seen = _fake_run(monkeypatch)
    assert main(_tiny(root, tmp_path / "out", "--on-error", "skip")) == 0
    assert len(set(seen["groups"])) == 4
    err = capsys.readouterr().err
    skipped = [line for line in err.splitlines() if "BraTS2021_00001" in line]
    assert len(skipped) == 1 and str(path) in skipped[0]
    assert skipped[0].startswith("warning: Skipping patient BraTS2021_00001: ")
    assert "UserWarning" not in err and "warnings.warn" not in err


def test_running_out_of_memory_while_reading_is_a_usage_error_naming_the_file(
    small_cohort, tmp_path, monkeypatch, capsys
):
    import sklearn_inr.datasets._nifti_io as nifti_io

    def out_of_memory(path):
        raise MemoryError

    monkeypatch.setattr(nifti_io, "_check_gzip", out_of_memory)
    err = _usage_error(_tiny(small_cohort, tmp_path / "out"), capsys)
    assert "argument --data: Could not read" in err
    assert "do not fit in the memory left" in err and "--on-error skip" in err


def test_warnings_are_printed_once_formatted_and_name_misnamed_folders(
    tmp_path, monkeypatch, capsys
):
    root = make_brats_like(tmp_path / "data", n_patients=4, shape=(32, 32, 12))
    (root / "BraTS2021_00003").rename(root / "patient_01")
    _fake_run(monkeypatch)
    assert main(_tiny(root, tmp_path / "out", "--n-patients", "4")) == 0
    lines = capsys.readouterr().err.splitlines()
    warned = [line for line in lines if line.startswith("warning: ")]
    assert any(
        "Ignoring 1 folder(s)" in line and "patient_01" in line for line in warned
    )
    assert any("--n-patients 4" in line and "patient_01" in line for line in warned)
    assert "Bunch" not in "\n".join(warned)
    assert not [line for line in lines if "Warning" in line or "warn(" in line]


def test_formatted_warnings_print_each_message_once(capsys):
    import warnings

    from sklearn_inr.cli import _formatted_warnings

    with _formatted_warnings(str.upper):
        for _ in range(3):
            warnings.warn("same message", UserWarning)
        warnings.warn("same message", RuntimeWarning)  # another place, category
        warnings.warn("other", UserWarning)
    assert capsys.readouterr().err == "warning: SAME MESSAGE\nwarning: OTHER\n"


def test_version(capsys):
    from sklearn_inr import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"sklearn-inr {__version__}\n"


@pytest.mark.parametrize(
    "argv, hint",
    [
        (["reproduce", "--presets", "tiny"], "(did you mean --preset?)"),
        (["reproduce", "--dry-runn"], "(did you mean --dry-run?)"),
        (["reproduce", "--seeds=3"], "(did you mean --seed?)"),
    ],
)
def test_unknown_option_suggests_the_closest(argv, hint, monkeypatch, capsys):
    _no_plan(monkeypatch)
    err = _usage_error(argv, capsys)
    assert f"unrecognized arguments: {' '.join(argv[1:])} {hint}" in err


def test_preset_choices_match_the_presets():
    from sklearn_inr.cli import DATASET_NAMES, PRESET_NAMES
    from sklearn_inr.experiments import DATASET_NAMES as datasets
    from sklearn_inr.experiments import PRESETS

    assert PRESET_NAMES == tuple(sorted(PRESETS))
    assert DATASET_NAMES == datasets


def test_acdc_tiny_run_smoke(tmp_path, monkeypatch, capsys):
    """--dataset acdc: a synthetic ACDC cohort, five groups, the same outputs."""
    written = {}
    make = sklearn_inr.datasets.make_acdc_like

    def spy(*args, **kwargs):
        written["args"] = args
        return make(*args, **kwargs)

    monkeypatch.setattr(sklearn_inr.datasets, "make_acdc_like", spy)
    out = tmp_path / "out"
    argv = ["reproduce", "--dataset", "acdc", "--preset", "tiny", "--folds", "2"]
    assert main([*argv, "--device", "cpu", "--out", str(out), "--no-cache"]) == 0
    # The tiny preset's ACDC sizes: 10 patients (2 per group), 32 x 32 x 6.
    assert written["args"][1:] == (10, (32, 32, 6))
    captured = capsys.readouterr()
    assert captured.out.startswith(
        "Plan of preset 'tiny' on a synthetic ACDC cohort of 10 patients: 20 "
        "slices of 12 x 12, 2-fold grouped CV"
    )
    assert "Writing a synthetic ACDC-layout cohort of 10 patients" in captured.err
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    data = results["data"]
    assert data["class_names"] == ["NOR", "MINF", "DCM", "HCM", "RV"]
    assert data["class_counts"] == [4] * 5 and data["chance"] == 0.2
    assert data["description"].startswith("synthetic ACDC-layout cohort")
    assert results["settings"]["dataset"] == "acdc"
    assert "Macro OvR ROC AUC" in (out / "report.md").read_text()


def test_dataset_and_preset_combine_or_say_what_is_allowed(
    tmp_path, monkeypatch, capsys
):
    _no_work(monkeypatch)
    out = ["--out", str(tmp_path / "out"), "--device", "cpu"]
    err = _usage_error(
        ["reproduce", "--dataset", "acdc", "--preset", "cpu-240", *out], capsys
    )
    assert (
        "argument --preset: The preset 'cpu-240' has no settings for dataset "
        "'acdc'; choose one of ['cpu', 'paper', 'tiny'] for it." in err
    )
    err = _usage_error(["reproduce", "--dataset", "mnist", *out], capsys)
    assert "invalid choice: 'mnist' (choose from 'brats', 'acdc')" in err
    # A dry run plans the preset's ACDC sizes (cpu: 50 patients, 64 x 64).
    argv = ["reproduce", "--dataset", "acdc", "--preset", "cpu", "--dry-run"]
    assert main([*argv, *out]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(
        "Plan of preset 'cpu' on a synthetic ACDC cohort of 50 patients: 100 "
        "slices of 64 x 64, 5-fold grouped CV, seed 0."
    )
    assert "chained by class" in printed and "Dry run" in printed


@pytest.mark.parametrize("argv", [["--help"], ["reproduce", "--help"], ["--version"]])
def test_help_imports_neither_torch_nor_sklearn(argv):
    # --help took 5.4 s, importing torch, scikit-learn and the experiments.
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['sklearn-inr', *{argv!r}]\n"
        "try:\n"
        "    runpy.run_module('sklearn_inr', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = ('torch', 'sklearn', 'skorch', 'sklearn_inr.experiments')\n"
        "print('IMPORTED', [name for name in heavy if name in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "IMPORTED []" in result.stdout


def test_slice_threshold_hints_are_not_python_parameters(tmp_path, monkeypatch, capsys):
    import nibabel as nib

    root = make_brats_like(tmp_path / "data", n_patients=2, shape=(32, 32, 12))
    for case in ("BraTS2021_00000", "BraTS2021_00001"):
        path = root / case / f"{case}_seg.nii.gz"
        seg = nib.load(path)
        empty = np.zeros(seg.shape, dtype=np.uint8)
        nib.save(nib.Nifti1Image(empty, seg.affine, seg.header), path)
    _fake_run(monkeypatch)
    err = _usage_error(_tiny(root, tmp_path / "out"), capsys)
    assert "Check the files (the command line keeps the loader's default" in err
    assert "Lower brain_threshold" not in err
    assert "warning: Skipping patient BraTS2021_00000" in err
    assert "load_brats_slices can lower them" in err


def test_reproduce_keeps_freed_memory_in_its_own_process(
    tmp_path, monkeypatch, allocator_calls
):
    _no_work(monkeypatch)
    argv = ["reproduce", "--preset", "tiny", "--dry-run", "--out", str(tmp_path / "o")]
    assert main([*argv, "--device", "cpu"]) == 0
    assert allocator_calls == [1]
    # The real setting, in a process of its own: glibc accepts it here.
    code = "import sklearn_inr._cli_reproduce as c; print(c.reuse_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert out.strip() == ("True" if sys.platform == "linux" else "False")


def test_without_glibc_the_allocator_is_left_alone(monkeypatch):
    import ctypes

    def missing(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", missing)
    assert REUSE_FREED_MEMORY() is False
