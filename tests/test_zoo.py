"""INR zoos: theta to and from torch state_dicts (sklearn_inr.core._zoo)."""

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from sklearn_inr import (
    INRSpec,
    make_coordinates,
    render_inrs,
    theta_from_state_dicts,
    theta_to_module,
    theta_to_state_dicts,
)

SPEC = INRSpec("siren", hidden_features=8, hidden_layers=2, omega_0=30.0)
SHAPE = (9, 7)


def _theta(spec=SPEC, n=3):
    return np.stack([spec.init_theta(seed) for seed in range(n)])


class ForeignSiren(nn.Module):
    """A SIREN as another codebase writes it: first, hidden list, last, a buffer.

    ``folded=False`` computes ``sin(omega_0 (W x + b))`` (this package's and
    the SIREN reference's convention); ``folded=True`` computes ``sin(W x + b)``
    with omega_0 folded into the weights at init.
    """

    def __init__(self, width=8, hidden_layers=2, omega_0=30.0, folded=False):
        super().__init__()
        self.first = nn.Linear(2, width)
        self.hidden = nn.ModuleList(
            nn.Linear(width, width) for _ in range(hidden_layers)
        )
        self.last = nn.Linear(width, 1)
        self.register_buffer("step", torch.tensor(7))  # not a layer
        self.scale = 1.0 if folded else omega_0
        with torch.no_grad():
            for layer in self.hidden:
                layer.weight.uniform_(-((6 / width) ** 0.5), (6 / width) ** 0.5)
                layer.weight /= omega_0  # SIREN init, in the unfolded form
            if folded:  # W' = omega_0 W for the layers under a sine
                for layer in [self.first, *self.hidden]:
                    layer.weight *= omega_0
                    layer.bias *= omega_0

    def forward(self, x):
        for layer in [self.first, *self.hidden]:
            x = torch.sin(self.scale * layer(x))
        return self.last(x)


def _foreign_name(i, param, n_layers=SPEC.hidden_layers + 2):
    if i == 0:
        return f"first.{param}"
    if i == n_layers - 1:
        return f"last.{param}"
    return f"hidden.{i - 1}.{param}"


def _not_buffer(name):
    return name != "step"


@pytest.mark.parametrize(
    "naming", ["sequential", "layers.{i}.{param}", "net.{i}.linear.{param}"]
)
def test_round_trip_is_bit_identical(naming):
    theta = _theta()
    state_dicts = theta_to_state_dicts(theta, SPEC, naming=naming)
    assert len(state_dicts) == 3
    back, spec = theta_from_state_dicts(state_dicts)  # spec inferred
    assert spec == SPEC
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, theta)
    # A 1-D theta gives one dict; each tensor owns its storage (torch.save).
    one = theta_to_state_dicts(theta[1], SPEC, naming=naming)
    assert isinstance(one, dict)
    assert all(t.untyped_storage().nbytes() == t.nbytes for t in one.values())
    np.testing.assert_array_equal(theta_from_state_dicts([one], SPEC)[0][0], theta[1])


@pytest.mark.parametrize("model", ["siren", "relu", "fourier"])
def test_sequential_naming_is_theta_to_modules(model):
    spec = INRSpec(model, hidden_features=8, hidden_layers=1)
    theta = _theta(spec, n=2)
    state_dict = theta_to_state_dicts(theta, spec)[1]
    module_dict = theta_to_module(theta[1], spec).state_dict()
    params = {k: v for k, v in module_dict.items() if not k.endswith("freqs")}
    assert list(state_dict) == list(params)
    for name, value in params.items():
        torch.testing.assert_close(state_dict[name], value, rtol=0, atol=0)
    # The module's own state_dict imports, its Fourier buffer filtered out.
    back, _ = theta_from_state_dicts(
        [module_dict], spec, keys=lambda name: not name.endswith("freqs")
    )
    np.testing.assert_array_equal(back[0], theta[1])


