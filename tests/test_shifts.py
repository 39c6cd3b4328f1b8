"""Tests of :mod:`sklearn_inr.fitting._shifts` not covered in test_meta.py.

test_meta.py checks the layout on one spec through ``theta_to_module``, the
autograd equivalence of ``fit_shifts`` and the render round trip; here the
theta positions are computed by hand, on several specs, and the fit's effect
on the loss and on its inputs is checked.
"""

import numpy as np
import pytest

from sklearn_inr import (
    INRSpec,
    fit_shifts,
    render_inrs,
    shift_feature_names,
    shift_indices,
    shifts_to_theta,
)
from sklearn_inr.fitting._shifts import check_shift_spec
from sklearn_inr.metrics import psnr

# Layers (out, in): (3, 2), (3, 3), (3, 3), (1, 3). theta: l0.w 0:6, l0.b 6:9,
# l1.w 9:18, l1.b 18:21, l2.w 21:30, l2.b 30:33, l3.w 33:36, l3.b 36.
TINY = INRSpec(hidden_features=3, hidden_layers=2)
TINY_SHIFTS = [18, 19, 20, 30, 31, 32]


def test_shift_indices_by_hand():
    assert TINY.n_params == 37
    np.testing.assert_array_equal(shift_indices(TINY), TINY_SHIFTS)
    # One hidden layer: only l1's bias (not the input or output layer's).
    one = INRSpec(hidden_features=2, hidden_layers=1)  # l0 0:6, l1.w 6:10, l1.b 10:12
    np.testing.assert_array_equal(shift_indices(one), [10, 11])
    # in_features and out_features move the positions: (4, 3), (4, 4) x 3, (2, 4).
    wide = INRSpec(in_features=3, hidden_features=4, hidden_layers=3, out_features=2)
    expected = [16 + 16 + k for k in range(4)]  # l0 = 12 + 4, l1.w = 16
    expected += [36 + 16 + k for k in range(4)]  # l1 ends at 36
    expected += [56 + 16 + k for k in range(4)]  # l2 ends at 56
    np.testing.assert_array_equal(shift_indices(wide), expected)
    assert shift_indices(wide).dtype.kind == "i"


@pytest.mark.parametrize(
    "spec",
    [
        TINY,
        INRSpec(hidden_features=5, hidden_layers=1, out_features=3),
        INRSpec("relu", in_features=3, hidden_features=4, hidden_layers=3),
    ],
)
def test_shift_positions_are_the_hidden_biases_by_name(spec):
    names = spec.feature_names()[shift_indices(spec)]
    expected = [
        f"l{k}.b[{i}]"
        for k in range(1, spec.hidden_layers + 1)
        for i in range(spec.hidden_features)
    ]
    np.testing.assert_array_equal(names, expected)
    # The feature names follow the same order, one per position.
    shift_names = shift_feature_names(spec)
    assert len(shift_names) == len(shift_indices(spec))
    np.testing.assert_array_equal(
        [n.replace("shift", "b") for n in shift_names], expected
    )


def test_shift_feature_names_by_hand():
    names = shift_feature_names(INRSpec(hidden_features=2, hidden_layers=3))
    assert names.dtype == object
    assert list(names) == [
        "l1.shift[0]", "l1.shift[1]", "l2.shift[0]",
        "l2.shift[1]", "l3.shift[0]", "l3.shift[1]",
    ]  # fmt: skip


def test_shifts_to_theta_by_hand():
    base = np.arange(TINY.n_params, dtype=np.float32) / 8
    shifts = np.array([[1, 2, 3, 4, 5, 6], [-1, 0, 0, 0, 0, 0.5]], dtype=np.float32)
    theta = shifts_to_theta(shifts, base, TINY)
    assert theta.shape == (2, 37) and theta.dtype == np.float32
    expected = np.tile(base, (2, 1))
    expected[0, 18:21] += [1, 2, 3]  # l1.b
    expected[0, 30:33] += [4, 5, 6]  # l2.b
    expected[1, 18] -= 1
    expected[1, 32] += 0.5
    np.testing.assert_array_equal(theta, expected)
    # Every other entry, weights included, is the base's.
    others = np.setdiff1d(np.arange(37), TINY_SHIFTS)
    np.testing.assert_array_equal(theta[:, others], np.tile(base[others], (2, 1)))
    # And the shifts come back from their positions.
    np.testing.assert_array_equal(theta[:, TINY_SHIFTS] - base[TINY_SHIFTS], shifts)


