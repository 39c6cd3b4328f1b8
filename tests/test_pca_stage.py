"""The compressed-theta stage of the reproduction (experiments/_pca_stage.py)."""

import numpy as np
import pytest
from conftest import make_toy_cohort
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline

from sklearn_inr.experiments import _pca_stage, get_preset
from sklearn_inr.experiments._cohort import Cohort, RunState
from sklearn_inr.experiments._evaluation import grouped_cv_score
from sklearn_inr.experiments._pca_stage import (
    CompressedThetaStage,
    pca_components,
    pca_params,
)
from sklearn_inr.experiments._plan import Replay, plan
from sklearn_inr.experiments._protocols import (
    CONDITIONS,
    make_classifier,
    make_featurizer,
)
from sklearn_inr.experiments._stages import SharedInitStage

# The tiny preset's INRs never reach its target PSNR: by design.
pytestmark = pytest.mark.filterwarnings("ignore:The median INR fit ended")


def _cohort(theta_pca="absent", memory=None, n_patients=9, seed=0):
    images, target, groups = make_toy_cohort(n_patients, size=8, seed=seed)
    settings = get_preset("tiny")
    settings.pop("theta_pca", None)
    if theta_pca != "absent":
        settings["theta_pca"] = theta_pca
    # One leak-free model keeps the test small.
    settings["models"] = {"siren": settings["models"]["siren"]}
    cohort = Cohort.of(settings, target, groups, n_splits=3, seed=seed)
    classifier = make_classifier(settings["classifier"], device="cpu", random_state=0)
    state = RunState.of(cohort, images, device="cpu", memory=memory, verbose=0,
                        classifier=classifier)  # fmt: skip
    # The first stage sets it; tests that skip that stage start from here.
    state.shared = {"siren": "shared"}
    return cohort, state


def _run(stage, cohort, state):
    stage.prepare(cohort, state)
    for task in stage.tasks(cohort):
        stage.run_task(cohort, state, task)
    stage.finish(cohort, state)


class _RecordingPCA(PCA):
    """PCA that records how many rows each fit saw (clone keeps the class)."""

    fitted_rows: list = []

    def fit_transform(self, X, y=None):
        self.fitted_rows.append(len(X))
        return super().fit_transform(X, y)


def test_refits_no_inr_and_fits_pca_on_training_folds_only(
    tmp_path, fit_counter, monkeypatch
):
    cohort, state = _cohort({"n_components": 4}, memory=str(tmp_path))
    _run(SharedInitStage(), cohort, state)
    assert fit_counter["images"] == 2 * cohort.n_slices  # slices and noise
    monkeypatch.setattr(_pca_stage, "PCA", _RecordingPCA)
    monkeypatch.setattr(_RecordingPCA, "fitted_rows", [])

    stage = CompressedThetaStage()
    _run(stage, cohort, state)

    # Every fit was a cache read of the first stage's.
    assert fit_counter["images"] == 2 * cohort.n_slices
    train_sizes = [len(train) for train, _ in cohort.folds]
    assert _RecordingPCA.fitted_rows == train_sizes * len(CONDITIONS)
    assert max(train_sizes) < cohort.n_slices

    (row,) = state.scores
    assert row["key"] == "pipeline-pca/siren"
    assert row["protocol"] == "pipeline (compressed)"
    assert row["model"] == "siren"
    assert row["label"] == (
        "Leak-free pipeline: TinySIREN, shared init, theta compressed to 4 PCA "
        "components"
    )
    assert row["evaluation"] == "3-fold StratifiedGroupKFold by patient"
    assert set(row["conditions"]) == set(CONDITIONS)
    for score in row["conditions"].values():
        assert score["n_test"] == cohort.n_slices
        assert len(score["fold_accuracy"]) == 3