@pytest.mark.parametrize("folded", [False, True])
def test_foreign_module_imports_and_renders_the_same_image(folded):
    torch.manual_seed(0)
    nets = [ForeignSiren(folded=folded) for _ in range(3)]
    theta, spec = theta_from_state_dicts(
        [net.state_dict() for net in nets],
        model="siren",
        omega_0=30.0,
        keys=_not_buffer,
        omega_0_folded=folded,
    )
    assert spec == SPEC
    coords = make_coordinates(SHAPE)
    with torch.no_grad():
        expected = np.stack([net(coords).numpy().reshape(SHAPE) for net in nets])
    images = render_inrs(
        theta,
        SHAPE,
        loss="mse",
        device="cpu",
        hidden_features=8,
        hidden_layers=2,
        omega_0=30.0,
    )
    assert np.abs(expected).max() > 0.1  # not a trivially small output
    np.testing.assert_allclose(images, expected, rtol=1e-5, atol=1e-5)
    if folded:  # read without the flag, the folded zoo is another function
        wrong, _ = theta_from_state_dicts(
            [net.state_dict() for net in nets], keys=_not_buffer
        )
        wrong_images = render_inrs(
            wrong, SHAPE, loss="mse", hidden_features=8, hidden_layers=2
        )
        assert np.abs(wrong_images - expected).max() > 0.1


@pytest.mark.parametrize("folded", [False, True])
def test_export_loads_into_a_foreign_module(folded):
    theta = _theta(n=1)
    state_dict = theta_to_state_dicts(
        theta, SPEC, naming=_foreign_name, omega_0_folded=folded
    )[0]
    net = ForeignSiren(folded=folded)
    missing, unexpected = net.load_state_dict(state_dict, strict=False)
    assert missing == ["step"] and unexpected == []
    coords = make_coordinates(SHAPE)
    with torch.no_grad():
        got = net(coords)
        expected = theta_to_module(theta[0], SPEC)(coords)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    # And back: folding then unfolding only rounds.
    back, _ = theta_from_state_dicts(
        [net.state_dict()], SPEC, keys=_not_buffer, omega_0_folded=folded
    )
    np.testing.assert_allclose(back, theta, rtol=1e-6, atol=0)


def test_shape_mismatch_names_the_index_and_the_key():
    state_dicts = theta_to_state_dicts(_theta(), SPEC, naming="layers.{i}.{param}")
    state_dicts[2]["layers.1.weight"] = torch.zeros(8, 5)
    with pytest.raises(ValueError) as error:
        theta_from_state_dicts(state_dicts)
    message = str(error.value)
    assert "state_dicts[2]['layers.1.weight'] has shape (8, 5)" in message
    assert "layer 1" in message and "expects (8, 8)" in message
    state_dicts[2]["layers.1.weight"] = torch.zeros(8, 8)
    state_dicts[2]["layers.1.bias"] = torch.zeros(4)
    with pytest.raises(ValueError, match=r"\['layers.1.bias'\] has shape \(4,\)"):
        theta_from_state_dicts(state_dicts)
    # Fewer layers than the spec; the first dict fixes the inferred spec.
    short = theta_to_state_dicts(
        _theta(INRSpec(hidden_features=8, hidden_layers=1)),
        INRSpec(hidden_features=8, hidden_layers=1),
    )
    with pytest.raises(ValueError, match=r"state_dicts\[1\] has 3 Linear layers .* 4"):
        theta_from_state_dicts([state_dicts[0], short[0]])
    with pytest.raises(ValueError, match=r"\[0\]\['0.weight'\] .*\(8, 2\).*\(256, 2\)"):
        theta_from_state_dicts(short[:1], INRSpec(hidden_layers=1))


def test_extra_entries_are_refused_unless_filtered():
    net = ForeignSiren()
    with pytest.raises(ValueError, match=r"state_dicts\[0\]\['step'\] .* keys="):
        theta_from_state_dicts([net.state_dict()])
    # An explicit list of names, in layer order, whatever the dict's order.
    names = [_foreign_name(i, p) for i in range(4) for p in ("weight", "bias")]
    shuffled = dict(reversed(list(net.state_dict().items())))
    by_list, _ = theta_from_state_dicts([shuffled], keys=names)
    by_filter, _ = theta_from_state_dicts([net.state_dict()], keys=_not_buffer)
    np.testing.assert_array_equal(by_list, by_filter)
    with pytest.raises(ValueError, match="no entry 'middle.weight'"):
        theta_from_state_dicts([shuffled], keys=["middle.weight", "last.bias"])


