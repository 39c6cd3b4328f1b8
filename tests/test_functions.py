import numpy as np
import pytest
import torch

from sklearn_inr import INRSpec
from sklearn_inr.core import get_activation, get_loss
from sklearn_inr.core._relu import ReLU
from sklearn_inr.core._siren import Sine


def _generator():
    return torch.Generator().manual_seed(0)


@pytest.mark.parametrize("name", ["bce", "mse"])
@pytest.mark.parametrize("scale", [1.0, 0.37])
def test_output_grad_is_the_autograd_gradient(name, scale):
    loss = get_loss(name)
    g = _generator()
    output = 3 * torch.randn(2, 5, 3, generator=g, dtype=torch.float64)
    output.requires_grad_()
    targets = torch.rand(2, 5, 3, generator=g, dtype=torch.float64)
    (scale * loss.pixel_losses(output, targets).sum()).backward()
    out = torch.full_like(targets, np.nan)
    loss.output_grad(output.detach(), targets, scale, out)
    torch.testing.assert_close(out, output.grad, rtol=1e-12, atol=1e-14)


def test_pixel_losses_match_their_definitions():
    g = _generator()
    output = torch.randn(4, 6, generator=g, dtype=torch.float64)
    targets = torch.rand(4, 6, generator=g, dtype=torch.float64)
    p = torch.sigmoid(output)
    bce = -(targets * torch.log(p) + (1 - targets) * torch.log1p(-p))
    torch.testing.assert_close(get_loss("bce").pixel_losses(output, targets), bce)
    torch.testing.assert_close(
        get_loss("mse").pixel_losses(output, targets), (output - targets) ** 2
    )
    # Neither changes its arguments.
    before = output.clone()
    get_loss("mse").pixel_losses(output, targets)
    torch.testing.assert_close(output, before, rtol=0, atol=0)


def test_reconstruct():
    output = torch.linspace(-6, 6, 13, dtype=torch.float64)
    torch.testing.assert_close(
        get_loss("bce").reconstruct(output), 1 / (1 + torch.exp(-output))
    )
    torch.testing.assert_close(get_loss("mse").reconstruct(output), output)


def test_target_ranges():
    assert get_loss("bce").target_range == (0.0, 1.0)
    assert get_loss("mse").target_range is None


@pytest.mark.parametrize("name", ["l1", "BCE", "", "siren"])
def test_get_loss_rejects_unknown_names(name):
    with pytest.raises(KeyError):
        get_loss(name)


def _layer(batch=2, n_points=5, fan_in=3, fan_out=4):
    g = _generator()
    inputs = torch.randn(batch, n_points, fan_in, generator=g, dtype=torch.float64)
    weight = torch.randn(batch, fan_out, fan_in, generator=g, dtype=torch.float64)
    bias = torch.randn(batch, 1, fan_out, generator=g, dtype=torch.float64)
    empty = torch.full((batch, n_points, fan_out), np.nan, dtype=torch.float64)
    return bias, inputs, weight, empty


def test_sine_forward():
    bias, inputs, weight, empty = _layer()
    sine = Sine(omega_0=7.5)
    pre, act = empty.clone(), empty.clone()
    sine.forward(bias, inputs, weight.transpose(1, 2), pre=pre, act=act)
    expected = 7.5 * (torch.einsum("bni,boi->bno", inputs, weight) + bias)
    torch.testing.assert_close(pre, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(act, torch.sin(expected), rtol=1e-12, atol=1e-12)
    assert sine.gemm_scale == 7.5
    assert sine.keeps_pre_activation


def test_sine_backward_multiplies_by_cos_of_the_pre_activation():
    g = _generator()
    pre = torch.randn(2, 5, 4, generator=g, dtype=torch.float64)
    grad = torch.randn(2, 5, 4, generator=g, dtype=torch.float64)
    expected = grad * torch.cos(pre)
    saved_pre = pre.clone()
    Sine(30.0).backward_(grad, pre=pre, act=torch.sin(pre), mask=None)
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-14)
    # The pre-activation buffer now holds the derivative (documented).
    torch.testing.assert_close(pre, torch.cos(saved_pre))


def test_sine_matches_autograd():
    bias, inputs, weight, empty = _layer()
    sine = Sine(omega_0=3.0)
    inputs.requires_grad_()
    reference = torch.sin(3.0 * (inputs @ weight.transpose(1, 2) + bias))
    upstream = torch.randn(reference.shape, generator=_generator(), dtype=torch.float64)
    (reference * upstream).sum().backward()
    pre, act = empty.clone(), empty.clone()
    sine.forward(bias, inputs.detach(), weight.transpose(1, 2), pre=pre, act=act)
    grad = upstream.clone()
    sine.backward_(grad, pre=pre, act=act, mask=None)
    # d/d(inputs) = omega * (grad * cos(pre)) @ W
    torch.testing.assert_close(3.0 * grad @ weight, inputs.grad)


def test_relu_forward_and_backward():
    bias, inputs, weight, empty = _layer()
    relu = ReLU()
    act = empty.clone()
    relu.forward(bias, inputs, weight.transpose(1, 2), pre=None, act=act)
    linear = torch.einsum("bni,boi->bno", inputs, weight) + bias
    assert (linear < 0).any() and (linear > 0).any()
    torch.testing.assert_close(act, linear.clamp(min=0), rtol=1e-12, atol=1e-12)
    grad = torch.randn(act.shape, generator=_generator(), dtype=torch.float64)
    expected = grad * (linear > 0)
    mask = torch.empty(act.shape, dtype=torch.bool)
    relu.backward_(grad, pre=None, act=act, mask=mask)
    torch.testing.assert_close(grad, expected, rtol=0, atol=0)
    assert relu.gemm_scale == 1.0
    assert not relu.keeps_pre_activation


def test_get_activation():
    relu = get_activation(INRSpec("relu"))
    assert isinstance(relu, ReLU)
    sine = get_activation(INRSpec("siren", omega_0=7.0))
    assert isinstance(sine, Sine)
    assert sine.omega_0 == 7.0
    assert isinstance(sine.omega_0, float)
    assert get_activation(INRSpec("siren")).omega_0 == 30.0
