import numpy as np
import pytest
import torch

from sklearn_inr import (
    INRSpec,
    flatten_theta,
    make_coordinates,
    theta_to_module,
    unflatten_theta,
)


@pytest.mark.parametrize("model", ["siren", "relu"])
def test_paper_network_has_264193_parameters(model):
    spec = INRSpec(model, in_features=2, hidden_features=256, hidden_layers=4)
    assert spec.n_params == 264_193
    assert len(spec.layer_shapes) == 6
    module = theta_to_module(spec.init_theta(0), spec)
    assert sum(p.numel() for p in module.parameters()) == 264_193


def test_hidden_layers_follow_the_siren_convention():
    spec = INRSpec(hidden_features=5, hidden_layers=2, out_features=3)
    assert spec.layer_shapes == ((5, 2), (5, 5), (5, 5), (3, 5))
    assert INRSpec(hidden_layers=0, hidden_features=4).layer_shapes == ((4, 2), (1, 4))


@pytest.mark.parametrize("model", ["siren", "relu"])
def test_init_bounds(model):
    spec = INRSpec(model, hidden_features=256, hidden_layers=2, omega_0=30.0)
    weights, biases = unflatten_theta(spec.init_theta(0), spec.layer_shapes)
    for k, (weight, bias) in enumerate(zip(weights, biases)):
        fan_in = weight.shape[1]
        if model == "siren":
            expected = 1 / fan_in if k == 0 else np.sqrt(6 / fan_in) / 30.0
        else:
            expected = 1 / np.sqrt(fan_in)
        assert np.abs(weight).max() <= expected
        # Uniform draws fill the interval: the extremes come close to the bound.
        assert np.abs(weight).max() > 0.95 * expected
        assert np.abs(bias).max() <= 1 / np.sqrt(fan_in)
        assert np.abs(bias).max() > 0.5 / np.sqrt(fan_in)


def test_init_theta_is_deterministic_and_float32():
    spec = INRSpec(hidden_features=8, hidden_layers=1)
    np.testing.assert_array_equal(spec.init_theta(3), spec.init_theta(3))
    assert not np.array_equal(spec.init_theta(3), spec.init_theta(4))
    assert spec.init_theta(0).dtype == np.float32


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_flatten_unflatten_round_trip(backend):
    spec = INRSpec(hidden_features=4, hidden_layers=1, out_features=2)
    theta = np.random.default_rng(0).normal(size=(3, 5, spec.n_params))
    if backend == "torch":
        theta = torch.as_tensor(theta)
    weights, biases = unflatten_theta(theta, spec.layer_shapes)
    assert tuple(weights[0].shape) == (3, 5, 4, 2)
    assert tuple(biases[-1].shape) == (3, 5, 2)
    back = flatten_theta(weights, biases)
    assert type(back) is type(theta)
    np.testing.assert_array_equal(np.asarray(back), np.asarray(theta))


def test_theta_layout_is_weight_rowmajor_then_bias():
    spec = INRSpec(hidden_features=3, hidden_layers=0)
    theta = np.arange(spec.n_params, dtype=float)
    weights, biases = unflatten_theta(theta, spec.layer_shapes)
    np.testing.assert_array_equal(weights[0], [[0, 1], [2, 3], [4, 5]])
    np.testing.assert_array_equal(biases[0], [6, 7, 8])
    np.testing.assert_array_equal(weights[1], [[9, 10, 11]])
    np.testing.assert_array_equal(biases[1], [12])


def test_unflatten_rejects_wrong_length():
    with pytest.raises(ValueError, match="need 13"):
        unflatten_theta(np.zeros(12), [(3, 2), (1, 3)])


def test_feature_names_match_layout():
    spec = INRSpec(hidden_features=20, hidden_layers=1)
    names = spec.feature_names()
    assert len(names) == spec.n_params
    theta = np.arange(spec.n_params)
    weights, biases = unflatten_theta(theta, spec.layer_shapes)
    assert names[weights[1][17, 3]] == "l1.w[17,3]"
    assert names[biases[1][17]] == "l1.b[17]"
    assert names[-1] == "l2.b[0]"


def test_coordinates_are_pixel_centres_in_unit_square():
    coords = make_coordinates((4, 2)).numpy()
    assert coords.shape == (8, 2)
    np.testing.assert_allclose(np.unique(coords[:, 0]), [-0.75, -0.25, 0.25, 0.75])
    np.testing.assert_allclose(np.unique(coords[:, 1]), [-0.5, 0.5])
    # Row-major: the column coordinate varies fastest.
    np.testing.assert_allclose(coords[:2], [[-0.75, -0.5], [-0.75, 0.5]])
    assert coords.min() > -1 and coords.max() < 1


def test_module_is_sine_mlp_with_linear_output():
    spec = INRSpec("siren", hidden_features=6, hidden_layers=1, omega_0=7.0)
    theta = spec.init_theta(0).astype(np.float64)
    module = theta_to_module(torch.as_tensor(theta), spec)
    coords = make_coordinates((3, 3), dtype=torch.float64)
    weights, biases = unflatten_theta(theta, spec.layer_shapes)
    a = coords.numpy()
    for k, (w, b) in enumerate(zip(weights, biases)):
        a = a @ w.T + b
        if k < 2:
            a = np.sin(7.0 * a)
    np.testing.assert_allclose(module(coords).detach().numpy(), a, rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"model": "tanh"}, "model must be one of"),
        ({"omega_0": 0.0}, "omega_0 must be > 0"),
        ({"hidden_features": 0}, "hidden_features must be >= 1"),
        ({"hidden_layers": -1}, "hidden_layers must be >= 0"),
    ],
)
def test_spec_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        INRSpec(**kwargs)


def test_a_network_too_large_for_this_machine_is_refused_before_allocating():
    spec = INRSpec(hidden_features=10**6)  # 4e12 parameters: 16 TB per theta
    with pytest.raises(
        ValueError, match=r"hidden_features=1000000 and hidden_layers=4"
    ):
        spec.init_theta(0)
    with pytest.raises(ValueError, match=r"GiB per theta"):
        spec.check_size()
    INRSpec().check_size()  # the paper's network: fine
