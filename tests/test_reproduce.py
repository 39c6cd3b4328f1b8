"""The reproduction experiment as a function: run_reproduction and its parts
(presets read by _protocols, the protocols of _evaluation)."""

import json
import math

import numpy as np
import pytest
from conftest import make_toy_cohort

from sklearn_inr.experiments import PRESETS, get_preset, run_reproduction
from sklearn_inr.experiments._evaluation import (
    grouped_cv_score,
    grouped_folds,
    noise_images,
    paper_split,
    permute_across_groups,
    permute_labels,
    permute_within_groups,
    permuted_fold_targets,
    single_split_score,
)
from sklearn_inr.experiments._protocols import (
    INR_KEYS,
    learned_init,
    make_featurizer,
    make_pixel_baseline,
)
from sklearn_inr.experiments._statistics import (
    detection_power,
    slices_needed,
    wilson_interval,
)

CONDITION_KEYS = ("images", "noise", "permuted")
PRESET_MODELS = [(p, m) for p in sorted(PRESETS) for m in PRESETS[p]["models"]]


def _row(results, key):
    """The results' row ``key``."""
    (row,) = (row for row in results["scores"] if row["key"] == key)
    return row


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
        "pipeline-pca/siren",
        "pipeline-pca/relu",
        "pixels/logistic",
        "pixels/cnn",
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
    pixels = _row(results, "pixels/logistic")["conditions"]
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
                cell = f"({result['n_correct']}/{result['n_test']}, 95 % CI "
                assert f"{cell}{low:.2f}–{high:.2f})" in report


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
    assert keys == [
        "pipeline-shared/siren", "pipeline-pca/siren", "pixels/logistic", "pixels/cnn"
    ]  # fmt: skip
    assert "learned on other patients" in results["scores"][0]["label"]
    assert results["verdict"]["paper_protocol_passes_noise_control"] is None
    report = (tmp_path / "a" / "report.md").read_text()
    assert "Paper protocol: not run in this preset." in report
    assert "2 other synthetic patients (a calibration cohort" in report
    # Learned once, from the recipe and the seed alone (it never sees the
    # evaluated slices or labels), stored in the run's cache, and not the
    # tiny preset's plain shared draw.
    # Under the key of its recipe and under that of its images.
    assert len(list((tmp_path / "cache").glob("sklearn_inr/init/*/*"))) == 2
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


def test_learned_init_shares_the_featurizers_stored_init(tmp_path, monkeypatch):
    # The learned init is stored under the key INRFeaturizer(init="meta")
    # gives the same learning: a cache filled by either serves the other,
    # so a run resumed after this refactor (or a featurizer) relearns nothing.
    from sklearn_inr import INRFeaturizer, INRSpec
    from sklearn_inr.datasets import load_brats_slices, make_brats_like
    from sklearn_inr.estimators._strategies import STARTS
    from sklearn_inr.experiments import _protocols

    recipe = {"n_patients": 2, "cohort_shape": (32, 32, 12), "image_size": 8,
              "meta_steps": 2, "inner_steps": 2, "meta_batch_size": 2}  # fmt: skip
    entry = get_preset("tiny")["models"]["siren"]
    entry["leak_free"]["learned_init"] = recipe
    seed = 3 + _protocols.CALIBRATION_SEED_OFFSET
    images = load_brats_slices(
        make_brats_like(tmp_path / "cohort", 2, (32, 32, 12), seed), size=8
    ).images
    lr = entry["leak_free"]["lr"]
    featurizer = INRFeaturizer(
        model="siren", hidden_features=8, hidden_layers=1, omega_0=30.0,
        loss="bce", lr=lr, init="meta", meta_steps=2, inner_steps=2,
        meta_batch_size=2, device="cpu", memory=str(tmp_path / "cache"),
    )  # fmt: skip
    spec = INRSpec("siren", hidden_features=8, hidden_layers=1, omega_0=30.0)
    stored = STARTS["meta"].init_params(featurizer, images, spec, seed)

    def relearn(*args, **kwargs):
        raise AssertionError("the stored init was not found")

    monkeypatch.setattr(_protocols, "meta_learn_init", relearn)
    init = learned_init(entry, random_state=3, memory=str(tmp_path / "cache"),
                        device="cpu")  # fmt: skip
    np.testing.assert_array_equal(init, stored)


