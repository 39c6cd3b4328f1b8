"""Tests of WeightStatistics (sklearn_inr/_weight_statistics.py)."""

import pickle

import numpy as np
import pytest
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_inr import MLPClassifier, WeightStatistics, flatten_theta, unflatten_theta

# A small INR: 2 -> 5 -> 5 -> 1 (hidden_layers=1).
ARCH = dict(in_features=2, hidden_features=5, hidden_layers=1, out_features=1)
SHAPES = [(5, 2), (5, 5), (1, 5)]
N_PARAMS = 5 * 2 + 5 + 5 * 5 + 5 + 1 * 5 + 1  # 51


def _unflatten(theta, shapes):
    return list(zip(*unflatten_theta(theta, shapes)))


def _flatten(params):
    weights, biases = zip(*params)
    return flatten_theta(list(weights), list(biases))


def _forward(params, coords):
    h = coords
    for k, (w, b) in enumerate(params):
        h = h @ w.T + b
        if k < len(params) - 1:
            h = np.sin(30 * h)
    return h


def test_default_is_paper_architecture():
    stats = WeightStatistics().fit(np.zeros((1, 264_193), dtype=np.float32))
    assert len(stats.layer_shapes_) == 6
    assert len(stats.get_feature_names_out()) == 6 * 2 * 7


def test_values_match_numpy():
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(4, N_PARAMS))
    stats = WeightStatistics(**ARCH)
    out = stats.fit_transform(theta)
    names = list(stats.get_feature_names_out())
    assert out.shape == (4, 3 * 2 * 7) == (4, len(names))
    for row in range(4):
        for k, (w, b) in enumerate(_unflatten(theta[row], SHAPES)):
            for kind, values in (("w", w.ravel()), ("b", b)):
                got = dict(zip(names, out[row], strict=True))
                prefix = f"l{k}.{kind}."
                assert got[prefix + "mean"] == pytest.approx(values.mean())
                assert got[prefix + "std"] == pytest.approx(values.std())
                assert got[prefix + "q0"] == pytest.approx(values.min())
                assert got[prefix + "q50"] == pytest.approx(np.median(values))
                assert got[prefix + "q100"] == pytest.approx(values.max())


def test_layer_shapes_list_overrides_architecture():
    theta = np.random.default_rng(1).normal(size=(3, N_PARAMS))
    a = WeightStatistics(layer_shapes=SHAPES, hidden_features=999).fit_transform(theta)
    b = WeightStatistics(**ARCH).fit_transform(theta)
    np.testing.assert_array_equal(a, b)


def test_feature_names():
    stats = WeightStatistics(quantiles=(0.1, 0.125, 0.5), **ARCH).fit(
        np.zeros((2, N_PARAMS))
    )
    names = stats.get_feature_names_out()
    assert names.dtype == object
    assert list(names[:5]) == [
        "l0.w.mean",
        "l0.w.std",
        "l0.w.q10",
        "l0.w.q12.5",
        "l0.w.q50",
    ]
    assert names[5] == "l0.b.mean"
    assert names[-1] == "l2.b.q50"
    flat = WeightStatistics(layer_shapes="flat").fit(np.zeros((2, 7)))
    assert list(flat.get_feature_names_out()) == [
        "all.mean",
        "all.std",
        "all.q0",
        "all.q25",
        "all.q50",
        "all.q75",
        "all.q100",
    ]


def test_empty_quantiles_gives_mean_and_std():
    stats = WeightStatistics(quantiles=(), **ARCH)
    out = stats.fit_transform(np.ones((2, N_PARAMS)))
    assert out.shape == (2, 3 * 2 * 2)
    assert list(stats.get_feature_names_out()[:2]) == ["l0.w.mean", "l0.w.std"]


