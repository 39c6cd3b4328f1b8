"""A fitted INR pipeline saved and loaded with pickle, joblib and skops."""

import pickle

import joblib
import numpy as np
import pytest
from conftest import make_smooth_images
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_inr import INRFeaturizer, MLPClassifier

# The types beyond skops' defaults that a fitted featurizer + classifier
# pipeline holds: the two estimators and the featurizer's architecture record.
TRUSTED_TYPES = sorted(
    [
        "sklearn_inr.core._networks.INRSpec",
        "sklearn_inr.classifier.MLPClassifier",
        "sklearn_inr.featurizer.INRFeaturizer",
    ]
)


@pytest.fixture(scope="module")
def smooth_images():
    # Module-scoped, so the pipeline is fitted once for all the tests here.
    return make_smooth_images()


@pytest.fixture(scope="module")
def fitted(smooth_images):
    images = smooth_images
    y = np.array(["a", "b"] * 3)
    pipe = make_pipeline(
        INRFeaturizer(
            hidden_features=8,
            hidden_layers=1,
            lr=1e-3,
            n_steps=10,
            device="cpu",
            random_state=0,
        ),
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(8,), max_epochs=5, random_state=0),
    ).fit(images, y)
    return pipe, images


def _assert_same_predictions(loaded, pipe, images):
    assert type(loaded) is type(pipe)
    np.testing.assert_array_equal(loaded.predict(images), pipe.predict(images))
    np.testing.assert_array_equal(
        loaded.decision_function(images), pipe.decision_function(images)
    )
    np.testing.assert_array_equal(
        loaded[0].transform(images), pipe[0].transform(images)
    )


def test_pickle_round_trip(fitted):
    pipe, images = fitted
    _assert_same_predictions(pickle.loads(pickle.dumps(pipe)), pipe, images)


def test_joblib_round_trip(fitted, tmp_path):
    pipe, images = fitted
    path = tmp_path / "pipeline.joblib"
    joblib.dump(pipe, path)
    _assert_same_predictions(joblib.load(path), pipe, images)


def test_skops_needs_an_explicit_trusted_list(fitted, tmp_path):
    sio = pytest.importorskip("skops.io")
    pipe, images = fitted
    path = tmp_path / "pipeline.skops"
    sio.dump(pipe, path)
    # Only our own classes need trust: the skorch net and the torch module are
    # stored as NumPy arrays and plain values, not as an opaque pickle.
    assert sorted(sio.get_untrusted_types(file=path)) == TRUSTED_TYPES
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.load(path)
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.load(path, trusted=TRUSTED_TYPES[1:])
    loaded = sio.load(path, trusted=TRUSTED_TYPES)
    _assert_same_predictions(loaded, pipe, images)
    assert loaded[0].spec_ == pipe[0].spec_
    np.testing.assert_array_equal(loaded[0].init_params_, pipe[0].init_params_)


def test_skops_imblearn_pipeline(smooth_images):
    sio = pytest.importorskip("skops.io")
    from imblearn.over_sampling import RandomOverSampler
    from imblearn.pipeline import Pipeline as ImbPipeline

    y = np.array([0, 0, 0, 0, 1, 1])
    pipe = ImbPipeline(
        [
            ("inr", INRFeaturizer(hidden_features=8, hidden_layers=1, n_steps=5)),
            ("oversample", RandomOverSampler(random_state=0)),
            ("clf", MLPClassifier(hidden_layer_sizes=(4,), max_epochs=2)),
        ]
    ).fit(smooth_images, y)
    trusted = TRUSTED_TYPES + [
        "imblearn.over_sampling._random_over_sampler.RandomOverSampler",
        "imblearn.pipeline.Pipeline",
    ]
    data = sio.dumps(pipe)
    assert sorted(sio.get_untrusted_types(data=data)) == sorted(trusted)
    loaded = sio.loads(data, trusted=trusted)
    np.testing.assert_array_equal(
        loaded.predict(smooth_images), pipe.predict(smooth_images)
    )


def test_loaded_pipeline_keeps_working_after_refit(fitted):
    # A loaded pipeline is a normal estimator: it can be refitted.
    pipe, images = fitted
    loaded = pickle.loads(pickle.dumps(pipe))
    loaded.set_params(mlpclassifier__max_epochs=2).fit(images, ["a", "b"] * 3)
    assert loaded[-1].n_iter_ == 2