def test_shifts_to_theta_leaves_its_inputs_alone_and_takes_one_image():
    base = TINY.init_theta(0)
    kept = base.copy()
    shifts = np.ones(6)
    theta = shifts_to_theta(shifts, base, TINY)  # 1-D: one image
    assert theta.shape == (1, 37)
    np.testing.assert_array_equal(base, kept)
    theta[0, 0] += 1  # the result does not share memory with the base
    np.testing.assert_array_equal(base, kept)
    # float64 inputs are cast like the fit does: base + shift in float32.
    theta64 = shifts_to_theta(np.full(6, 0.1), base.astype(np.float64), TINY)
    assert theta64.dtype == np.float32
    np.testing.assert_array_equal(
        theta64[0, TINY_SHIFTS], base[TINY_SHIFTS] + np.float32(0.1)
    )


def test_layout_errors():
    base = TINY.init_theta(0)
    with pytest.raises(ValueError, match="shifts have 5 features .* has 6 shifts"):
        shifts_to_theta(np.zeros((2, 5)), base, TINY)
    with pytest.raises(ValueError, match=r"base_theta must have shape \(37,\)"):
        shifts_to_theta(np.zeros((2, 6)), base[:-1], TINY)
    with pytest.raises(ValueError, match=r"base_theta must have shape \(37,\)"):
        shifts_to_theta(np.zeros((2, 6)), base[None], TINY)
    no_hidden = INRSpec(hidden_features=3, hidden_layers=0)
    for call in (check_shift_spec, shift_indices, shift_feature_names):
        with pytest.raises(ValueError, match="hidden_layers=0.*hidden_layers >= 1"):
            call(no_hidden)
    check_shift_spec(TINY)  # no error


# -------------------------------------------------------------------- fitting
@pytest.fixture(scope="module")
def images():
    y, x = np.mgrid[0:6, 0:6] / 5.0
    return np.stack(
        [0.3 + 0.4 * x * y, 0.7 - 0.4 * y, 0.5 + 0.2 * np.sin(3 * x)]
    ).astype(np.float32)


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_fit_shifts_lowers_the_loss_and_keeps_the_base(images, loss):
    spec = INRSpec(hidden_features=8, hidden_layers=2)
    base = spec.init_theta(0)
    kept = base.copy()
    result = fit_shifts(images, base, spec, n_steps=30, lr=1e-2, loss=loss)
    np.testing.assert_array_equal(base, kept)  # the base is not trained
    assert result.theta.shape == (3, 16)
    assert result.spec == spec
    assert (result.loss < result.loss_history[:, 0]).all()
    # Zero shifts are the base network: the fit reconstructs better than it.
    untouched = render_inrs(
        shifts_to_theta(np.zeros((3, 16)), base, spec), (6, 6),
        hidden_features=8, hidden_layers=2, loss=loss,
    )  # fmt: skip
    assert (psnr(images, result.reconstructions) > psnr(images, untouched)).all()
    np.testing.assert_array_equal(result.n_steps, [30, 30, 30])


def test_fit_shifts_checks_its_inputs(images):
    spec = INRSpec(hidden_features=4, hidden_layers=1)
    base = spec.init_theta(0)
    with pytest.raises(ValueError, match=r"base_theta must have shape \(37,\)"):
        fit_shifts(images, base[:-2], spec, n_steps=1)
    with pytest.raises(ValueError, match="hidden_layers=0"):
        no_hidden = INRSpec(hidden_features=4, hidden_layers=0)
        fit_shifts(images, no_hidden.init_theta(0), no_hidden, n_steps=1)
    colour = np.repeat(images[..., None], 3, axis=-1)
    with pytest.raises(ValueError):  # 3 channels for a 1-output network
        fit_shifts(colour, base, spec, n_steps=1)


def test_fit_shifts_reads_volumes_from_the_spec(smooth_volumes):
    spec = INRSpec(in_features=3, hidden_features=8, hidden_layers=2)
    result = fit_shifts(smooth_volumes, spec.init_theta(0), spec, n_steps=3, lr=1e-3)
    assert result.theta.shape == (4, 16)
    assert result.reconstructions.shape == smooth_volumes.shape
    assert result.loss_history[:, -1].mean() < result.loss_history[:, 0].mean()
    # The shifts render back through the volume's network.
    theta = shifts_to_theta(result.theta, spec.init_theta(0), spec)
    rendered = render_inrs(theta, (4, 6, 5), hidden_features=8, hidden_layers=2)
    np.testing.assert_allclose(rendered, result.reconstructions, atol=1e-5)
    with pytest.raises(ValueError, match=r"\(n_images, D, H, W\).*in_features=3"):
        fit_shifts(smooth_volumes[0], spec.init_theta(0), spec)
