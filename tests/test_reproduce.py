"""The reproduction experiment as a function: run_reproduction and its parts."""

import json
import math

import numpy as np
import pytest
from conftest import make_toy_cohort

from sklearn_inr.experiments import PRESETS, get_preset, run_reproduction
from sklearn_inr.experiments._protocols import (
    INR_KEYS,
    _accuracy_counts,
    critical_count,
    detection_power,
    grouped_cv_score,
    grouped_folds,
    learned_init,
    make_featurizer,
    make_pixel_baseline,
    noise_images,
    paper_split,
    permute_within_groups,
    permuted_fold_targets,
    slices_needed,
    wilson_interval,
)
from sklearn_inr.experiments._report import cohort_warning, fmt, rounded, verdict

CONDITION_KEYS = ("images", "noise", "permuted")
PRESET_MODELS = [(p, m) for p in sorted(PRESETS) for m in PRESETS[p]["models"]]


@pytest.mark.parametrize("preset, model", PRESET_MODELS)
def test_featurizers_carry_every_preset_setting(preset, model):
    """What reaches the featurizer is the preset's entry, nothing dropped."""
    settings = get_preset(preset)["models"][model]
    featurizer = make_featurizer(settings, device="cpu", memory=None, random_state=0)
    params = featurizer.get_params()
    for key in INR_KEYS + ("n_steps",):
        assert params[key] == settings[key], (preset, model, key)
    assert params["target_psnr"] is None  # the paper protocol: fixed steps
    overrides = settings.get("leak_free", {})
    if overrides is None:
        with pytest.raises(ValueError, match="no leak-free fits"):
            make_featurizer(settings, device="cpu", memory=None, random_state=0,
                            protocol="leak-free")  # fmt: skip
    else:
        leak_free = make_featurizer(settings, device="cpu", memory=None,
                                    random_state=0, protocol="leak-free")  # fmt: skip
        # A learned init is the featurizer's init, checked by the cpu-240 run.
        overrides = {k: v for k, v in overrides.items() if k != "learned_init"}
        expected = {**{k: settings[k] for k in INR_KEYS + ("n_steps",)}, **overrides}
        for key, value in expected.items():
            assert leak_free.get_params()[key] == value, (preset, model, key)
    # The paper's network has the paper's 264,193 parameters per slice.
    if preset == "paper":
        fitted = make_featurizer(
            {**settings, "n_steps": 1}, device="cpu", memory=None, random_state=0
        ).fit(np.zeros((1, 2, 2)))
        assert fitted.n_params_ == 264_193


def test_cpu_presets_fit_leak_free_inrs_to_a_fidelity():
    """The cpu preset's leak-free fits stop at a PSNR; the paper's don't."""
    siren = get_preset("cpu")["models"]["siren"]
    assert siren["leak_free"]["target_psnr"] >= 35.0
    assert siren["lr"] == PRESETS["paper"]["models"]["siren"]["lr"]
    assert all(
        model.get("leak_free", {}) == {}
        for model in get_preset("paper")["models"].values()
    )


def test_get_preset_returns_a_copy():
    settings = get_preset("cpu")
    settings["models"]["siren"]["n_steps"] = 1
    assert PRESETS["cpu"]["models"]["siren"]["n_steps"] != 1
    assert settings["preset"] == "cpu"
    with pytest.raises(ValueError, match="Unknown preset 'gpu'"):
        get_preset("gpu")


def test_paper_split_is_80_10_10_and_disjoint():
    train, val, test = paper_split(100, (0.8, 0.1, 0.1), random_state=0)
    assert (len(train), len(val), len(test)) == (80, 10, 10)
    assert len(np.unique(np.concatenate([train, val, test]))) == 100


def test_permute_within_groups_keeps_each_patients_labels():
    target = np.tile([1, 0], 50)
    groups = np.repeat(np.arange(50), 2)
    permuted = permute_within_groups(target, groups, random_state=0)
    for g in range(50):
        assert sorted(permuted[groups == g]) == [0, 1]
    assert 0 < np.mean(permuted != target) < 1


def test_noise_images_are_uniform_noise_of_the_same_shape():
    images = np.zeros((4, 6, 6), dtype=np.float32)
    noise = noise_images(images, random_state=0)
    assert noise.shape == images.shape and noise.dtype == images.dtype
    assert 0 <= noise.min() and noise.max() <= 1 and noise.std() > 0.2