def test_scores_the_shared_pipeline_with_pca_before_the_classifier(tmp_path):
    cohort, state = _cohort({"n_components": 3}, memory=str(tmp_path))
    stage = CompressedThetaStage()
    _run(stage, cohort, state)
    (row,) = state.scores

    featurizer = make_featurizer(
        cohort.models["siren"], device="cpu", memory=str(tmp_path),
        random_state=cohort.seed, protocol="leak-free", init="shared",
    )  # fmt: skip
    scaler, mlp = state.classifier.steps
    pipeline = Pipeline(
        [("inr", featurizer), scaler, ("pca", PCA(3, random_state=0)), mlp]
    )
    X, y = state.inputs["permuted"]
    expected = grouped_cv_score(
        pipeline, X, y, cohort.folds, cohort.fold_targets["permuted"]
    )
    assert row["conditions"]["permuted"] == expected


def test_the_plan_counts_cache_reads_and_classifier_fits():
    cohort, _ = _cohort({"n_components": 4})
    replay = Replay()
    first = SharedInitStage()
    for task in first.tasks(cohort):
        first.plan_task(cohort, task, replay)
    assert replay.take() != {}
    stage, hits = CompressedThetaStage(), replay.hits
    classifiers = []
    for task in stage.tasks(cohort):
        classifiers += stage.plan_task(cohort, task, replay)
    assert replay.n_fits == 0
    # Each fold of each condition reads every slice's fit (train or test).
    n_reads = len(CONDITIONS) * len(cohort.folds) * cohort.n_slices
    assert replay.hits - hits == n_reads
    train_sizes = [len(train) for train, _ in cohort.folds]
    # Each classifier reads the 4 components, not theta.
    assert classifiers == [("siren", n, 4) for n in train_sizes] * len(CONDITIONS)
    assert stage.note(cohort, []).startswith("shared init: all cached")
    assert "PCA(4)" in stage.note(cohort, [])


def test_the_estimate_prices_its_classifiers_at_their_inputs():
    # The same classifiers as the grouped CV's shared variant, on 16 numbers
    # instead of 264,193: their steps count for their share of the weights.
    settings = get_preset("cpu-paper")
    stages = {stage.name: stage for stage in plan(settings, 150, (240, 240))}
    compressed, grouped = stages["compressed theta"], stages["grouped CV"]
    assert compressed.classifier_fits == grouped.classifier_fits == 15
    hidden = settings["classifier"]["hidden_layer_sizes"][0]
    share = (16 * hidden + hidden) / (264_193 * hidden + hidden)
    assert compressed.classifier_steps == pytest.approx(
        grouped.classifier_steps * share
    )
    assert compressed.classifier_flops < 1e-3 * grouped.classifier_flops


def test_n_components_is_clipped_to_the_smallest_training_fold(tmp_path):
    cohort, state = _cohort({"n_components": 500}, memory=str(tmp_path))
    smallest = min(len(train) for train, _ in cohort.folds)
    assert pca_components(cohort, "siren") == smallest
    stage = CompressedThetaStage()
    _run(stage, cohort, state)
    (row,) = state.scores
    assert f"compressed to {smallest} PCA components (500 asked" in row["label"]
    assert np.isfinite(row["conditions"]["images"]["accuracy"])


@pytest.mark.parametrize("off", ["absent", None, False])
def test_the_preset_can_leave_it_out(off):
    cohort, state = _cohort(off)
    stage = CompressedThetaStage()
    assert pca_params(cohort) is None
    assert stage.tasks(cohort) == []
    assert stage.note(cohort, []) == "not run"
    stage.finish(cohort, state)
    assert state.scores == []


@pytest.mark.parametrize(
    "bad", [{"n_components": 0}, {"n_components": 0.5}, {"n_components": True},
            {"n_components": 4, "whiten": True}, 16],
)  # fmt: skip
def test_bad_settings_say_what_is_allowed(bad):
    cohort, _ = _cohort(bad)
    with pytest.raises(ValueError, match="theta_pca"):
        CompressedThetaStage().tasks(cohort)