def test_layers_without_bias_and_non_float_weights_are_refused():
    no_bias = nn.Sequential(nn.Linear(2, 4, bias=False), nn.Linear(4, 1))
    with pytest.raises(ValueError, match=r"\['0.weight'\] is followed by '1.weight'"):
        theta_from_state_dicts([no_bias.state_dict()])
    ints = {"0.weight": torch.ones(4, 2, dtype=torch.int64), "0.bias": torch.ones(4)}
    with pytest.raises(ValueError, match="dtype int64"):
        theta_from_state_dicts([ints])


def test_spec_inference_and_its_limits():
    net = nn.Sequential(
        nn.Linear(3, 16),
        nn.ReLU(),
        nn.Linear(16, 16),
        nn.ReLU(),
        nn.Linear(16, 16),
        nn.ReLU(),
        nn.Linear(16, 4),
    )
    numpy_dict = {k: v.numpy() for k, v in net.state_dict().items()}
    theta, spec = theta_from_state_dicts([numpy_dict], model="relu")
    assert spec == INRSpec(
        "relu", in_features=3, hidden_features=16, hidden_layers=2, out_features=4
    )
    assert theta.shape == (1, spec.n_params)
    coords = torch.rand(5, 3) * 2 - 1
    with torch.no_grad():  # the imported theta is the same network
        torch.testing.assert_close(theta_to_module(theta[0], spec)(coords), net(coords))
    uneven = nn.Sequential(nn.Linear(2, 16), nn.Linear(16, 8), nn.Linear(8, 1))
    with pytest.raises(ValueError, match=r"\['1.weight'\] has shape \(8, 16\)"):
        theta_from_state_dicts([uneven.state_dict()])
    with pytest.raises(ValueError, match="only Linear layer"):
        theta_from_state_dicts([nn.Linear(2, 1).state_dict()])
    with pytest.raises(ValueError, match="pass spec="):
        theta_from_state_dicts([numpy_dict], model="fourier")
    with pytest.raises(ValueError, match="either spec or model"):
        theta_from_state_dicts([numpy_dict], spec, model="relu")
    with pytest.raises(ValueError, match="model='siren' only"):
        theta_from_state_dicts([numpy_dict], model="relu", omega_0_folded=True)
    with pytest.raises(ValueError, match="model='siren' only"):
        theta_to_state_dicts(theta, spec, omega_0_folded=True)
    with pytest.raises(TypeError, match=r"wrap one in a list"):
        theta_from_state_dicts(numpy_dict)
    with pytest.raises(ValueError, match="is empty"):
        theta_from_state_dicts([])
    with pytest.raises(ValueError, match="naming must be"):
        theta_to_state_dicts(theta, spec, naming="layer{i}")


def test_files_load_with_weights_only(tmp_path):
    theta = _theta()
    state_dicts = theta_to_state_dicts(theta, SPEC, naming="layers.{i}.{param}")
    torch.save(state_dicts[0], tmp_path / "one.pt")
    torch.save(state_dicts[1:], tmp_path / "zoo.pth")  # a list: a whole zoo
    back, spec = theta_from_state_dicts(
        [tmp_path / "one.pt", str(tmp_path / "zoo.pth")]
    )
    assert spec == SPEC
    np.testing.assert_array_equal(back, theta)
    np.savez(tmp_path / "one.npz", **{k: v.numpy() for k, v in state_dicts[2].items()})
    back, _ = theta_from_state_dicts([tmp_path / "one.npz"])
    np.testing.assert_array_equal(back[0], theta[2])
    # An arbitrary pickled object is never unpickled.
    torch.save({"0.weight": torch.zeros(2, 2), "hook": ForeignSiren}, tmp_path / "x.pt")
    with pytest.raises(pickle.UnpicklingError, match="[Ww]eights only"):
        theta_from_state_dicts([tmp_path / "x.pt"])
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(TypeError, match=r"state_dicts\[0\] is a Tensor, not a mapping"):
        theta_from_state_dicts([tmp_path / "tensor.pt"])
    (tmp_path / "net.pkl").write_bytes(b"")
    with pytest.raises(ValueError, match=r"\.pt, \.pth, \.npz"):
        theta_from_state_dicts([tmp_path / "net.pkl"])
