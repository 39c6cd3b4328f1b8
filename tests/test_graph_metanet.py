"""Tests of GraphMetanetClassifier (sklearn_inr/estimators/_graph_metanet.py)."""

import pickle
import re
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import check_estimator

from sklearn_inr import (
    GraphMetanetClassifier,
    INRSpec,
    flatten_theta,
    render_inrs,
    unflatten_theta,
)
from sklearn_inr.core._networks import permute_hidden_neurons
from sklearn_inr.estimators._graph_metanet_module import (
    GraphMetanetModule,
    SymmetricMLP,
)

# A small SIREN: 2 -> 6 -> 6 -> 6 -> 1 (hidden_layers=2), three hidden layers
# of neurons to permute and flip, one of them between hidden layers on both
# sides.
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
    return GraphMetanetClassifier(**defaults)


def flip_hidden_signs(theta, spec, rng) -> np.ndarray:
    """Negate random hidden neurons' incoming weights, biases and outgoing weights.

    A SIREN's image does not change (sine is odd); each row and hidden layer
    draws its own signs.
    """
    weights, biases = unflatten_theta(np.asarray(theta), spec.layer_shapes)
    weights = [w.copy() for w in weights]
    biases = [b.copy() for b in biases]
    for k in range(len(weights) - 1):
        q = rng.choice([-1.0, 1.0], size=biases[k].shape).astype(biases[k].dtype)
        weights[k] *= q[..., None]
        biases[k] *= q
        weights[k + 1] *= q[..., None, :]
    return flatten_theta(weights, biases)


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
    # Edge updates on: every part of the module takes part in the checks.
    return _small(max_epochs=40, edge_updates=True).fit(X, y)


def _render(theta):
    arch = dict(ARCH)
    arch.pop("in_features")
    return render_inrs(theta, (9, 9), model="siren", loss="mse", device="cpu", **arch)


@pytest.mark.parametrize("symmetry", ["sign", "none"])
def test_permuting_hidden_neurons_keeps_the_prediction(data, symmetry):
    X, y = data
    clf = _small(symmetry=symmetry, max_epochs=5).fit(X, y)
    X_perm = permute_hidden_neurons(X, SPEC, np.random.default_rng(1))
    assert np.abs(X_perm - X).max() > 0.1
    proba = clf.predict_proba(X)
    assert proba[:, 1].std() > 0.01
    np.testing.assert_allclose(clf.predict_proba(X_perm), proba, atol=1e-5)


def test_sign_flips_keep_image_and_prediction(data, fitted):
    X, _ = data
    X_flip = flip_hidden_signs(X, SPEC, np.random.default_rng(2))
    # The flips really change theta ...
    assert np.abs(X_flip - X).max() > 0.5
    # ... without changing the networks' functions (sine is odd).
    np.testing.assert_allclose(_render(X_flip), _render(X), atol=1e-5)
    proba = fitted.predict_proba(X)
    # A fitted model whose outputs vary with the input: the check can fail.
    assert proba[:, 1].std() > 0.05
    np.testing.assert_allclose(fitted.predict_proba(X_flip), proba, atol=1e-5)
    np.testing.assert_allclose(
        fitted.decision_function(X_flip), fitted.decision_function(X), atol=1e-5
    )


def test_module_is_exactly_invariant_in_float64(data, fitted):
    """Both symmetries together, in float64: equal to rounding (1e-12)."""
    X, _ = data
    rng = np.random.default_rng(3)
    moved = flip_hidden_signs(permute_hidden_neurons(X, SPEC, rng), SPEC, rng)
    module = pickle.loads(pickle.dumps(fitted.net_.module_)).double().eval()
    with torch.no_grad():
        out = module(torch.as_tensor(X, dtype=torch.float64))
        out_moved = module(torch.as_tensor(moved, dtype=torch.float64))
    assert out.std() > 0.1
    np.testing.assert_allclose(out_moved.numpy(), out.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "params", [dict(symmetry="none"), dict(model="relu"), dict(model="gauss")]
)
def test_symmetry_none_does_not_assume_sign_flips(data, params):
    """For ReLU INRs a flip changes the image; "none" must be able to see it."""
    X, y = data
    clf = _small(max_epochs=5, **params).fit(X, y)
    assert clf.net_.module_.sign is False
    X_flip = flip_hidden_signs(X, SPEC, np.random.default_rng(2))
    assert np.abs(clf.predict_proba(X_flip) - clf.predict_proba(X)).max() > 1e-3


