"""The model table, its two newer families and the one functional forward."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sklearn_inr import (
    INRFeaturizer,
    INRSpec,
    fit_inrs,
    make_coordinates,
    render_inrs,
    theta_to_module,
    unflatten_theta,
)
from sklearn_inr.core import (
    MODELS,
    BatchedINR,
    ModelType,
    functional_forward,
    get_model,
    make_adam,
    model_names,
    register_model,
    render_batch,
)
from sklearn_inr.fitting._runner import FitSettings

ALL = ["siren", "relu", "gauss", "fourier"]
NEW = ["gauss", "fourier"]


def _thetas(spec, n, dtype=torch.float64):
    return torch.as_tensor(
        np.stack([spec.init_theta(s) for s in range(n)]), dtype=dtype
    )


def test_table_lists_every_family_in_order():
    assert model_names() == tuple(ALL)
    for name in ALL:
        assert get_model(name).name == name
        assert isinstance(MODELS[name], ModelType)
    assert not get_model("relu").uses_omega_0
    assert all(get_model(name).uses_omega_0 for name in ("siren", "gauss", "fourier"))


def test_unknown_model_error_lists_the_registered_names():
    with pytest.raises(ValueError, match="model must be one of") as error:
        INRSpec("wire")
    message = str(error.value)
    assert "'wire'" in message
    for name in ALL:
        assert repr(name) in message
    with pytest.raises(ValueError, match="'gauss'"):
        fit_inrs(np.zeros((1, 4, 4)), model="wire", n_steps=1)


def test_register_model_refuses_duplicates_and_nameless():
    class Again(ModelType):
        name = "siren"

    class Nameless(ModelType):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register_model(Again)
    with pytest.raises(ValueError, match="non-empty"):
        register_model(Nameless)
    assert model_names() == tuple(ALL)


def test_fourier_layout_uses_the_encoding_width():
    spec = INRSpec("fourier", hidden_features=6, hidden_layers=1, out_features=2)
    # m = 3 frequencies: cos and sin of each, so the first fan-in is 6.
    assert spec.layer_shapes == ((6, 6), (6, 6), (2, 6))
    assert spec.n_params == 6 * 6 + 6 + 6 * 6 + 6 + 2 * 6 + 2
    names = spec.feature_names()
    assert len(names) == spec.n_params
    assert names[5] == "l0.w[0,5]" and names[36] == "l0.b[0]"
    module = theta_to_module(spec.init_theta(0), spec)
    assert sum(p.numel() for p in module.parameters()) == spec.n_params
    # The frequencies are a buffer, not a parameter, and a function of the spec.
    assert [name for name, _ in module.named_buffers()] == ["0.freqs"]
    again = theta_to_module(spec.init_theta(0), spec)
    torch.testing.assert_close(module[0].freqs, again[0].freqs, rtol=0, atol=0)
    # sigma = omega_0 / (2 pi): the angular frequencies scale with omega_0.
    doubled = theta_to_module(spec.init_theta(0), INRSpec(
        "fourier", hidden_features=6, hidden_layers=1, out_features=2, omega_0=60.0
    ))  # fmt: skip
    torch.testing.assert_close(doubled[0].freqs, 2 * module[0].freqs)


def test_fourier_encoding_is_cos_and_sin_of_the_projection():
    spec = INRSpec("fourier", hidden_features=4, hidden_layers=0)
    coords = make_coordinates((3, 3), dtype=torch.float64)
    encoded = get_model("fourier").encode(coords, spec)
    freqs = theta_to_module(spec.init_theta(0), spec)[0].freqs
    angles = coords @ freqs.T
    torch.testing.assert_close(encoded, torch.cat([angles.cos(), angles.sin()], 1))
    assert encoded.shape == (9, 4)


@pytest.mark.parametrize("model", ["gauss", "fourier"])
def test_new_families_use_linear_default_init(model):
    spec = INRSpec(model, hidden_features=64, hidden_layers=1)
    weights, _ = unflatten_theta(spec.init_theta(0), spec.layer_shapes)
    for weight in weights:
        bound = 1 / np.sqrt(weight.shape[1])
        assert bound * 0.95 < np.abs(weight).max() <= bound


@pytest.mark.parametrize("model", NEW)
@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_new_family_gradients_equal_autograd(model, loss):
    spec = INRSpec(model, hidden_features=7, hidden_layers=2, out_features=2)
    thetas = _thetas(spec, 3)
    coords = make_coordinates((5, 4), dtype=torch.float64)
    targets = torch.as_tensor(np.random.default_rng(0).uniform(size=(3, 20, 2)))
    net = BatchedINR(spec, thetas, coords)
    losses = net.backward(targets, loss, return_losses=True)
    grads = net.grad_theta()
    for i in range(3):
        module = theta_to_module(thetas[i], spec)
        out = module(coords)
        value = (
            F.binary_cross_entropy_with_logits(out, targets[i])
            if loss == "bce"
            else F.mse_loss(out, targets[i])
        )
        value.backward()
        expected = torch.cat([p.grad.reshape(-1) for p in module.parameters()])
        torch.testing.assert_close(grads[i], expected, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(losses[i], value.detach(), rtol=1e-12, atol=0)
        assert expected.abs().max() > 1e-3  # not vacuous


@pytest.mark.parametrize("model", NEW)
def test_new_family_training_equals_module_adam_loop(model):
    spec = INRSpec(model, hidden_features=8, hidden_layers=2)
    thetas = _thetas(spec, 2)
    coords = make_coordinates((6, 6), dtype=torch.float64)
    targets = torch.as_tensor(np.random.default_rng(1).uniform(size=(2, 36, 1)))
    net = BatchedINR(spec, thetas, coords)
    optimizer = make_adam(net.params, 1e-2)
    for _ in range(30):
        net.backward(targets, "bce")
        optimizer.step()
    for i in range(2):
        module = theta_to_module(thetas[i], spec)
        reference = torch.optim.Adam(module.parameters(), lr=1e-2)
        for _ in range(30):
            reference.zero_grad()
            F.binary_cross_entropy_with_logits(module(coords), targets[i]).backward()
            reference.step()
        expected = torch.cat([p.detach().reshape(-1) for p in module.parameters()])
        torch.testing.assert_close(net.theta()[i], expected, rtol=0, atol=1e-10)
        assert (expected - thetas[i]).abs().max() > 1e-2


@pytest.mark.parametrize("model", ALL)
def test_functional_forward_equals_the_engine(model):
    spec = INRSpec(model, hidden_features=9, hidden_layers=2, out_features=2)
    thetas = _thetas(spec, 3)
    coords = make_coordinates((7, 5), dtype=torch.float64)
    expected = BatchedINR(spec, thetas, coords, training=False).forward()
    weights, biases = unflatten_theta(thetas, spec.layer_shapes)
    batched = functional_forward(spec, weights, biases, coords)
    assert batched.shape == (3, 35, 2)
    torch.testing.assert_close(batched, expected, rtol=1e-12, atol=1e-12)
    # Shared weights with per-image shifts: the engine with shifted biases.
    shifts = torch.randn(3, 2, 9, dtype=torch.float64) * 0.1
    base_w, base_b = unflatten_theta(thetas[0], spec.layer_shapes)
    net = BatchedINR(spec, thetas[:1].expand(3, -1), coords, training=False)
    net.set_biases([1, 2], net.get_biases([1, 2]) + shifts)
    shifted = functional_forward(spec, base_w, base_b, coords, shifts)
    torch.testing.assert_close(shifted, net.forward(), rtol=1e-12, atol=1e-12)
    assert (shifted[1] - expected[0]).abs().max() > 1e-4


def _legacy_batched(spec, theta, coords):
    """learned/_task_init.forward before the refactor, verbatim."""
    weights, biases = unflatten_theta(theta, spec.layer_shapes)
    hidden = coords.expand(len(theta), -1, -1)
    last = len(weights) - 1
    for k, (weight, bias) in enumerate(zip(weights, biases)):
        hidden = torch.baddbmm(bias.unsqueeze(1), hidden, weight.transpose(1, 2))
        if k < last:
            hidden = (
                torch.sin(spec.omega_0 * hidden)
                if spec.model == "siren"
                else torch.relu(hidden)
            )
    return hidden


def _legacy_shared(base, shifts, coords, spec):
    """learned/_latent._functional_outputs before the refactor, verbatim."""
    weights, biases = unflatten_theta(base, spec.layer_shapes)
    hidden = coords
    last = len(weights) - 1
    for k, (weight, bias) in enumerate(zip(weights, biases)):
        pre = hidden @ weight.T + bias
        if 1 <= k <= spec.hidden_layers:
            pre = pre + shifts[:, k - 1].unsqueeze(1)
        if k == last:
            return pre
        if spec.model == "siren":
            hidden = torch.sin(spec.omega_0 * pre)
        else:
            hidden = torch.relu(pre)


@pytest.mark.parametrize("model", ["siren", "relu"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_functional_forward_is_bit_identical_to_the_learned_forwards(model, dtype):
    spec = INRSpec(model, hidden_features=16, hidden_layers=2, omega_0=17.0)
    thetas = _thetas(spec, 3, dtype).requires_grad_()
    coords = make_coordinates((8, 6), dtype=dtype)
    weights, biases = unflatten_theta(thetas, spec.layer_shapes)
    new = functional_forward(spec, weights, biases, coords)
    old = _legacy_batched(spec, thetas, coords)
    assert torch.equal(new, old)
    (grad_new,) = torch.autograd.grad(new.square().sum(), thetas)
    (grad_old,) = torch.autograd.grad(old.square().sum(), thetas)
    assert torch.equal(grad_new, grad_old)
    shifts = torch.randn(
        3, 2, 16, dtype=dtype, generator=torch.Generator().manual_seed(0)
    )
    base = thetas[0].detach()
    base_w, base_b = unflatten_theta(base, spec.layer_shapes)
    new = functional_forward(spec, base_w, base_b, coords, shifts)
    assert torch.equal(new, _legacy_shared(base, shifts, coords, spec))


@pytest.mark.parametrize("model", ALL)
def test_theta_to_module_agrees_with_render(model):
    spec = INRSpec(model, hidden_features=12, hidden_layers=2)
    thetas = _thetas(spec, 2, torch.float32)
    coords = make_coordinates((9, 7))
    rendered = render_batch(spec, thetas, coords)
    for i in range(2):
        expected = theta_to_module(thetas[i], spec)(coords)
        torch.testing.assert_close(rendered[i], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model", NEW)
def test_new_families_are_bit_identical_whatever_the_batch(model, smooth_images):
    kwargs = dict(model=model, hidden_features=16, hidden_layers=2, lr=1e-3,
                  n_steps=60, init="random", random_state=0)  # fmt: skip
    base = fit_inrs(smooth_images, batch_size=6, **kwargs)
    order = np.array([4, 0, 5, 2, 1, 3])
    shuffled = fit_inrs(smooth_images[order], batch_size=4, **kwargs)
    alone = fit_inrs(smooth_images[[2]], **kwargs)
    np.testing.assert_array_equal(shuffled.theta, base.theta[order])
    np.testing.assert_array_equal(alone.theta, base.theta[[2]])
    np.testing.assert_array_equal(alone.loss_history, base.loss_history[[2]])
    assert np.abs(base.theta - base.theta[0]).max() > 1e-2


def test_cache_key_names_the_model_and_omega_0_where_it_is_read():
    settings = FitSettings(loss="bce", lr=1e-3, n_steps=10)
    keys = {m: settings.key(INRSpec(m, omega_0=10.0)) for m in ALL}
    assert len({repr(key) for key in keys.values()}) == 4
    for model in ALL:
        other = settings.key(INRSpec(model, omega_0=30.0))
        assert (other != keys[model]) == get_model(model).uses_omega_0
    # The siren and relu keys are those of before the model table.
    assert keys["siren"]["spec"] == ("siren", 256, 4, 10.0)
    assert keys["relu"]["spec"] == ("relu", 256, 4, None)


@pytest.mark.parametrize("model", NEW)
def test_featurizer_fits_images_with_the_new_families(model, smooth_images):
    featurizer = INRFeaturizer(model=model, hidden_features=32, hidden_layers=2,
                               loss="mse", lr=1e-3, n_steps=300,
                               random_state=0)  # fmt: skip
    features = featurizer.fit_transform(smooth_images[:3])
    assert features.shape == (3, INRSpec(model, hidden_features=32,
                                         hidden_layers=2).n_params)  # fmt: skip
    assert featurizer.score(smooth_images[:3]) > 30.0
    names = featurizer.get_feature_names_out()
    assert len(names) == features.shape[1]


def test_a_family_registered_later_is_accepted_by_the_fits():
    # The parameter rules read the model table when they check a value, not
    # when the package was imported.
    from sklearn_inr.core import MODELS, register_model
    from sklearn_inr.core._relu import Relu

    @register_model
    class LateRelu(Relu):
        name = "late-relu"

    try:
        images = np.random.default_rng(0).uniform(size=(1, 6, 6)).astype(np.float32)
        result = fit_inrs(
            images, model="late-relu", hidden_features=4, hidden_layers=1,
            n_steps=2, random_state=0,
        )  # fmt: skip
        spec = INRSpec("relu", hidden_features=4, hidden_layers=1)
        assert result.theta.shape == (1, spec.n_params)
        rendered = render_inrs(
            result.theta, (6, 6), model="late-relu", hidden_features=4, hidden_layers=1
        )
        assert rendered.shape == (1, 6, 6)
    finally:
        del MODELS["late-relu"]
