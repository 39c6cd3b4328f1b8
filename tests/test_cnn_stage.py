"""The CNN pixel baseline stage of the reproduction (experiments/_cnn_stage.py)."""

import numpy as np
import pytest
from conftest import make_toy_cohort

from sklearn_inr import ConvNetClassifier
from sklearn_inr.experiments import get_preset
from sklearn_inr.experiments._cnn_stage import (
    CNNBaselineStage,
    cnn_fit_seconds,
    describe_cnn,
)
from sklearn_inr.experiments._cohort import Cohort, RunState
from sklearn_inr.experiments._evaluation import grouped_cv_score
from sklearn_inr.experiments._protocols import CONDITIONS

SMALL = {"channels": (4, 8), "max_epochs": 20, "lr": 1e-2}


def _cohort(cnn_baseline="absent", n_patients=9, seed=0):
    images, target, groups = make_toy_cohort(n_patients, size=8, seed=seed)
    settings = get_preset("tiny")
    # The tiny preset sets its own (token) network: drop it to test "absent".
    settings.pop("cnn_baseline")
    if cnn_baseline != "absent":
        settings["cnn_baseline"] = cnn_baseline
    cohort = Cohort.of(settings, target, groups, n_splits=3, seed=seed)
    state = RunState.of(
        cohort, images, device="cpu", memory=None, verbose=0, classifier=None
    )
    return cohort, state


def test_runs_on_the_same_folds_with_both_controls():
    cohort, state = _cohort(SMALL)
    stage = CNNBaselineStage()
    tasks = stage.tasks(cohort)
    assert [t.condition for t in tasks] == list(CONDITIONS)
    assert {(t.variant, t.model) for t in tasks} == {("pixels", "cnn")}
    for task in tasks:
        stage.run_task(cohort, state, task)
    stage.finish(cohort, state)

    (row,) = state.scores
    assert row["key"] == "pixels/cnn"
    assert row["protocol"] == "pixel baseline"
    assert row["model"] == "CNN"
    assert row["label"] == "Pixel baseline: small CNN on raw slices"
    assert row["evaluation"] == "3-fold StratifiedGroupKFold by patient"
    assert set(row["conditions"]) == set(CONDITIONS)
    images = row["conditions"]["images"]
    # The toy tumour is a bright square: the CNN finds it.
    assert images["accuracy"] >= 0.9
    assert images["n_test"] == cohort.n_slices
    assert len(images["fold_accuracy"]) == 3
    # The permuted-label control trains and scores each fold on its own
    # draw of the labels: the cohort's, as every grouped-CV row does.
    X, y = state.inputs["permuted"]
    expected = grouped_cv_score(
        ConvNetClassifier(**SMALL, device="cpu", random_state=cohort.seed),
        X,
        y,
        cohort.folds,
        cohort.fold_targets["permuted"],
    )
    assert row["conditions"]["permuted"] == expected


def test_the_preset_can_leave_it_out():
    stage = CNNBaselineStage()
    for off in (None, False):
        cohort, state = _cohort(off)
        assert stage.tasks(cohort) == []
        assert stage.extra_seconds(cohort, (8, 8), []) == 0.0
        assert stage.note(cohort, []) == "not run"
        stage.finish(cohort, state)
        assert state.scores == []


def test_defaults_when_the_preset_does_not_say():
    cohort, _ = _cohort()
    stage = CNNBaselineStage()
    assert len(stage.tasks(cohort)) == len(CONDITIONS)
    assert "channels (8, 16, 32), 60 epochs" in stage.note(cohort, [])


def test_the_plan_and_the_report_state_the_same_settings():
    """One description for the plan's note and report.md's settings line."""
    assert describe_cnn({"cnn_baseline": None}) == "not run"
    settings = {"cnn_baseline": {"max_epochs": 30, "precision": "bf16"}}
    text = describe_cnn(settings)
    assert "30 epochs, bfloat16 convolutions" in text
    assert "bfloat16" not in describe_cnn({"cnn_baseline": {"max_epochs": 30}})
    cohort, _ = _cohort(settings["cnn_baseline"])
    assert CNNBaselineStage().note(cohort, []) == text


def test_extra_seconds_grow_with_epochs_images_and_pixels():
    cohort, _ = _cohort(SMALL)
    stage = CNNBaselineStage()
    seconds = stage.extra_seconds(cohort, (8, 8), stage.tasks(cohort))
    per_fit = [cnn_fit_seconds(len(train), (8, 8), SMALL) for train, _ in cohort.folds]
    assert seconds == pytest.approx(len(CONDITIONS) * sum(per_fit))
    default = cnn_fit_seconds(64, (64, 64), {})
    assert cnn_fit_seconds(64, (64, 64), {"max_epochs": 120}) > 1.5 * default
    assert cnn_fit_seconds(128, (64, 64), {}) > 1.5 * default
    # Four times the pixels; the steps are large enough for both cores.
    assert cnn_fit_seconds(64, (128, 128), {}) > 1.5 * default
    # cpu-240's 15 fits on 240 x 240 slices (120 per training fold, 30
    # epochs) took 191 s on two cores.
    at_240 = cnn_fit_seconds(120, (240, 240), {"max_epochs": 30})
    assert 15 * at_240 == pytest.approx(191, rel=0.1)
    # In bfloat16 (the 240 x 240 presets' setting) they took 140 s.
    bf16 = cnn_fit_seconds(120, (240, 240), {"max_epochs": 30, "precision": "bf16"})
    assert 15 * bf16 == pytest.approx(140, rel=0.1)
    # The reproduction's 15 default fits (5 folds x 3 conditions) on 80
    # slices of 64 x 64 were budgeted at about a minute on two cores.
    assert 15 * default < 90
    assert np.isfinite(default)
