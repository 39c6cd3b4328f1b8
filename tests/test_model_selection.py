"""INRFeaturizer in pipelines, cross-validation and grid search."""

import numpy as np
import pytest
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import Pipeline as ImbPipeline
from sklearn.decomposition import PCA
from sklearn.feature_selection import SelectKBest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    cross_validate,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_inr import INRFeaturizer, MLPClassifier, WeightStatistics

# Tiny settings: the tests check the plumbing, not the accuracy of big nets.
INR_PARAMS = dict(
    hidden_features=8,
    hidden_layers=1,
    omega_0=30.0,
    lr=1e-3,
    n_steps=20,
    device="cpu",
    random_state=0,
)
CLF_PARAMS = dict(hidden_layer_sizes=(8,), max_epochs=10, random_state=0)


def make_blob_images(n_groups=8, size=10, n_negative_per_group=1, seed=0):
    """Images with a bright blob (class 1) or without (class 0).

    Each group ("patient") holds one blob image and ``n_negative_per_group``
    blob-free images, so grouped folds keep a patient's images together.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    images, labels, groups = [], [], []
    for group in range(n_groups):
        for label in [1] + [0] * n_negative_per_group:
            image = 0.2 + 0.1 * rng.uniform() * xx + 0.05 * rng.normal(size=xx.shape)
            if label:
                cy, cx = rng.uniform(0.3, 0.7, size=2)
                image += 0.6 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.02)
            images.append(np.clip(image, 0.0, 1.0))
            labels.append(label)
            groups.append(group)
    return np.asarray(images, dtype=np.float32), np.array(labels), np.array(groups)


@pytest.fixture(scope="module")
def blobs():
    return make_blob_images()


def _scaled_pipeline(**inr):
    return make_pipeline(
        INRFeaturizer(**{**INR_PARAMS, **inr}),
        StandardScaler(),
        MLPClassifier(**CLF_PARAMS),
    )


def _plain_pipeline(**inr):
    return Pipeline(
        [
            ("inr", INRFeaturizer(**{**INR_PARAMS, **inr})),
            ("clf", MLPClassifier(**CLF_PARAMS)),
        ]
    )


@pytest.mark.parametrize("make_pipe", [_scaled_pipeline, _plain_pipeline])
@pytest.mark.parametrize("cv", [StratifiedGroupKFold(n_splits=4), GroupKFold(4)])
def test_cross_validate_with_groups(blobs, make_pipe, cv):
    X, y, groups = blobs
    result = cross_validate(
        make_pipe(), X, y, groups=groups, cv=cv, return_estimator=True
    )
    assert result["test_score"].shape == (4,)
    for estimator, test in zip(result["estimator"], cv.split(X, y, groups)):
        # The featurizer was fitted on the training images of the fold only.
        assert len(estimator[0].train_psnr_) == len(X) - len(test[1])


def test_scaled_pipeline_learns_the_blob(blobs):
    X, y, groups = blobs
    scores = cross_validate(
        _scaled_pipeline(), X, y, groups=groups, cv=StratifiedGroupKFold(n_splits=4)
    )["test_score"]
    assert scores.mean() >= 0.75


@pytest.mark.parametrize(
    "make_pipe, prefix", [(_scaled_pipeline, "inrfeaturizer"), (_plain_pipeline, "inr")]
)
@pytest.mark.parametrize("cv", [StratifiedGroupKFold(n_splits=2), GroupKFold(2)])
def test_grid_search_with_groups(blobs, make_pipe, prefix, cv):
    X, y, groups = blobs
    grid = {f"{prefix}__omega_0": [10.0, 30.0], f"{prefix}__lr": [1e-3, 1e-2]}
    search = GridSearchCV(make_pipe(), grid, cv=cv)
    search.fit(X, y, groups=groups)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_estimator_.predict(X).shape == y.shape
    # The refit featurizer carries the selected setting.
    assert (
        search.best_estimator_[0].omega_0 == search.best_params_[f"{prefix}__omega_0"]
    )


def test_grid_search_fits_each_inr_once_with_memory(blobs, tmp_path, fit_counter):
    X, y, groups = blobs
    grid = {
        "inr__omega_0": [10.0, 30.0],
        "inr__lr": [1e-3, 1e-2],
        "clf__lr": [1e-3, 1e-2],
    }
    n_featurizer_settings = 4
    search = GridSearchCV(
        _plain_pipeline(memory=str(tmp_path)),
        grid,
        cv=StratifiedGroupKFold(n_splits=3),
        refit=True,
    )
    search.fit(X, y, groups=groups)
    # 8 candidates x 3 folds x (train + test) and the refit on all images:
    # every (image, featurizer setting) pair is fitted exactly once, the
    # classifier-only grid points, test folds and refit are cache hits.
    assert fit_counter["images"] == len(X) * n_featurizer_settings
    search.best_estimator_.predict(X)
    assert fit_counter["images"] == len(X) * n_featurizer_settings


def test_grid_search_without_memory_refits_inrs(blobs, fit_counter):
    # The control for the test above: without a cache the same search fits
    # every image in every fold and candidate.
    X, y, groups = blobs
    search = GridSearchCV(
        _plain_pipeline(),
        {"clf__lr": [1e-3, 1e-2]},
        cv=StratifiedGroupKFold(n_splits=2),
        refit=False,
    )
    search.fit(X, y, groups=groups)
    assert fit_counter["images"] == 2 * 2 * len(X)


class _SpyClassifier(MLPClassifier):
    """MLPClassifier that records the class counts it was trained on."""

    def fit(self, X, y):
        self.train_class_counts_ = np.bincount(np.asarray(y))
        return super().fit(X, y)


def test_imblearn_pipeline_oversamples_only_in_fit(fit_counter):
    X, y, groups = make_blob_images(n_groups=4, n_negative_per_group=3)
    assert np.bincount(y).tolist() == [12, 4]
    pipe = ImbPipeline(
        [
            ("inr", INRFeaturizer(**INR_PARAMS)),
            ("ros", RandomOverSampler(random_state=0)),
            ("clf", _SpyClassifier(**CLF_PARAMS)),
        ]
    )
    train, test = next(StratifiedGroupKFold(n_splits=4).split(X, y, groups))
    pipe.fit(X[train], y[train])
    n_neg = np.sum(y[train] == 0)
    # The sampler duplicates theta rows after the featurizer: each training
    # image is fitted once, and the classifier sees balanced classes.
    assert fit_counter["images"] == len(train)
    assert len(pipe["inr"].train_psnr_) == len(train)
    assert pipe["clf"].train_class_counts_.tolist() == [n_neg, n_neg]
    # At predict time the sampler is skipped: one prediction per test image.
    assert pipe.predict(X[test]).shape == (len(test),)
    assert fit_counter["images"] == len(train) + len(test)
    scores = cross_validate(
        pipe, X, y, groups=groups, cv=StratifiedGroupKFold(n_splits=4)
    )
    assert scores["test_score"].shape == (4,)


def test_unsupervised_grid_search_picks_best_psnr(blobs, tmp_path):
    X, _, _ = blobs
    grid = {"omega_0": [5.0, 30.0], "lr": [1e-4, 1e-2]}
    featurizer = INRFeaturizer(**{**INR_PARAMS, "memory": str(tmp_path)})
    # KFold(4) on 16 images: equal folds, so the mean of the fold means is
    # the mean PSNR over all images.
    search = GridSearchCV(featurizer, grid, cv=KFold(n_splits=4)).fit(X)
    direct = []
    for params in search.cv_results_["params"]:
        psnr = featurizer.set_params(**params).fit(X).train_psnr_
        direct.append(np.mean(np.minimum(psnr, 200.0)))
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], direct, rtol=1e-6)
    assert search.best_params_ == search.cv_results_["params"][int(np.argmax(direct))]
    # The settings differ enough for the choice to mean something.
    assert np.ptp(direct) > 1.0
    assert search.best_estimator_.score(X) == pytest.approx(max(direct), rel=1e-6)


@pytest.mark.parametrize(
    "reducer, n_out",
    [(PCA(n_components=4, random_state=0), 4), (SelectKBest(k=10), 10)],
)
def test_reducer_before_classifier(blobs, reducer, n_out):
    X, y, groups = blobs
    pipe = make_pipeline(
        INRFeaturizer(**INR_PARAMS),
        StandardScaler(),
        reducer,
        MLPClassifier(**{**CLF_PARAMS, "max_epochs": 60, "lr": 1e-2}),
    )
    result = cross_validate(
        pipe, X, y, groups=groups, cv=StratifiedGroupKFold(n_splits=4),
        return_estimator=True,
    )  # fmt: skip
    # The classifier sizes itself to the reduced theta and learns the blob
    # from it (chance is 0.5).
    for estimator in result["estimator"]:
        assert estimator[-1].n_features_in_ == n_out
    assert result["test_score"].mean() >= 0.75


def test_reducer_grid_reuses_cached_theta(blobs, tmp_path, fit_counter):
    X, y, groups = blobs
    pipe = make_pipeline(
        INRFeaturizer(**{**INR_PARAMS, "memory": str(tmp_path)}),
        StandardScaler(),
        PCA(random_state=0),
        MLPClassifier(**CLF_PARAMS),
    )
    search = GridSearchCV(
        pipe, {"pca__n_components": [2, 4, 8]}, cv=StratifiedGroupKFold(n_splits=2)
    ).fit(X, y, groups=groups)
    assert search.best_estimator_[-1].n_features_in_ in (2, 4, 8)
    assert fit_counter["images"] == len(X)


def test_weight_statistics_baseline(blobs):
    """Permutation-invariant statistics of theta still see the blob."""
    X, y, groups = blobs
    pipe = make_pipeline(
        INRFeaturizer(**INR_PARAMS),
        WeightStatistics(
            hidden_features=INR_PARAMS["hidden_features"],
            hidden_layers=INR_PARAMS["hidden_layers"],
        ),
        StandardScaler(),
        LogisticRegression(),
    )
    scores = cross_validate(
        pipe, X, y, groups=groups, cv=StratifiedGroupKFold(n_splits=4)
    )["test_score"]
    assert scores.mean() >= 0.75
