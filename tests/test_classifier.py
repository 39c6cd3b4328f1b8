"""Tests of MLPClassifier (sklearn_inr/classifier.py): small data, few epochs."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_blobs, make_classification
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

from sklearn_inr import MLPClassifier


def _small(**params):
    defaults = dict(hidden_layer_sizes=(8,), max_epochs=15, lr=1e-2, random_state=0)
    defaults.update(params)
    return MLPClassifier(**defaults)


@pytest.fixture(scope="module")
def binary_data():
    X, y = make_classification(
        n_samples=80, n_features=6, n_informative=4, random_state=0
    )
    labels = np.array(["healthy", "tumour"])[y]
    return X, labels


@pytest.fixture(scope="module")
def multiclass_data():
    X, y = make_blobs(n_samples=90, n_features=4, centers=3, random_state=0)
    return StandardScaler().fit_transform(X), y + 10  # labels 10, 11, 12


def test_defaults_train_the_designed_network(binary_data):
    """One hidden layer of 256, 100 epochs, batches of 32, no inner split."""
    X, y = binary_data
    clf = MLPClassifier(random_state=0).fit(X, y)
    linears = [m for m in clf.net_.module_.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(6, 256), (256, 1)]
    history = clf.net_.history
    assert len(history) == 100
    # Every row trains (the outer CV validates): 80 rows in batches of 32.
    assert [len(epoch["batches"]) for epoch in history] == [3] * 100
    assert "valid_loss" not in history[-1]
    assert clf.score(X, y) > 0.9


def test_binary_uses_one_logit_and_bce(binary_data):
    X, y = binary_data
    clf = _small().fit(X, y)
    assert isinstance(clf.net_, NeuralNetBinaryClassifier)
    assert isinstance(clf.net_.criterion_, torch.nn.BCEWithLogitsLoss)
    assert clf.net_.module_.layers[-1].out_features == 1
    assert isinstance(clf.net_.optimizer_, torch.optim.Adam)
    assert clf.net_.train_split is None  # no internal split by default
    assert "valid_loss" not in clf.history_[-1]


def test_binary_string_labels_outputs(binary_data):
    X, y = binary_data
    clf = _small().fit(X, y)
    np.testing.assert_array_equal(clf.classes_, ["healthy", "tumour"])
    pred = clf.predict(X)
    assert pred.dtype == clf.classes_.dtype
    assert set(pred) <= {"healthy", "tumour"}
    assert np.mean(pred == y) > 0.8

    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all((proba >= 0) & (proba <= 1))

    decision = clf.decision_function(X)
    assert decision.shape == (len(X),)
    np.testing.assert_array_equal(pred, clf.classes_[(decision > 0).astype(int)])
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-decision)))


def test_multiclass_uses_cross_entropy(multiclass_data):
    X, y = multiclass_data
    clf = _small().fit(X, y)
    assert isinstance(clf.net_, NeuralNetClassifier)
    assert not isinstance(clf.net_, NeuralNetBinaryClassifier)
    assert isinstance(clf.net_.criterion_, torch.nn.CrossEntropyLoss)
    assert clf.net_.module_.layers[-1].out_features == 3
    np.testing.assert_array_equal(clf.classes_, [10, 11, 12])

    pred = clf.predict(X)
    assert np.mean(pred == y) > 0.9
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    decision = clf.decision_function(X)
    assert decision.shape == (len(X), 3)
    np.testing.assert_array_equal(pred, clf.classes_[decision.argmax(axis=1)])
    np.testing.assert_array_equal(proba.argmax(axis=1), decision.argmax(axis=1))


def test_input_size_inferred_and_refit_with_other_width(binary_data):
    X, y = binary_data
    clf = _small(max_epochs=2)
    clf.fit(X, y)
    assert clf.net_.module_.layers[0].in_features == X.shape[1] == clf.n_features_in_
    clf.fit(X[:, :3], y)
    assert clf.net_.module_.layers[0].in_features == 3 == clf.n_features_in_


def test_reproducible_with_random_state(binary_data):
    X, y = binary_data
    a = _small(dropout=0.2).fit(X, y).predict_proba(X)
    b = _small(dropout=0.2).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    c = _small(dropout=0.2, random_state=1).fit(X, y).predict_proba(X)
    assert not np.allclose(a, c)


def test_random_state_leaves_global_torch_rng_alone(binary_data):
    X, y = binary_data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _small(max_epochs=2).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)


def test_random_state_none_fits(binary_data):
    X, y = binary_data
    clf = _small(random_state=None, max_epochs=2).fit(X, y)
    assert clf.n_iter_ == 2


def test_float64_input_cast_to_float32(binary_data):
    X, y = binary_data
    clf64 = _small(max_epochs=3).fit(X.astype(np.float64), y)
    clf32 = _small(max_epochs=3).fit(X.astype(np.float32), y)
    assert all(p.dtype == torch.float32 for p in clf64.net_.module_.parameters())
    np.testing.assert_array_equal(clf64.predict_proba(X), clf32.predict_proba(X))
    assert clf64.predict_proba(X).dtype == np.float64


def test_early_stopping_uses_stratified_split():
    # Imbalanced labels: a stratified 25 % split keeps both classes in it.
    X, y = make_classification(
        n_samples=80, n_features=5, weights=[0.85], random_state=0
    )
    clf = _small(
        early_stopping=True,
        validation_fraction=0.25,
        n_iter_no_change=2,
        max_epochs=60,
        lr=5e-2,
    ).fit(X, y)
    split = clf.net_.train_split
    assert split.stratified and split.cv == 0.25
    # Same seeded split as in fit: ValidSplit holds the random_state.
    _, valid = clf.net_.get_split_datasets(X.astype(np.float32), y.astype(np.float32))
    y_valid = y[valid.indices]
    assert len(y_valid) == 20
    # Stratified: the minority share in the validation set matches y's.
    assert abs(np.mean(y_valid) - np.mean(y)) <= 1 / len(y_valid)
    assert "valid_loss" in clf.history_[-1]
    assert clf.n_iter_ < 60
    assert clf.n_iter_ == len(clf.history_)


def test_early_stopping_split_is_reproducible():
    X, y = make_classification(n_samples=60, n_features=5, random_state=1)
    params = dict(early_stopping=True, n_iter_no_change=2, max_epochs=10)
    a = _small(**params).fit(X, y)
    b = _small(**params).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.n_iter_ == b.n_iter_


@pytest.mark.parametrize(
    "hidden, n_linear", [((), 1), (4, 2), ((6, 5), 3), ([7, 3, 2], 4)]
)
def test_hidden_layer_sizes(binary_data, hidden, n_linear):
    X, y = binary_data
    clf = _small(hidden_layer_sizes=hidden, max_epochs=2).fit(X, y)
    linears = [m for m in clf.net_.module_.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == n_linear


@pytest.mark.parametrize(
    "activation, module",
    [
        ("relu", torch.nn.ReLU),
        ("tanh", torch.nn.Tanh),
        ("logistic", torch.nn.Sigmoid),
        ("gelu", torch.nn.GELU),
        ("identity", torch.nn.Identity),
    ],
)
def test_activations(binary_data, activation, module):
    X, y = binary_data
    clf = _small(activation=activation, max_epochs=2).fit(X, y)
    hidden = list(clf.net_.module_.modules())
    assert any(type(m) is module for m in hidden)
    others = {torch.nn.ReLU, torch.nn.Tanh, torch.nn.Sigmoid, torch.nn.GELU} - {module}
    assert not any(type(m) in others for m in hidden)
    # The activation changes the function learned from the same start.
    if activation != "relu":
        relu = _small(activation="relu", max_epochs=2).fit(X, y)
        assert not np.allclose(clf.predict_proba(X), relu.predict_proba(X))


def test_dropout_weight_decay_batch_size_are_used(binary_data):
    X, y = binary_data
    clf = _small(dropout=0.3, weight_decay=1e-3, batch_size="auto", max_epochs=2)
    clf.fit(X, y)
    assert any(isinstance(m, torch.nn.Dropout) for m in clf.net_.module_.modules())
    assert clf.net_.optimizer_.param_groups[0]["weight_decay"] == 1e-3
    assert clf.net_.batch_size == len(X)  # "auto" = min(200, n_samples)
    clf.set_params(batch_size=16).fit(X, y)
    assert clf.net_.batch_size == 16
    # 80 samples in batches of 16: 5 optimizer steps per epoch.
    assert len(clf.history_[-1]["batches"]) == 5


def test_device_auto_resolves(binary_data):
    X, y = binary_data
    clf = _small(max_epochs=1).fit(X, y)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert clf.net_.device == expected


@pytest.mark.parametrize("data", ["binary_data", "multiclass_data"])
def test_pickle_round_trip(request, data):
    X, y = request.getfixturevalue(data)
    clf = _small(max_epochs=3).fit(X, y)
    torch.manual_seed(0)
    expected = torch.rand(2)
    torch.manual_seed(0)
    loaded = pickle.loads(pickle.dumps(clf))
    # Rebuilding the net on load leaves the global torch RNG alone.
    np.testing.assert_array_equal(torch.rand(2), expected)
    assert "net_" in clf.__dict__  # pickling did not strip the original
    assert type(loaded.net_) is type(clf.net_)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    assert loaded.history_[:, "train_loss"] == clf.history_[:, "train_loss"]
    assert loaded.n_iter_ == clf.n_iter_ == 3
    # A loaded classifier can be refitted.
    loaded.fit(X, y)


def test_skops_round_trip_without_pickle(binary_data):
    sio = pytest.importorskip("skops.io")
    X, y = binary_data
    clf = _small(max_epochs=3, early_stopping=True).fit(X, y)
    data = sio.dumps(clf)
    # The skorch net is not stored as an opaque pickle: the only type to
    # trust beyond skops' defaults is the estimator class itself.
    assert sio.get_untrusted_types(data=data) == [
        "sklearn_inr.classifier.MLPClassifier"
    ]
    loaded = sio.loads(data, trusted=["sklearn_inr.classifier.MLPClassifier"])
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


@pytest.mark.parametrize(
    "reducer", [PCA(n_components=3), SelectKBest(f_classif, k=3)], ids=["pca", "kbest"]
)
def test_reduction_before_classifier_in_cv(binary_data, reducer):
    # The documented way to keep the classifier small on theta: the network
    # sizes its input to the reduced features and still learns.
    X, y = binary_data
    pipe = make_pipeline(StandardScaler(), clone(reducer), _small(max_epochs=40))
    scores = cross_val_score(pipe, X, y, cv=StratifiedKFold(3))
    assert scores.mean() > 0.6  # chance is 0.5; logistic regression: 0.61-0.73
    pipe.fit(X, y)
    first = next(m for m in pipe[-1].net_.module_.modules()
                 if isinstance(m, torch.nn.Linear))  # fmt: skip
    assert first.in_features == 3


def test_one_class_raises(binary_data):
    X, _ = binary_data
    with pytest.raises(ValueError, match="at least 2 classes; got 1 class"):
        _small().fit(X, np.zeros(len(X)))


def test_continuous_target_raises(binary_data):
    X, _ = binary_data
    with pytest.raises(ValueError, match="Unknown label type"):
        _small().fit(X, np.linspace(0, 1, len(X)))


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(lr=0.0), "lr"),
        (dict(activation="swish"), "activation"),
        (dict(dropout=1.0), "dropout"),
        (dict(batch_size=0), "batch_size"),
        (dict(max_epochs=0), "max_epochs"),
        (dict(validation_fraction=1.0), "validation_fraction"),
        (dict(hidden_layer_sizes=(8, 0)), "hidden_layer_sizes"),
    ],
)
def test_invalid_params_raise(binary_data, params, match):
    X, y = binary_data
    with pytest.raises(ValueError, match=match):
        _small(**params).fit(X, y)


def test_input_errors(binary_data):
    X, y = binary_data
    with pytest.raises(NotFittedError):
        _small().predict(X)
    clf = _small(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="expecting 6 features"):
        clf.predict(X[:, :4])
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _small().fit(X_nan, y)


def test_trains_and_predicts_on_each_device(device, binary_data):
    X, y = binary_data
    clf = _small(device=device, max_epochs=30).fit(X, y)
    assert clf.score(X, y) > 0.8
    np.testing.assert_array_equal(np.unique(clf.predict(X)), ["healthy", "tumour"])
