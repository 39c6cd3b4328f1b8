import numpy as np
import pytest

from sklearn_inr import INRSpec, fit_inrs, render_inrs, theta_to_module
from sklearn_inr.core._networks import make_coordinates

SMALL = {"hidden_features": 16, "hidden_layers": 2}


def test_render_inrs_single_theta_and_mse_loss(smooth_images):
    result = fit_inrs(smooth_images[:1], loss="mse", n_steps=3, random_state=0, **SMALL)
    image = render_inrs(result.theta[0], (12, 12), loss="mse", **SMALL)
    assert image.shape == (12, 12)
    np.testing.assert_allclose(image, result.reconstructions[0], atol=1e-5)
    with pytest.raises(ValueError, match="parameters"):
        render_inrs(result.theta, (12, 12), hidden_features=8)


@pytest.mark.parametrize("model", ["siren", "relu"])
def test_render_inrs_equals_the_module_at_any_resolution(model):
    spec = INRSpec(model, **SMALL)
    theta = np.stack([spec.init_theta(s) for s in range(3)])
    images = render_inrs(theta, (7, 5), model=model, loss="mse", **SMALL)
    expected = theta_to_module(theta[2], spec)(make_coordinates((7, 5)))
    np.testing.assert_allclose(
        images[2], expected.detach().numpy().reshape(7, 5), rtol=1e-5, atol=1e-6
    )


def test_render_inrs_rejects_bad_parameters():
    with pytest.raises(ValueError, match="'loss' parameter of render_inrs"):
        render_inrs(np.zeros(10), (4, 4), loss="l1")


def test_render_inrs_renders_volumes_at_another_resolution(smooth_volumes):
    volume = {"hidden_features": 8, "hidden_layers": 1, "omega_0": 10.0}
    result = fit_inrs(smooth_volumes, spatial_ndim=3, lr=1e-3, n_steps=200,
                      random_state=0, **volume)  # fmt: skip
    same = render_inrs(result.theta, (4, 6, 5), **volume)
    np.testing.assert_allclose(same, result.reconstructions, atol=1e-5)
    fine = render_inrs(result.theta, (8, 12, 10), **volume)
    assert fine.shape == (4, 8, 12, 10)
    # The network at voxel centres of the finer grid.
    spec = INRSpec(in_features=3, **volume)
    logits = theta_to_module(result.theta[1], spec)(make_coordinates((8, 12, 10)))
    expected = 1 / (1 + np.exp(-logits.detach().numpy().reshape(8, 12, 10)))
    np.testing.assert_allclose(fine[1], expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="parameters"):
        render_inrs(result.theta, (8, 12), **volume)  # a 2-D grid: another net