def test_rounding_is_what_the_report_prints():
    values = rounded({"a": [0.123456, 1.0, float("nan"), 3], "b": np.float32(2.5e-5)})
    assert values == {"a": [0.1235, 1.0, None, 3], "b": 2.5e-05}
    for v in (0.1235, 1.0, 2.5e-05, 12.35):
        assert float(fmt(v)) == v
    assert fmt(None) == "n/a"


@pytest.mark.filterwarnings("ignore:Only 6 patients:UserWarning")
def test_run_reproduction_on_arrays(tmp_path):
    images, target, groups = make_toy_cohort()
    settings = get_preset("tiny")
    settings["weight_transfer_pipeline_controls"] = False
    results = run_reproduction(
        images,
        target,
        groups,
        settings=settings,
        out_dir=tmp_path,
        n_splits=2,
        device="cpu",
        verbose=0,
    )
    assert json.loads((tmp_path / "results.json").read_text()) == results
    labels = [row["key"] for row in results["scores"]]
    assert labels == [
        "paper/siren",
        "paper/relu",
        "pipeline-shared/siren",
        "pipeline-shared/relu",
        "pipeline-weight-transfer/siren",
        "pipeline-weight-transfer/relu",
        "pipeline-task-aware/siren",
        "pipeline-task-aware/relu",
        "pixels/logistic",
    ]
    # The task-aware init runs its controls: it reads the training labels.
    task = results["scores"][6]["conditions"]
    assert all(task[c]["n_test"] == len(images) for c in CONDITION_KEYS)
    assert "task-aware init" in results["scores"][6]["label"]
    wt = results["scores"][4]["conditions"]
    assert wt["noise"] is None and wt["images"]["n_test"] == len(images)
    paper = results["scores"][0]["conditions"]["images"]
    assert (paper["n_train"], paper["n_val"], paper["n_test"]) == (8, 2, 2)
    # The bright blobs are easy for pixels, and noise is not.
    pixels = results["scores"][8]["conditions"]
    assert pixels["images"]["accuracy"] == 1.0
    assert set(results["reconstruction"]) == {"siren", "relu"}
    assert set(results["reconstruction"]["siren"]) == {"shared", "paper"}
    assert results["settings"]["torch_threads"] is None
    assert isinstance(results["verdict"]["paper_protocol_passes_noise_control"], bool)
    assert "total" in results["timings"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_splits": 7}, "n_splits must be between 2"),
        ({"groups": np.arange(3)}, "same length"),
    ],
)
def test_run_reproduction_rejects_bad_input(kwargs, message, tmp_path):
    images, target, groups = make_toy_cohort()
    params = {"groups": groups, "n_splits": 2}
    params.update(kwargs)
    groups = params.pop("groups")
    with pytest.raises(ValueError, match=message):
        run_reproduction(
            images,
            target,
            groups,
            settings="tiny",
            out_dir=tmp_path,
            verbose=0,
            **params,
        )


def test_verdict_flags_leak_free_rows_of_unconverged_inrs():
    from sklearn_inr.experiments._report import reconstruction_table, verdict

    def psnr(median):
        return {
            "psnr": {"mean": median, "std": 1.0, "median": median, "p10": median - 2},
            **{k: {"mean": 0.1, "std": 0.0} for k in ("bce", "bce_minus_entropy",
                                                       "mse")},
        }  # fmt: skip

    results = {
        "scores": [],
        "data": {"n_patients": 40},
        "settings": {"models": {"siren": {"name": "TinySIREN"},
                                "relu": {"name": "SmallMLP_INR"}}},
        "reconstruction": {"siren": {"shared": psnr(11.6)},
                           "relu": {"shared": psnr(36.0)}},
    }  # fmt: skip
    said = verdict(results)
    assert said["unconverged_leak_free_fits"] == ["TinySIREN"]
    assert "TinySIREN classify theta of unconverged INRs" in said["text"]
    assert "median PSNR of 11.6 dB" in said["text"]
    assert "SmallMLP_INR classify" not in said["text"]
    table = reconstruction_table(results)
    assert "| 11.6 | 9.6 |" in table and "PSNR median (dB)" in table


