import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sklearn_inr import INRSpec, make_coordinates, theta_to_module
from sklearn_inr._engine import (
    BatchedINR,
    bytes_per_batch,
    make_adam,
    render_batch,
)


def _autograd_grads(spec, theta, coords, target, loss):
    net = theta_to_module(theta, spec)
    out = net(coords)
    if loss == "bce":
        value = F.binary_cross_entropy_with_logits(out, target)
    else:
        value = F.mse_loss(out, target)
    value.backward()
    return torch.cat([p.grad.reshape(-1) for p in net.parameters()]), value


@pytest.mark.parametrize("model", ["siren", "relu"])
@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_hand_written_gradients_equal_autograd(model, loss):
    spec = INRSpec(model, hidden_features=7, hidden_layers=2, out_features=2)
    rng = np.random.default_rng(0)
    thetas = torch.as_tensor(
        np.stack([spec.init_theta(s) for s in range(3)]), dtype=torch.float64
    )
    coords = make_coordinates((5, 4), dtype=torch.float64)
    targets = torch.as_tensor(rng.uniform(size=(3, 20, 2)))
    net = BatchedINR(spec, thetas, coords)
    net.forward()
    losses = net.losses(targets, loss)
    torch.testing.assert_close(
        net.backward(targets, loss, return_losses=True), losses, rtol=1e-12, atol=0
    )
    grads = torch.cat(
        [
            torch.cat([w.grad.reshape(3, -1), b.grad.reshape(3, -1)], 1)
            for w, b in zip(net.weights, net.biases)
        ],
        dim=1,
    )
    for i in range(3):
        expected, value = _autograd_grads(spec, thetas[i], coords, targets[i], loss)
        torch.testing.assert_close(grads[i], expected, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(losses[i], value.detach(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("model", ["siren", "relu"])
@pytest.mark.parametrize("shape, chunk", [((10, 10), None), ((10, 30), 256)])
def test_bytes_per_batch_matches_allocated_buffers(model, shape, chunk):
    spec = INRSpec(model, hidden_features=16, hidden_layers=3)
    batch, n_pixels = 3, shape[0] * shape[1]
    theta = torch.as_tensor(np.stack([spec.init_theta(s) for s in range(batch)]))
    net = BatchedINR(spec, theta, make_coordinates(shape), chunk=chunk)
    optimizer = make_adam(net.params, 1e-3)
    targets = torch.zeros_like(net.output)
    net.backward(targets, "mse")
    optimizer.step()
    tensors = net.params + [p.grad for p in net.params] + [net.output, targets]
    tensors += [
        v for state in optimizer.state.values() for v in state.values() if v.dim() > 0
    ]
    for buffers in net._buffers.values():
        tensors += buffers["act"] + buffers["grad_act"] + (buffers["pre"] or [])
        tensors += [buffers["output"], buffers["grad_output"]]
        tensors += [] if buffers["mask"] is None else [buffers["mask"]]
    allocated = sum(t.numel() * t.element_size() for t in tensors)
    # With chunk=256, the 44-pixel remainder gets buffers of its own: 300
    # rows in all, as in the formula's single chunk of 300.
    expected = bytes_per_batch(spec, batch, n_pixels)
    assert allocated <= expected <= allocated * 1.05


def test_chunked_step_equals_one_chunk():
    spec = INRSpec("siren", hidden_features=8, hidden_layers=2)
    theta = torch.as_tensor(
        np.stack([spec.init_theta(s) for s in range(2)]), dtype=torch.float64
    )
    coords = make_coordinates((9, 7), dtype=torch.float64)
    targets = torch.rand(2, 63, 1, dtype=torch.float64)
    whole = BatchedINR(spec, theta, coords, chunk=63)
    chunked = BatchedINR(spec, theta, coords, chunk=10)  # 7 chunks, last of 3
    losses = [
        net.backward(targets, "bce", return_losses=True) for net in (whole, chunked)
    ]
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-12, atol=0)
    for a, b in zip(whole.params, chunked.params):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(whole.forward(), chunked.forward())


def test_render_batch_equals_the_module():
    spec = INRSpec("siren", hidden_features=8, hidden_layers=1)
    theta = torch.as_tensor(np.stack([spec.init_theta(s) for s in range(2)]))
    coords = make_coordinates((9, 7))
    whole = render_batch(spec, theta, coords)
    expected = theta_to_module(theta[1], spec)(coords)
    torch.testing.assert_close(whole[1], expected, rtol=1e-5, atol=1e-6)


def test_backward_without_weight_grads_writes_the_same_bias_grads():
    spec = INRSpec("siren", hidden_features=6, hidden_layers=2)
    theta = torch.as_tensor(
        np.stack([spec.init_theta(s) for s in range(2)]), dtype=torch.float64
    )
    coords = make_coordinates((4, 3), dtype=torch.float64)
    targets = torch.as_tensor(np.random.default_rng(0).uniform(size=(2, 12, 1)))
    full, partial = BatchedINR(spec, theta, coords), BatchedINR(spec, theta, coords)
    full.forward()
    full.backward(targets, "bce")
    for w in partial.weights:
        w.grad.fill_(7.0)
    partial.forward()
    partial.backward(targets, "bce", weight_grads=False)
    for a, b in zip(full.biases, partial.biases):
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0)
    # The weights' gradients were not computed (left as they were).
    assert all(bool((w.grad == 7.0).all()) for w in partial.weights)


def test_rendering_allocates_no_training_state():
    spec = INRSpec("siren", hidden_features=8, hidden_layers=1)
    theta = torch.as_tensor(np.stack([spec.init_theta(s) for s in range(2)]))
    net = BatchedINR(spec, theta, make_coordinates((5, 5)), training=False)
    training = BatchedINR(spec, theta, make_coordinates((5, 5)))
    torch.testing.assert_close(net.forward(), training.forward())
    assert all(p.grad is None for p in net.params)
    assert set(net._buffers[25]) == {"act", "pre", "output"}