def test_probe_features_are_the_inr_at_the_probes(fitted, data):
    """The output nodes' probes are the image at a 8 x 8 grid of pixel centres."""
    X, _ = data
    module = fitted.net_.module_
    with torch.no_grad():
        activations = module._probe_activations(torch.as_tensor(X))
    assert [a.shape for a in activations] == [(60, 6, 64)] * 3 + [(60, 1, 64)]
    image = render_inrs(X, (8, 8), model="siren", loss="mse", device="cpu",
                        hidden_features=6, hidden_layers=2)  # fmt: skip
    np.testing.assert_allclose(
        activations[-1][:, 0].numpy(), image.reshape(60, 64), atol=1e-5
    )
    no_probes = _small(probe_grid=0, max_epochs=1).fit(*data)
    assert no_probes.net_.module_.probes is None
    assert no_probes.net_.module_.node_init[0].in_features == 1


def test_symmetric_mlp_parities():
    torch.manual_seed(0)
    x = torch.randn(5, 3, dtype=torch.float64)
    for parity, sign in (("odd", -1.0), ("even", 1.0)):
        f = SymmetricMLP((3,), 7, 2, "relu", parity).double()
        torch.testing.assert_close(f(-x), sign * f(x), rtol=0, atol=1e-14)
    plain = SymmetricMLP((3,), 7, 2, "relu", None).double()
    assert not torch.allclose(plain(-x), plain(x))
    assert not torch.allclose(plain(-x), -plain(x))


def test_learns_an_invariant_label_from_random_inits(fitted):
    """Held-out INRs, each permuted and flipped: the label is still read."""
    X_test, y_test = _theta_classes(n_per_class=20, seed=5)
    rng = np.random.default_rng(4)
    X_test = flip_hidden_signs(permute_hidden_neurons(X_test, SPEC, rng), SPEC, rng)
    assert fitted.score(X_test, y_test) > 0.9


def test_module_shapes_and_rounds(fitted):
    module = fitted.net_.module_
    assert type(module).__name__ == "GraphMetanetModule"
    assert len(module.rounds) == 2
    # Readout: 2 inputs and 1 output node x 8 channels, 3 hidden layers x
    # (mean, max) x 8, and the output bias.
    assert module.head.layers[0].in_features == 3 * 8 + 3 * 2 * 8 + 1
    assert "edges" in module.rounds[0]
    plain = _small(message_passing_layers=1, max_epochs=1)
    plain.fit(*_theta_classes(n_per_class=4))
    assert len(plain.net_.module_.rounds) == 1
    assert "edges" not in plain.net_.module_.rounds[0]


def _aligned_classes(n_per_class=30, seed=0):
    """INRs near one shared init; class "swapped" swaps two hidden neurons.

    Swapping neurons 0 and 1 of the first hidden layer (their incoming
    weights and biases, their outgoing weights) leaves each INR's function
    as it was: the label is in which neuron is which, so no network
    invariant to permutations of hidden neurons can read it.
    """
    rng = np.random.default_rng(seed)
    shared = SPEC.init_theta(np.random.default_rng(0))
    theta = shared + 0.05 * rng.standard_normal((2 * n_per_class, SPEC.n_params))
    weights, biases = unflatten_theta(theta, SPEC.layer_shapes)
    swapped = slice(n_per_class, None)
    weights[0][swapped, :2] = weights[0][swapped, 1::-1].copy()
    biases[0][swapped, :2] = biases[0][swapped, 1::-1].copy()
    weights[1][swapped, :, :2] = weights[1][swapped, :, 1::-1].copy()
    y = np.repeat(["kept", "swapped"], n_per_class)
    return flatten_theta(weights, biases).astype(np.float32), y


