import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sklearn_inr import INRSpec, make_coordinates, theta_to_module, unflatten_theta
from sklearn_inr.core import Engine, chunk_key, make_adam
from sklearn_inr.core._engine import (
    PIXEL_ALIGN,
    BatchedINR,
    bytes_per_batch,
    chunk_shape,
    gemm_layers,
    padded_pixels,
    render_batch,
)


def _autograd_grads(spec, theta, coords, target, loss):
    net = theta_to_module(theta, spec).to(coords.device)
    out = net(coords)
    if loss == "bce":
        value = F.binary_cross_entropy_with_logits(out, target)
    else:
        value = F.mse_loss(out, target)
    value.backward()
    return torch.cat([p.grad.reshape(-1) for p in net.parameters()]), value


@pytest.mark.parametrize("model", ["siren", "relu", "gauss", "fourier"])
@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_hand_written_gradients_equal_autograd(model, loss, device):
    spec = INRSpec(model, hidden_features=7, hidden_layers=2, out_features=2)
    rng = np.random.default_rng(0)
    thetas = torch.as_tensor(
        np.stack([spec.init_theta(s) for s in range(3)]), dtype=torch.float64
    ).to(device)
    coords = make_coordinates((5, 4), dtype=torch.float64, device=device)
    targets = torch.as_tensor(rng.uniform(size=(3, 20, 2))).to(device)
    net = BatchedINR(spec, thetas, coords)
    net.forward()
    losses = net.losses(targets, loss)
    torch.testing.assert_close(
        net.backward(targets, loss, return_losses=True), losses, rtol=1e-12, atol=0
    )
    grads = net.grad_theta()
    for i in range(3):
        expected, value = _autograd_grads(spec, thetas[i], coords, targets[i], loss)
        torch.testing.assert_close(grads[i], expected, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(losses[i], value.detach(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("model", ["siren", "relu", "gauss", "fourier"])
@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_volume_gradients_equal_autograd(model, loss):
    """in_features=3: (z, y, x) voxel coordinates, in float64."""
    spec = INRSpec(model, in_features=3, hidden_features=7, hidden_layers=2,
                   out_features=2)  # fmt: skip
    thetas = torch.as_tensor(
        np.stack([spec.init_theta(s) for s in range(3)]), dtype=torch.float64
    )
    coords = make_coordinates((4, 6, 5), dtype=torch.float64)
    assert coords.shape == (120, 3)
    targets = torch.as_tensor(np.random.default_rng(0).uniform(size=(3, 120, 2)))
    net = BatchedINR(spec, thetas, coords)
    net.forward()
    losses = net.losses(targets, loss)
    net.backward(targets, loss)
    grads = net.grad_theta()
    for i in range(3):
        expected, value = _autograd_grads(spec, thetas[i], coords, targets[i], loss)
        torch.testing.assert_close(grads[i], expected, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(losses[i], value.detach(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("model", ["siren", "relu", "gauss", "fourier"])
@pytest.mark.parametrize("shape, batch", [((10, 10), 3), ((40, 30), 6)])
@pytest.mark.parametrize(
    "hidden_layers, gemm_dtype", [(3, None), (1, torch.bfloat16), (3, torch.bfloat16)]
)
def test_bytes_per_batch_matches_allocated_buffers(
    model, shape, batch, hidden_layers, gemm_dtype
):
    spec = INRSpec(model, hidden_features=16, hidden_layers=hidden_layers)
    n_pixels = shape[0] * shape[1]
    theta = torch.as_tensor(np.stack([spec.init_theta(s) for s in range(batch)]))
    net = BatchedINR(spec, theta, make_coordinates(shape), gemm_dtype=gemm_dtype)
    optimizer = make_adam(net.params, 1e-3)
    targets = torch.zeros((batch, n_pixels, 1))
    net.backward(targets, "mse")
    optimizer.step()
    tensors = [net.flat, net.flat.grad, net._output, targets]
    if model == "fourier":  # the encoded coordinates, held once per batch
        tensors.append(net._inputs)
    tensors += [
        v for state in optimizer.state.values() for v in state.values() if v.dim() > 0
    ]
    for buffers in net._buffers.values():
        tensors += buffers["act"] + [t for g in buffers["grad_act"].values() for t in g]
        tensors += [t for t in buffers["pre"] + buffers["cast"] if t is not None]
        tensors += [buffers["output"], buffers["grad_output"]]
        tensors += [] if buffers["mask"] is None else [buffers["mask"]]
    allocated = sum(t.numel() * t.element_size() for t in tensors)
    # 1200 pixels = 1024 + a padded remainder of 192, 6 images = 4 + 2: four
    # buffer shapes. Only the padding of theta to 64 numbers is not counted.
    low_itemsize = None if gemm_dtype is None else 2
    expected = bytes_per_batch(spec, batch, n_pixels, low_itemsize=low_itemsize)
    assert 0.95 * allocated <= expected <= 1.01 * allocated


def test_chunked_step_equals_one_chunk():
    spec = INRSpec("siren", hidden_features=8, hidden_layers=2)
    theta = torch.as_tensor(
        np.stack([spec.init_theta(s) for s in range(2)]), dtype=torch.float64
    )
    coords = make_coordinates((9, 20), dtype=torch.float64)
    targets = torch.rand(2, 180, 1, dtype=torch.float64)
    whole = BatchedINR(spec, theta, coords, chunk=(2, 192))
    # One image at a time, 3 chunks of 64 pixels (the last 52 real, 12 padded).
    chunked = BatchedINR(spec, theta, coords, chunk=(1, PIXEL_ALIGN))
    losses = [
        net.backward(targets, "bce", return_losses=True) for net in (whole, chunked)
    ]
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-12, atol=0)
    torch.testing.assert_close(
        whole.grad_theta(), chunked.grad_theta(), rtol=1e-12, atol=1e-15
    )
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
    for grad in partial.weight_grads:
        grad.fill_(7.0)
    partial.forward()
    partial.backward(targets, "bce", weight_grads=False)
    for a, b in zip(full.bias_grads, partial.bias_grads):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # The weights' gradients were not computed (left as they were).
    assert all(bool((grad == 7.0).all()) for grad in partial.weight_grads)


def test_rendering_allocates_no_training_state():
    spec = INRSpec("siren", hidden_features=8, hidden_layers=1)
    theta = torch.as_tensor(np.stack([spec.init_theta(s) for s in range(2)]))
    net = BatchedINR(spec, theta, make_coordinates((5, 5)), training=False)
    training = BatchedINR(spec, theta, make_coordinates((5, 5)))
    torch.testing.assert_close(net.forward(), training.forward())
    assert net.flat.grad is None
    expected = {"act", "pre", "cast", "output"}
    assert all(set(b) == expected for b in net._buffers.values())


def test_chunks_depend_on_the_image_size_only():
    for n_pixels in (63, 64, 144, 1024, 57600):
        images, pixels = chunk_shape(n_pixels)
        assert pixels % PIXEL_ALIGN == 0 and pixels <= padded_pixels(n_pixels)
        assert images * pixels <= max(4096, pixels)
    assert padded_pixels(144) == 192 and padded_pixels(1024) == 1024


def test_an_image_larger_than_a_chunk_fills_its_chunks_alone():
    # Up to CHUNK_ROWS pixels: 1,024 at a time, four images to a chunk, as
    # always (their cache keys are unchanged).
    assert chunk_shape(64 * 64) == (4, 1024) and chunk_key(64 * 64) == {}
    # Larger: CHUNK_ROWS of one image's pixels at a time, keyed apart from
    # the entries of the old rule (1,024 at a time).
    assert chunk_shape(64 * 64 + 1) == (1, 4096)
    assert chunk_shape(240 * 240) == (1, 4096)
    assert chunk_key(240 * 240) == {"chunk_pixels": 4096}
    # CUDA's chunks are as they were: whole images up to 2**18 pixels.
    assert chunk_shape(240 * 240, "cuda") == (4, 57600)
    assert chunk_shape(1024 * 1024, "cuda") == (1, 2**18)


def test_theta_round_trips_through_the_padded_layout():
    spec = INRSpec("siren", hidden_features=5, hidden_layers=1, out_features=1)
    theta = torch.as_tensor(np.stack([spec.init_theta(s) for s in range(3)]))
    net = BatchedINR(spec, theta, make_coordinates((3, 3)))
    torch.testing.assert_close(net.theta(), theta, rtol=0, atol=0)
    assert net.flat.shape[1] % PIXEL_ALIGN == 0
    # The output layer's zero row stays zero through training.
    optimizer = make_adam(net.params, 1e-2)
    for _ in range(3):
        net.backward(torch.rand(3, 9, 1), "bce")
        optimizer.step()
    assert bool((net.weights[-1][:, 1:] == 0).all())
    assert bool((net.biases[-1][:, 1:] == 0).all())
    other = BatchedINR(spec, theta[:1].expand(3, -1), make_coordinates((3, 3)))
    other.load_theta(net.theta())
    torch.testing.assert_close(other.theta(), net.theta(), rtol=0, atol=0)


@pytest.mark.parametrize("model", ["siren", "relu"])
def test_bf16_products_give_nearly_the_float32_gradient(model):
    spec = INRSpec(model, hidden_features=64, hidden_layers=3)
    theta = torch.as_tensor(np.stack([spec.init_theta(s) for s in range(3)]))
    coords = make_coordinates((16, 16))
    targets = torch.rand((3, 256, 1), generator=torch.Generator().manual_seed(0))
    grads, losses = [], []
    for gemm_dtype in (None, torch.bfloat16):
        net = BatchedINR(spec, theta, coords, gemm_dtype=gemm_dtype)
        losses.append(net.backward(targets, "bce", return_losses=True))
        grads.append(net.grad_theta())
        assert net.flat.dtype == net.flat.grad.dtype == torch.float32
    error = (grads[1] - grads[0]).norm() / grads[0].norm()
    assert 1e-5 < error < 3e-2  # rounded, but by bfloat16's 2**-9, not more
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-2, atol=0)


def test_bf16_keeps_the_first_and_output_layers_in_float32():
    spec = INRSpec("siren", hidden_features=16, hidden_layers=2)
    assert gemm_layers(spec, low_precision=True) == {1, 2}
    assert gemm_layers(
        INRSpec("relu", hidden_features=16, hidden_layers=2), low_precision=True
    ) == {1, 2}
    assert gemm_layers(spec, low_precision=False) == frozenset()
    theta = torch.as_tensor(spec.init_theta(0))[None]
    net = BatchedINR(spec, theta, make_coordinates((8, 8)), gemm_dtype=torch.bfloat16)
    net.backward(torch.rand((1, 64, 1)), "mse")
    (buffers,) = net._buffers.values()
    assert [t.dtype for t in buffers["pre"]] == [torch.float32] + [torch.bfloat16] * 2
    assert buffers["output"].dtype == torch.float32


def test_batched_inr_implements_the_engine_interface():
    spec = INRSpec("siren", hidden_features=6, hidden_layers=2)
    theta = torch.as_tensor(
        np.stack([spec.init_theta(s) for s in range(3)]), dtype=torch.float64
    )
    net = BatchedINR(spec, theta, make_coordinates((4, 3), dtype=torch.float64))
    assert isinstance(net, Engine)
    assert net.dtype == torch.float64 and net.device.type == "cpu"
    net.backward(torch.rand(3, 12, 1, dtype=torch.float64), "bce")
    grads = net.get_bias_grads([1, 2])
    assert grads.shape == (3, 2, 6)
    _, bias_grads = unflatten_theta(net.grad_theta(), spec.layer_shapes)
    torch.testing.assert_close(grads[:, 1], bias_grads[2], rtol=0, atol=0)
    assert grads.abs().max() > 0
    new = net.get_biases([1, 2]) + 1.0
    net.set_biases([1, 2], new)
    _, biases = unflatten_theta(net.theta(), spec.layer_shapes)
    torch.testing.assert_close(biases[1], new[:, 0], rtol=0, atol=0)
    torch.testing.assert_close(biases[0], theta[:, 12:18], rtol=0, atol=0)
    # render: other networks on the same grid, as render_batch gives them.
    torch.testing.assert_close(
        net.render(theta[:2]),
        render_batch(spec, theta[:2], net.coords),
        rtol=0,
        atol=0,
    )