# ---------------------------------------------------------------------------
# The report's statistics: counts, Wilson intervals, the power of the noise
# control, its three outcomes, the cohort-size warning and the permuted-label
# control drawn afresh in each fold.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n_correct, n_total, low, high",
    [
        # Newcombe (1998), Statistics in Medicine 17, table I, method 3.
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_published_values(n_correct, n_total, low, high):
    got = wilson_interval(n_correct, n_total)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_is_statsmodels_formula():
    # statsmodels' proportion_confint(33, 40, alpha=0.1, method="wilson"),
    # written out: centre (p + z^2/2n) / (1 + z^2/n), half-width
    # z sqrt(p q / n + z^2 / 4n^2) / (1 + z^2/n), z = 1.6448536269514722.
    z, n, p = 1.6448536269514722, 40, 33 / 40
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    low, high = wilson_interval(33, 40, confidence=0.9)
    assert (low, high) == pytest.approx((centre - half, centre + half), rel=1e-12)
    assert low < 33 / 40 < high
    # Wider at higher confidence; always inside [0, 1].
    wide = wilson_interval(33, 40, confidence=0.99)
    assert wide[0] < low and wide[1] > high
    assert wilson_interval(5, 5) == (pytest.approx(0.5655, abs=5e-5), 1.0)


@pytest.mark.parametrize(
    "args, message",
    [
        ((3, 0), "n_total must be an integer >= 1"),
        ((5, 4), "n_correct must be an integer between 0 and n_total=4"),
        ((-1, 4), "n_correct must be an integer between 0"),
        ((1.5, 4), "n_correct must be an integer"),
        ((1, 4, 1.0), "confidence must be strictly between 0 and 1"),
        ((1, 4, 95), "confidence must be strictly between 0 and 1"),
    ],
)
def test_wilson_interval_rejects_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        wilson_interval(*args)


def _power_by_hand(n, chance, accuracy=0.8, alpha=0.05):
    """Critical count and power, from binomial sums written out."""

    def tail(k, p):  # P(X >= k), X ~ Binomial(n, p)
        return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))

    crit = next((k for k in range(n + 1) if tail(k, chance) < alpha), n + 1)
    return crit, tail(crit, accuracy)


@pytest.mark.parametrize("n", [2, 4, 5, 12, 13, 17, 18, 40])
@pytest.mark.parametrize("chance", [0.5, 0.6])
def test_detection_power_is_the_exact_binomial_power(n, chance):
    crit, power = _power_by_hand(n, chance)
    assert critical_count(n, chance) == crit
    assert detection_power(n, chance) == pytest.approx(power, abs=1e-12)


def test_slices_needed_is_the_first_count_with_enough_power():
    needed = slices_needed(0.5)
    assert _power_by_hand(needed, 0.5)[1] >= 0.8
    assert all(_power_by_hand(n, 0.5)[1] < 0.8 for n in range(1, needed))
    # Two test slices can never beat chance at 5 %: power 0.
    assert critical_count(2, 0.5) == 3 and detection_power(2, 0.5) == 0.0
    with pytest.raises(ValueError, match="too imbalanced"):
        slices_needed(0.85)


def _results(rows, n_patients=40):
    """A results dict with the fields the verdict reads."""
    return {
        "scores": rows,
        "data": {"n_patients": n_patients, "n_slices": 2 * n_patients,
                 "n_tumour": n_patients, "n_no_tumour": n_patients},
        "settings": {"split": [0.8, 0.1, 0.1], "models": {}},
        "reconstruction": {},
    }  # fmt: skip