def test_aligned_reads_which_neuron_and_is_no_longer_invariant():
    X, y = _aligned_classes()
    X_test, y_test = _aligned_classes(n_per_class=20, seed=5)
    # No probes: on 60 INRs the probe features let both networks memorise.
    aligned = _small(aligned=True, probe_grid=0, max_epochs=40).fit(X, y)
    invariant = _small(symmetry="none", probe_grid=0, max_epochs=40).fit(X, y)
    assert aligned.net_.module_.sign is False
    assert aligned.score(X_test, y_test) > 0.9
    # Both classes hold the same functions: the invariant one cannot tell.
    assert invariant.score(X_test, y_test) < 0.7
    # It sees which neuron is which: permuting them changes its predictions.
    X_perm = permute_hidden_neurons(X_test, SPEC, np.random.default_rng(1))
    proba = aligned.predict_proba(X_test)
    assert np.abs(aligned.predict_proba(X_perm) - proba).max() > 0.1


def test_aligned_module_embeds_and_reads_every_hidden_node():
    X, y = _aligned_classes(n_per_class=4)
    clf = _small(aligned=True, node_readout_features=3, max_epochs=1).fit(X, y)
    module = clf.net_.module_
    assert [tuple(e.shape) for e in module.hidden_nodes] == [(6, 8)] * 3
    # Readout: 2 inputs and 1 output node x 8 channels, 3 hidden layers x
    # 6 nodes x 3 channels, and every weight and bias (the output bias
    # among them).
    assert module.head.layers[0].in_features == 3 * 8 + 3 * 6 * 3 + SPEC.n_params
    invariant = _small(max_epochs=1).fit(X, y)
    assert invariant.net_.module_.hidden_nodes is None
    assert invariant.feature_mean_ is None and invariant.feature_scale_ is None


def test_aligned_standardises_each_weight():
    X, y = _aligned_classes()
    X[:, 5] = 0.25  # a constant weight: scale 1, not a division by zero
    clf = _small(aligned=True, probe_grid=0, max_epochs=3).fit(X, y)
    X64 = X.astype(np.float64)
    np.testing.assert_allclose(clf.feature_mean_, X64.mean(axis=0))
    np.testing.assert_allclose(clf.feature_scale_[:5], X64[:, :5].std(axis=0))
    assert clf.feature_scale_[5] == 1.0
    # Without probes the network sees theta only through those statistics:
    # any positive rescaling and shift of each weight leaves the fit as it
    # was, which a per-layer scale would not.
    rng = np.random.default_rng(0)
    scale = rng.uniform(0.1, 10.0, X.shape[1]).astype(np.float32)
    shift = rng.normal(size=X.shape[1]).astype(np.float32)
    moved = _small(aligned=True, probe_grid=0, max_epochs=3).fit(X * scale + shift, y)
    np.testing.assert_allclose(
        moved.predict_proba(X * scale + shift), clf.predict_proba(X), atol=1e-4
    )
    raw = _small(aligned=True, probe_grid=0, standardize=False, max_epochs=1)
    raw.fit(X, y)
    np.testing.assert_array_equal(raw.feature_mean_, 0.0)
    np.testing.assert_array_equal(raw.feature_scale_, 1.0)


def test_aligned_refuses_the_sign_symmetry(data):
    X, y = data
    with pytest.raises(ValueError, match=r"aligned=True.*symmetry='none'"):
        _small(aligned=True, symmetry="sign").fit(X, y)
    with pytest.raises(ValueError, match=r"aligned=True.*symmetry='none'"):
        GraphMetanetModule(
            input_dim=SPEC.n_params, layer_shapes=SPEC.layer_shapes, aligned=True
        )


