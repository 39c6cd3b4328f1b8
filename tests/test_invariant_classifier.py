"""Tests of PermutationInvariantClassifier (sklearn_inr/_invariant_classifier.py)."""

import pickle
import re
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_estimator
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

from sklearn_inr import (
    INRSpec,
    MLPClassifier,
    PermutationInvariantClassifier,
    flatten_theta,
    render_inrs,
    unflatten_theta,
)
from sklearn_inr.core._networks import permute_hidden_neurons

# A small SIREN: 2 -> 6 -> 6 -> 6 -> 1 (hidden_layers=2), three hidden layers
# of neurons to permute, two of them between hidden layers on both sides.
ARCH = dict(in_features=2, hidden_features=6, hidden_layers=2, out_features=1)
SPEC = INRSpec("siren", **ARCH)


def _small(**params):
    defaults = dict(
        ARCH,
        edge_features=4,
        neuron_features=8,
        hidden_layer_sizes=(8,),
        max_epochs=15,
        lr=1e-2,
        random_state=0,
    )
    defaults.update(params)
    return PermutationInvariantClassifier(**defaults)


def _theta_classes(n_per_class=30, seed=0):
    """Random-init INRs whose class scales the middle layer: an invariant label."""
    rng = np.random.default_rng(seed)
    theta = np.stack([SPEC.init_theta(rng) for _ in range(2 * n_per_class)])
    weights, biases = unflatten_theta(theta, SPEC.layer_shapes)
    weights[1][n_per_class:] *= 3.0
    y = np.repeat(["small", "large"], n_per_class)
    return flatten_theta(weights, biases).astype(np.float32), y


@pytest.fixture(scope="module")
def data():
    return _theta_classes()


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    # 60 epochs of 2 batches: enough to read the label (97% held out).
    return _small(max_epochs=60).fit(X, y)


def test_permuting_hidden_neurons_keeps_image_and_prediction(data, fitted):
    X, _ = data
    X_perm = permute_hidden_neurons(X, SPEC, np.random.default_rng(1))
    # The permutation really reorders theta ...
    assert np.abs(X_perm - X).max() > 0.1
    # ... without changing the networks' functions.
    render = dict(model="siren", loss="mse", device="cpu", **ARCH)
    render.pop("in_features")
    np.testing.assert_allclose(
        render_inrs(X_perm, (9, 9), **render),
        render_inrs(X, (9, 9), **render),
        atol=1e-5,
    )
    proba = fitted.predict_proba(X)
    # A fitted model whose outputs vary with the input: the check can fail.
    assert proba[:, 1].std() > 0.05
    np.testing.assert_allclose(fitted.predict_proba(X_perm), proba, atol=1e-5)
    np.testing.assert_array_equal(fitted.predict(X_perm), fitted.predict(X))


def test_plain_mlp_is_not_invariant(data):
    """The counterpart: the flat MLP's outputs move under the same permutation."""
    X, y = data
    X_perm = permute_hidden_neurons(X, SPEC, np.random.default_rng(1))
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=15, lr=1e-2)
    mlp.set_params(random_state=0).fit(X, y)
    assert np.abs(mlp.predict_proba(X_perm) - mlp.predict_proba(X)).max() > 1e-3


def test_invariant_with_no_hidden_to_hidden_layer():
    """hidden_layers=0: one hidden layer, read raw on both sides."""
    arch = dict(ARCH, hidden_layers=0)
    spec = INRSpec("siren", **arch)
    rng = np.random.default_rng(0)
    X = np.stack([spec.init_theta(rng) for _ in range(30)])
    y = (X[:, : 6 * 2].std(axis=1) > np.median(X[:, : 6 * 2].std(axis=1))).astype(int)
    clf = _small(hidden_layers=0).fit(X, y)
    X_perm = permute_hidden_neurons(X, spec, np.random.default_rng(1))
    np.testing.assert_allclose(
        clf.predict_proba(X_perm), clf.predict_proba(X), atol=1e-5
    )


def test_standardization_is_per_layer_and_invariant(data, fitted):
    X, _ = data
    assert fitted.layer_shapes_ == [(6, 2), (6, 6), (6, 6), (1, 6)]
    weights, biases = unflatten_theta(X.astype(np.float64), SPEC.layer_shapes)
    np.testing.assert_allclose(
        fitted.layer_mean_[:, 0], [w.mean() for w in weights], atol=1e-7
    )
    np.testing.assert_allclose(
        fitted.layer_scale_[:, 1], [b.std() for b in biases], rtol=1e-6
    )
    X_perm = permute_hidden_neurons(X, SPEC, np.random.default_rng(2))
    refit = _small(max_epochs=1).fit(X_perm, data[1])
    np.testing.assert_allclose(refit.layer_mean_, fitted.layer_mean_, atol=1e-7)
    np.testing.assert_allclose(refit.layer_scale_, fitted.layer_scale_, rtol=1e-6)
    plain = _small(standardize=False, max_epochs=1).fit(X, data[1])
    np.testing.assert_array_equal(plain.layer_mean_, 0.0)
    np.testing.assert_array_equal(plain.layer_scale_, 1.0)