def _row(key, protocol, label, n_correct, n_test):
    y_test = np.tile([0, 1], n_test // 2)
    y_pred = np.where(np.arange(n_test) < n_correct, y_test, 1 - y_test)
    noise = {"accuracy": n_correct / n_test, **_accuracy_counts(y_test, y_pred)}
    return {
        "key": key,
        "protocol": protocol,
        "label": label,
        "conditions": {"images": noise, "noise": rounded(noise), "permuted": None},
    }


def test_noise_control_has_three_outcomes_with_power_and_needed_sizes():
    rows = [
        _row("paper/siren", "paper", "Paper protocol (leaky): TinySIREN", 8, 8),
        _row("paper/relu", "paper", "Paper protocol (leaky): SmallMLP_INR", 1, 2),
        _row("pipeline-shared/siren", "pipeline (shared)",
             "Leak-free pipeline: TinySIREN, shared init", 42, 80),
        _row("pipeline-shared/relu", "pipeline (shared)",
             "Leak-free pipeline: SmallMLP_INR, shared init", 56, 80),
    ]  # fmt: skip
    results = _results(rows)
    said = verdict(results)
    kinds = {k: c["kind"] for k, c in said["noise_control"].items()}
    assert kinds == {
        "paper/siren": "leak",
        "paper/relu": "inconclusive",
        "pipeline-shared/siren": "no evidence of a leak",
        "pipeline-shared/relu": "leak",
    }
    assert said["paper_protocol_passes_noise_control"] is False
    assert said["cohort_warning"] is None
    paper, pipeline = (
        said["noise_control"]["paper/relu"],
        said["noise_control"]["pipeline-shared/siren"],
    )
    assert paper["power"] == 0.0 and paper["n_test_needed"] == slices_needed(0.5)
    # Under the paper's split, a patient adds 0.2 test slices.
    n_patients = paper["n_patients_needed"]
    assert len(paper_split(2 * n_patients, (0.8, 0.1, 0.1), 0)[2]) >= 18
    assert len(paper_split(2 * (n_patients - 1), (0.8, 0.1, 0.1), 0)[2]) < 18
    assert pipeline["power"] == pytest.approx(detection_power(80, 0.5), rel=1e-3)
    assert pipeline["power"] >= 0.8
    text = said["text"]
    assert "TinySIREN) scores 100 % (8/8 test slices" in text
    assert "a leak; it measures the labels" in text
    assert "SmallMLP_INR) scores 50 % (1/2 test slices, 95 % CI 9 % to 91 %" in text
    assert f"({n_patients} patients under this protocol)" in text
    assert "TinySIREN, shared init: 52 % (42/80" in text
    assert "The pooled 80 test slices" in text
    # A leak-free row above chance on noise is called out, with its p.
    p = said["noise_control"]["pipeline-shared/relu"]["p_value"]
    assert 0 < p < 0.05
    assert (
        f"The leak-free row SmallMLP_INR, shared init scores significantly above "
        f"chance on pure noise (p = {fmt(p)})"
    ) in text
    assert "weaker leak" in text and "brightness" in text
    # Every number of a control is in the JSON (rounded as the report shows).
    assert said["noise_control"] == rounded(said["noise_control"])


def test_cohort_warning_below_twenty_patients():
    assert cohort_warning(20) is None
    assert "Only 19 patients: below 20, these numbers are anecdotal" in (
        cohort_warning(19)
    )
    said = verdict(_results([], n_patients=7))
    assert said["text"].startswith("Only 7 patients")
    assert said["cohort_warning"] == cohort_warning(7)


def test_permuted_fold_targets_are_independent_draws_per_fold():
    target = np.tile([1, 0], 30)
    groups = np.repeat(np.arange(30), 2)
    folds = grouped_folds(target, groups, 3, random_state=0)
    drawn = permuted_fold_targets(target, groups, folds, random_state=0)
    assert len(drawn) == 3
    for y in drawn:
        for g in range(30):
            assert sorted(y[groups == g]) == [0, 1]
    assert not np.array_equal(drawn[0], drawn[1])
    again = permuted_fold_targets(target, groups, folds, random_state=0)
    assert all(np.array_equal(a, b) for a, b in zip(drawn, again))


def test_grouped_cv_trains_and_scores_on_the_fold_targets():
    images, target, groups = make_toy_cohort()
    X = images.reshape(len(images), -1)
    folds = grouped_folds(target, groups, 2, random_state=0)
    baseline = make_pixel_baseline()
    # Inverted labels in every fold: the bright blob still predicts them all,
    # so the scores are against the fold's labels, not ``target``.
    flipped = grouped_cv_score(baseline, X, target, folds, [1 - target] * 2)
    assert (flipped["n_correct"], flipped["n_test"]) == (12, 12)
    assert flipped["accuracy_ci"] == list(wilson_interval(12, 12))
    assert flipped["n_chance"] == 6


def test_six_patient_run_is_inconclusive_and_warns(tmp_path):
    """Issue 14's done-when check, on the tiny preset."""
    images, target, groups = make_toy_cohort(6)
    settings = get_preset("tiny")
    settings["weight_transfer_pipeline_controls"] = False
    with pytest.warns(UserWarning, match="Only 6 patients: below 20"):
        results = run_reproduction(
            images, target, groups, settings=settings, out_dir=tmp_path,
            n_splits=2, device="cpu", verbose=0,
        )  # fmt: skip
    report = (tmp_path / "report.md").read_text()
    assert "inconclusive" in report
    assert "these numbers are anecdotal" in report
    controls = results["verdict"]["noise_control"]
    # Two test slices in the paper split, twelve pooled in grouped CV: too few
    # for 80 % power whatever the noise scores (unless it is a leak).
    for key, control in controls.items():
        assert control["kind"] in ("leak", "inconclusive"), key
        assert control["power"] < 0.8 and control["n_test_needed"] == 18
    assert controls["pipeline-shared/siren"]["n_patients_needed"] == 9
    # results.json holds every number the report shows: counts and intervals.
    assert json.loads((tmp_path / "results.json").read_text()) == results
    for row in results["scores"]:
        for result in row["conditions"].values():
            if result is not None:
                low, high = result["accuracy_ci"]
                cell = f"({result['n_correct']}/{result['n_test']}, CI "
                assert f"{cell}{fmt(low)}–{fmt(high)})" in report


@pytest.mark.filterwarnings("ignore:Only 6 patients:UserWarning")
def test_a_model_without_leak_free_fits_runs_the_paper_protocol_only(tmp_path):
    images, target, groups = make_toy_cohort()
    settings = get_preset("tiny")
    settings["weight_transfer_pipeline_controls"] = False
    settings["models"]["relu"]["leak_free"] = None
    settings["models"]["relu"]["leak_free_note"] = "too slow to converge here"
    results = run_reproduction(images, target, groups, settings=settings,
                               out_dir=tmp_path, n_splits=2, device="cpu",
                               verbose=0)  # fmt: skip
    keys = [row["key"] for row in results["scores"]]
    assert "paper/relu" in keys
    assert not any(k.startswith("pipeline") and k.endswith("/relu") for k in keys)
    assert "shared" not in results["reconstruction"]["relu"]
    assert (
        "Leak-free pipeline fits: too slow to converge here."
        in (tmp_path / "report.md").read_text()
    )


@pytest.mark.filterwarnings("ignore:Only 6 patients:UserWarning")
def test_a_leak_free_only_run_from_an_init_learned_on_other_patients(tmp_path):
    """The cpu-240 preset's shape: no paper-protocol or weight-transfer rows,
    the shared init meta-learned on a calibration cohort, then cached."""
    images, target, groups = make_toy_cohort()
    settings = get_preset("tiny")
    settings.update(paper_protocol=False, weight_transfer_pipeline=False,
                    task_aware=None)  # fmt: skip
    del settings["models"]["relu"]
    recipe = {"n_patients": 2, "cohort_shape": (32, 32, 12), "image_size": 8,
              "meta_steps": 2, "inner_steps": 2, "meta_batch_size": 2}  # fmt: skip
    settings["models"]["siren"]["leak_free"]["learned_init"] = recipe
    kwargs = dict(settings=settings, cache_dir=tmp_path / "cache", n_splits=2,
                  device="cpu", verbose=0)  # fmt: skip
    results = run_reproduction(images, target, groups, out_dir=tmp_path / "a", **kwargs)
    keys = [row["key"] for row in results["scores"]]
    assert keys == ["pipeline-shared/siren", "pixels/logistic"]
    assert "learned on other patients" in results["scores"][0]["label"]
    assert results["verdict"]["paper_protocol_passes_noise_control"] is None
    report = (tmp_path / "a" / "report.md").read_text()
    assert "Paper protocol: not run in this preset." in report
    assert "2 other synthetic patients (a calibration cohort" in report
    # Learned once, from the recipe and the seed alone (it never sees the
    # evaluated slices or labels), stored in the run's cache, and not the
    # tiny preset's plain shared draw.
    assert len(list((tmp_path / "cache").glob("sklearn_inr/init/*/*"))) == 1
    init = learned_init(settings["models"]["siren"], random_state=0,
                        memory=tmp_path / "cache", device="cpu")  # fmt: skip
    again = learned_init(settings["models"]["siren"], random_state=0,
                         memory=None, device="cpu")  # fmt: skip
    np.testing.assert_array_equal(init, again)
    plain = get_preset("tiny")["models"]["siren"]
    drawn = make_featurizer(plain, device="cpu", memory=None, random_state=0,
                            protocol="leak-free")  # fmt: skip
    assert not np.array_equal(init, drawn.fit(images[:1]).init_params_)
    assert learned_init(plain, random_state=0, memory=None, device="cpu") is None