def test_multiclass_cross_entropy(data):
    X, _ = data
    y3 = np.arange(len(X)) % 3 + 10
    multi = _small(max_epochs=2).fit(X, y3)
    assert isinstance(multi.net_.criterion_, torch.nn.CrossEntropyLoss)
    proba = multi.predict_proba(X[:5])
    assert proba.shape == (5, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_wrong_theta_length_says_what_to_set(data):
    X, y = data
    expected = rf"X has 90 features.*has {SPEC.n_params}\. Set these four"
    with pytest.raises(ValueError, match=expected):
        _small().fit(X[:, :90], y)
    # The default is the paper's INR.
    with pytest.raises(ValueError, match="has 264193"):
        GraphMetanetClassifier().fit(X, y)
    with pytest.raises(ValueError, match="symmetry"):
        _small(symmetry="scale").fit(X, y)
    # A ReLU INR has no sign symmetry: asking for it is an error.
    with pytest.raises(ValueError, match=r"symmetry='sign'.*model='relu'.*'none'"):
        _small(model="relu", symmetry="sign").fit(X, y)


def test_wrong_feature_count_at_predict(fitted, data):
    with pytest.raises(ValueError, match="features"):
        fitted.predict(data[0][:, :-1])


def test_reproducible_and_leaves_torch_rng(data):
    X, y = data
    state = torch.random.get_rng_state()
    first = _small(max_epochs=2).fit(X, y)
    assert torch.equal(torch.random.get_rng_state(), state)
    second = _small(max_epochs=2).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))


def test_pickle_round_trip_rebuilds_the_module(fitted, data):
    X, _ = data
    # Changing parameters after fit does not change the restored module.
    fitted_copy = pickle.loads(pickle.dumps(fitted))
    fitted_copy.set_params(symmetry="none", message_passing_layers=5)
    restored = pickle.loads(pickle.dumps(fitted_copy))
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))


def test_aligned_pickle_round_trip_ignores_later_params(data):
    X, y = data
    aligned = _small(aligned=True, max_epochs=2).fit(X, y)
    aligned.set_params(aligned=False, node_readout_features=2, standardize=False)
    restored = pickle.loads(pickle.dumps(aligned))
    np.testing.assert_array_equal(restored.predict_proba(X), aligned.predict_proba(X))


@pytest.mark.parametrize("aligned", [False, True])
def test_a_failed_fit_changes_nothing(data, aligned):
    X, y = data
    clf = _small(aligned=aligned, max_epochs=2)
    with pytest.raises(ValueError, match="X has 108 features"):
        clf.fit(X[:, :-1], y)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    # A fitted classifier keeps its statistics and still round-trips.
    clf.fit(X, y)
    proba = clf.predict_proba(X)
    with pytest.raises(ValueError, match="X has 108 features"):
        clf.fit(X[:, :-1], y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), proba)


def test_skops_round_trip_trusts_only_the_class(fitted, data):
    sio = pytest.importorskip("skops.io")
    X, _ = data
    dumped = sio.dumps(fitted)
    untrusted = sio.get_untrusted_types(data=dumped)
    assert untrusted == ["sklearn_inr.estimators._graph_metanet.GraphMetanetClassifier"]
    restored = sio.loads(dumped, trusted=untrusted)
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))


def test_aligned_skops_round_trip_restores_the_per_weight_statistics(data):
    sio = pytest.importorskip("skops.io")
    X, y = data
    aligned = _small(aligned=True, max_epochs=2).fit(X, y)
    trusted = ["sklearn_inr.estimators._graph_metanet.GraphMetanetClassifier"]
    restored = sio.loads(sio.dumps(aligned), trusted=trusted)
    # They come back as the module's buffers, so the predictions do too.
    buffers = restored.net_.module_.feature_mean, restored.net_.module_.feature_scale
    np.testing.assert_allclose(buffers[0].numpy(), aligned.feature_mean_, rtol=1e-6)
    np.testing.assert_allclose(buffers[1].numpy(), aligned.feature_scale_, rtol=1e-6)
    np.testing.assert_array_equal(restored.predict_proba(X), aligned.predict_proba(X))


def test_clone_and_params():
    clf = _small(symmetry="none", message_passing_layers=3)
    params = clone(clf).get_params()
    assert params["symmetry"] == "none"
    assert params["message_passing_layers"] == 3
    assert params["edge_features"] == 4
    assert not hasattr(clone(clf), "classes_")


def test_sklearn_common_checks_fail_only_on_the_theta_layout():
    """Why the class is not in test_common.py: its checks feed 2 to 10 columns.

    As for PermutationInvariantClassifier: no architecture has theta of
    every such length, so the checks that fit cannot apply; every other
    check must pass, and every failure must be the layout error.
    """
    est = GraphMetanetClassifier(
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
        "check_classifiers_regression_target",
        "check_estimators_empty_data_messages",
    ):
        assert name in passed