def test_permutation_invariance():
    """Reordering hidden units leaves the function and the statistics unchanged."""
    rng = np.random.default_rng(0)
    theta = rng.uniform(-0.5, 0.5, size=N_PARAMS)
    params = _unflatten(theta, SHAPES)
    permuted = [(w.copy(), b.copy()) for w, b in params]
    for k in range(len(SHAPES) - 1):  # every hidden layer
        perm = rng.permutation(SHAPES[k][0])
        w, b = permuted[k]
        permuted[k] = (w[perm], b[perm])  # rows of W_k, entries of b_k
        w_next, b_next = permuted[k + 1]
        permuted[k + 1] = (w_next[:, perm], b_next)  # columns of W_{k+1}
    theta_perm = _flatten(permuted)
    assert not np.allclose(theta, theta_perm)  # theta itself changes

    coords = rng.uniform(-1, 1, size=(20, 2))
    np.testing.assert_allclose(
        _forward(params, coords), _forward(permuted, coords), atol=1e-12
    )
    stats = WeightStatistics(**ARCH).fit(theta[None])
    np.testing.assert_allclose(
        stats.transform(theta[None]), stats.transform(theta_perm[None]), rtol=1e-12
    )


def test_rows_are_independent():
    theta = np.random.default_rng(2).normal(size=(5, N_PARAMS))
    stats = WeightStatistics(**ARCH).fit(theta)
    full = stats.transform(theta)
    np.testing.assert_allclose(stats.transform(theta[2:3]), full[2:3])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved(dtype):
    theta = np.random.default_rng(3).normal(size=(2, N_PARAMS)).astype(dtype)
    assert WeightStatistics(**ARCH).fit_transform(theta).dtype == dtype


def test_wrong_number_of_features_is_explained():
    with pytest.raises(ValueError, match=r"X has 50 features.*hold 51 parameters"):
        WeightStatistics(**ARCH).fit(np.zeros((2, 50)))
    with pytest.raises(ValueError, match="264193 parameters"):
        WeightStatistics().fit(np.zeros((2, 10)))
    stats = WeightStatistics(**ARCH).fit(np.zeros((2, N_PARAMS)))
    with pytest.raises(ValueError, match="expecting 51 features"):
        stats.transform(np.zeros((2, 50)))


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(quantiles=(0.5, 1.5)), r"quantiles must lie in \[0, 1\]"),
        (dict(quantiles=(0.5, 0.5)), "quantiles must be distinct"),
        (dict(layer_shapes=[(5, 2), (5,)]), r"list of \(out, in\) pairs"),
        (dict(layer_shapes=[(5, 0)]), r"list of \(out, in\) pairs"),
        (dict(layer_shapes=[]), "must not be empty"),
        (dict(layer_shapes="layers"), "layer_shapes"),
        (dict(hidden_layers=-1), "hidden_layers"),
    ],
)
def test_invalid_params_raise(params, match):
    with pytest.raises(ValueError, match=match):
        WeightStatistics(**params).fit(np.zeros((2, N_PARAMS)))


def test_pickle_round_trip():
    theta = np.random.default_rng(4).normal(size=(3, N_PARAMS))
    stats = WeightStatistics(**ARCH).fit(theta)
    loaded = pickle.loads(pickle.dumps(stats))
    np.testing.assert_array_equal(loaded.transform(theta), stats.transform(theta))
    np.testing.assert_array_equal(
        loaded.get_feature_names_out(), stats.get_feature_names_out()
    )


def test_baseline_pipeline_on_theta():
    # Two "classes" of networks whose weights differ in scale: the statistics
    # separate them with a tiny classifier.
    rng = np.random.default_rng(5)
    theta = np.vstack(
        [
            rng.normal(0, 0.5, size=(20, N_PARAMS)),
            rng.normal(0, 1.0, size=(20, N_PARAMS)),
        ]
    )
    y = np.repeat(["a", "b"], 20)
    pipe = make_pipeline(
        WeightStatistics(**ARCH),
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(8,), max_epochs=20, lr=1e-2, random_state=0),
    )
    assert cross_val_score(pipe, theta, y, cv=3).mean() > 0.8


def test_skops_round_trip():
    sio = pytest.importorskip("skops.io")
    theta = np.random.default_rng(6).normal(size=(3, N_PARAMS))
    stats = WeightStatistics(**ARCH).fit(theta)
    data = sio.dumps(stats)
    trusted = ["sklearn_inr.estimators._weight_statistics.WeightStatistics"]
    assert sio.get_untrusted_types(data=data) == trusted
    loaded = sio.loads(data, trusted=trusted)
    np.testing.assert_array_equal(loaded.transform(theta), stats.transform(theta))