def make_group_cohort(n_patients=10, n_classes=5, size=8, seed=0):
    """An ACDC-shaped toy: two slices per patient sharing its class, patient
    ``i`` in class ``i % n_classes``, a bright blob at a place of its class."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.2, 0.4, size=(2 * n_patients, size, size))
    target = np.repeat(np.arange(n_patients) % n_classes, 2)
    for i, label in enumerate(target):
        row, col = divmod(int(label), 3)
        images[i, 2 * row : 2 * row + 2, 2 * col : 2 * col + 2] = 0.9
    groups = np.repeat([f"patient{i + 1:03d}" for i in range(n_patients)], 2)
    return images.astype(np.float32), target, groups


def test_permute_labels_within_patients_for_pairs_is_the_old_draw():
    # BraTS pairs: the same draw as before, so BraTS's numbers are unchanged.
    target = np.tile([1, 0], 20)
    groups = np.repeat(np.arange(20), 2)
    np.testing.assert_array_equal(
        permute_labels(target, groups, 3), permute_within_groups(target, groups, 3)
    )
    folds = grouped_folds(target, groups, 2, random_state=0)
    rng = np.random.default_rng(5)
    old = [permute_within_groups(target, groups, rng) for _ in folds]
    new = permuted_fold_targets(target, groups, folds, random_state=5)
    assert all(np.array_equal(a, b) for a, b in zip(old, new))


def test_permute_labels_across_patients_when_each_holds_one_label():
    _, target, groups = make_group_cohort(40)
    # Within a patient nothing would move: every patient holds one label.
    np.testing.assert_array_equal(permute_within_groups(target, groups, 0), target)
    permuted = permute_labels(target, groups, 0)
    for g in np.unique(groups):
        assert len(np.unique(permuted[groups == g])) == 1  # still one per patient
    np.testing.assert_array_equal(np.bincount(permuted), np.bincount(target))
    assert 0.5 < np.mean(permuted != target) < 1
    np.testing.assert_array_equal(permute_across_groups(target, groups, 0), permuted)
    # Per fold: shuffled among the training and among the test patients, so
    # each part keeps its class counts (and the fold its stratification).
    folds = grouped_folds(target, groups, 4, random_state=0)
    drawn = permuted_fold_targets(target, groups, folds, random_state=0)
    for (train, test), y in zip(folds, drawn):
        for part in (train, test):
            np.testing.assert_array_equal(
                np.bincount(y[part], minlength=5),
                np.bincount(target[part], minlength=5),
            )
        assert np.any(y[test] != target[test])
    assert not np.array_equal(drawn[0], drawn[1])
    # Patients of other sizes keep their labels among themselves.
    uneven = np.concatenate([groups, ["extra"] * 3])
    labels = np.concatenate([target, [4, 4, 4]])
    assert list(permute_labels(labels, uneven, 1)[-3:]) == [4, 4, 4]


def test_grouped_cv_scores_balanced_accuracy_and_macro_auc_for_k_classes():
    images, target, groups = make_group_cohort(15, n_classes=3)
    X = images.reshape(len(images), -1)
    folds = grouped_folds(target, groups, 3, random_state=0)
    score = grouped_cv_score(make_pixel_baseline(), X, target, folds)
    # Each class's blob has its own place: pixels get them all.
    assert score["balanced_accuracy"] == 1.0 and score["roc_auc"] == 1.0
    assert len(score["fold_balanced_accuracy"]) == 3
    assert score["n_chance"] == 10  # the majority count, 10 of 30 slices
    # Balanced accuracy is the mean recall: always answering class 0 on a
    # test fold of 3 classes scores 1/3 whatever the counts.
    single = single_split_score(
        make_pixel_baseline(),
        X,
        target,
        (np.arange(0, 24), [24, 25], np.arange(24, 30)),
    )
    assert single["balanced_accuracy"] == 1.0 and single["roc_auc"] == 1.0
    # A test part lacking a class has no macro AUC: NaN, not an error.
    lacking = single_split_score(
        make_pixel_baseline(), X, target, (np.arange(6, 30), [0, 1], [2, 3, 4, 5])
    )
    assert math.isnan(lacking["roc_auc"]) and lacking["accuracy"] == 1.0


@pytest.mark.filterwarnings("ignore:Only 10 patients:UserWarning")
def test_five_class_run_has_majority_chance_balanced_accuracy_and_macro_auc(tmp_path):
    images, target, groups = make_group_cohort(10)
    settings = get_preset("tiny", "acdc")
    settings.update(weight_transfer_pipeline_controls=False, task_aware=None)
    results = run_reproduction(
        images, target, groups, settings=settings, out_dir=tmp_path, n_splits=2,
        device="cpu", verbose=0,
    )  # fmt: skip
    data = results["data"]
    assert data["dataset"] == "acdc"
    assert data["class_names"] == ["NOR", "MINF", "DCM", "HCM", "RV"]
    assert data["class_counts"] == [4] * 5 and data["chance"] == 0.2
    assert data["permutation"] == "across patients"
    assert "n_tumour" not in data
    for row in results["scores"]:
        images_score = row["conditions"]["images"]
        assert "balanced_accuracy" in images_score and "roc_auc" in images_score
    pixels = _row(results, "pixels/logistic")["conditions"]
    assert pixels["images"]["balanced_accuracy"] == 1.0
    assert pixels["images"]["roc_auc"] == 1.0
    # The noise controls test against the majority rate, 1/5 here.
    control = results["verdict"]["noise_control"]["pipeline-shared/siren"]
    assert control["n_test_needed"] == slices_needed(0.2)
    assert control["power"] == pytest.approx(detection_power(20, 0.2), abs=1e-3)
    report = (tmp_path / "report.md").read_text()
    assert "INR-based cardiac diagnosis (five ACDC groups)" in report
    assert "(4 NOR, 4 MINF, 4 DCM, 4 HCM, 4 RV)" in report
    assert "Chance is the majority class's share of the slices, 0.2 (4/20)" in report
    assert "macro one-vs-rest ROC AUC" in report
    assert "| Macro OvR ROC AUC (images) |" in report
    assert "the patients' labels are shuffled among the patients" in report
    assert "5 chains here, one per class (NOR, MINF, DCM, HCM, RV)" in report
    assert "tumour" not in report.split("## Reconstruction")[0]


@pytest.mark.filterwarnings("ignore:Only 6 patients:UserWarning")
def test_binary_run_keeps_its_counts_and_gains_balanced_accuracy(tmp_path):
    images, target, groups = make_toy_cohort()
    settings = get_preset("tiny")
    settings.update(weight_transfer_pipeline_controls=False, task_aware=None)
    del settings["models"]["relu"]
    results = run_reproduction(
        images, target, groups, settings=settings, out_dir=tmp_path, n_splits=2,
        device="cpu", verbose=0,
    )  # fmt: skip
    data = results["data"]
    assert (data["n_tumour"], data["n_no_tumour"]) == (6, 6)
    assert data["class_names"] == ["no tumour", "tumour"]
    assert data["permutation"] == "within patients" and data["chance"] == 0.5
    pixels = _row(results, "pixels/logistic")["conditions"]["images"]
    assert pixels["balanced_accuracy"] == 1.0 == pixels["roc_auc"]
    report = (tmp_path / "report.md").read_text()
    assert report.startswith(
        "# sklearn-inr reproduce: INR-based tumour classification, with a leak audit"
    )
    assert "12 slices (6 tumour, 6 no tumour) from 6 patients" in report
    assert "binary ROC AUC" in report and "swapped or not by a coin flip" in report