def test_learns_an_invariant_label_from_random_inits(fitted):
    """Held-out INRs, each in its own neuron order: the label is still read."""
    X_test, y_test = _theta_classes(n_per_class=20, seed=5)
    X_test = permute_hidden_neurons(X_test, SPEC, np.random.default_rng(3))
    assert fitted.score(X_test, y_test) > 0.9


def test_binary_bce_and_multiclass_cross_entropy(data):
    X, y = data
    binary = _small(max_epochs=2).fit(X, y)
    assert isinstance(binary.net_, NeuralNetBinaryClassifier)
    assert list(binary.classes_) == ["large", "small"]
    assert binary.decision_function(X[:4]).shape == (4,)
    y3 = np.arange(len(X)) % 3 + 10
    multi = _small(max_epochs=2).fit(X, y3)
    assert isinstance(multi.net_, NeuralNetClassifier)
    assert isinstance(multi.net_.criterion_, torch.nn.CrossEntropyLoss)
    proba = multi.predict_proba(X[:5])
    assert proba.shape == (5, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(multi.predict(X)) <= {10, 11, 12}


def test_module_is_the_invariant_network(fitted):
    module = fitted.net_.module_
    assert type(module).__name__ == "InvariantWeightModule"
    # Two edge embeddings (between hidden layers 0-1 and 1-2), three neuron
    # embeddings, and a head reading 3 x (mean, max) x 8 + 1 output bias.
    assert len(module.edge_embeddings) == 2
    assert len(module.neuron_embeddings) == 3
    head_in = module.head.layers[0]
    assert head_in.in_features == 3 * 2 * 8 + 1
    assert head_in.out_features == 8


def test_wrong_feature_count_says_what_to_set(data):
    X, y = data
    expected = rf"X has 90 features.*has {SPEC.n_params}\. Set these four"
    with pytest.raises(ValueError, match=expected):
        _small().fit(X[:, :90], y)
    # The default is the paper's INR.
    with pytest.raises(ValueError, match="has 264193"):
        PermutationInvariantClassifier().fit(X, y)
    with pytest.raises(ValueError, match="hidden_layers"):
        _small(hidden_layers=-1).fit(X, y)


def test_wrong_feature_count_at_predict(fitted, data):
    with pytest.raises(ValueError, match="features"):
        fitted.predict(data[0][:, :-1])


def test_reproducible_and_leaves_torch_rng(data):
    X, y = data
    state = torch.random.get_rng_state()
    first = _small(max_epochs=3).fit(X, y)
    assert torch.equal(torch.random.get_rng_state(), state)
    a = first.predict_proba(X)
    b = _small(max_epochs=3).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_pickle_round_trip_rebuilds_the_module(fitted, data):
    X, _ = data
    # Changing a parameter after fit does not change the restored module.
    fitted_copy = pickle.loads(pickle.dumps(fitted))
    fitted_copy.set_params(neuron_features=3)
    restored = pickle.loads(pickle.dumps(fitted_copy))
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(restored.layer_scale_, fitted.layer_scale_)


def test_clone_and_params():
    clf = _small(edge_features=5)
    params = clone(clf).get_params()
    assert params["edge_features"] == 5
    assert params["hidden_features"] == 6
    assert params["max_epochs"] == 15
    assert not hasattr(clone(clf), "classes_")


def test_sklearn_common_checks_fail_only_on_the_theta_layout():
    """Why the class is not in test_common.py: its checks feed 2 to 10 columns.

    No architecture has theta of every such length, so the checks that fit
    cannot apply; every other check must pass, and every failure must be the
    layout error (raised directly, or as the cause of the check's assertion).
    """
    est = PermutationInvariantClassifier(
        in_features=1, hidden_features=1, hidden_layers=0, max_epochs=2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(est, on_fail=None)
    layout = re.compile(r"X has \d+ features, but theta of an INR")
    passed, unrelated = [], []
    for result in results:
        if result["status"] == "passed":
            passed.append(result["check_name"])
        elif result["status"] == "failed":
            error = result["exception"]
            messages = [str(error), str(error.__cause__)]
            if not any(layout.search(message) for message in messages):
                unrelated.append((result["check_name"], str(error)[:200]))
    assert not unrelated
    for name in (
        "check_parameters_default_constructible",
        "check_no_attributes_set_in_init",
        "check_estimators_unfitted",
        "check_requires_y_none",
        "check_classifiers_regression_target",
        "check_estimators_empty_data_messages",
    ):
        assert name in passed


def test_skops_round_trip_trusts_only_the_class(fitted, data):
    sio = pytest.importorskip("skops.io")
    X, _ = data
    dumped = sio.dumps(fitted)
    untrusted = sio.get_untrusted_types(data=dumped)
    assert untrusted == [
        "sklearn_inr.estimators._invariant_classifier.PermutationInvariantClassifier"
    ]
    restored = sio.loads(dumped, trusted=untrusted)
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
