import numpy as np
import torch

from sklearn_inr import INRSpec, make_coordinates, shifts_to_theta
from sklearn_inr.core._engine import BatchedINR
from sklearn_inr.fitting._training import ShiftTrainer, WeightsTrainer, train


def _batch(spec, n=2, side=5, seed=0):
    rng = np.random.default_rng(seed)
    targets = torch.as_tensor(
        rng.uniform(size=(n, side * side, 1)), dtype=torch.float32
    )
    theta = torch.as_tensor(spec.init_theta(0)).expand(n, -1)
    return BatchedINR(spec, theta, make_coordinates((side, side))), targets


def test_hook_runs_after_every_step_and_history_records_the_asked_steps():
    spec = INRSpec(hidden_features=8, hidden_layers=1)
    net, targets = _batch(spec)
    seen = []
    history, output, features, n_steps = train(
        net, WeightsTrainer().bind(net), targets, loss="bce", lr=1e-2, n_steps=7,
        record_steps=[0, 3, 6], on_step=seen.append,
    )  # fmt: skip
    np.testing.assert_array_equal(n_steps, [7, 7])
    torch.testing.assert_close(features, net.theta(), rtol=0, atol=0)
    assert seen == list(range(7))
    assert history.shape == (2, 4)
    assert (history[:, -1] < history[:, 0]).all()
    # The final column is the loss of the returned reconstruction.
    expected = torch.nn.functional.binary_cross_entropy(
        output, targets, reduction="none"
    ).mean(dim=(1, 2))
    torch.testing.assert_close(history[:, -1], expected, rtol=1e-5, atol=1e-6)


def test_without_final_pass_nothing_is_rendered():
    spec = INRSpec(hidden_features=8, hidden_layers=1)
    net, targets = _batch(spec)
    bound = WeightsTrainer().bind(net)
    history, output, _, _ = train(
        net, bound, targets, loss="mse", lr=1e-2, n_steps=2, final=False
    )
    assert output is None and history.shape == (2, 0)


def test_shift_trainer_moves_only_the_hidden_biases():
    spec = INRSpec(hidden_features=6, hidden_layers=2)
    net, targets = _batch(spec, n=3)
    start = net.theta().clone()
    bound = ShiftTrainer(spec.init_theta(0)).bind(net)
    shifts = train(net, bound, targets, loss="bce", lr=1e-2, n_steps=5).features
    assert shifts.shape == (3, 12) and shifts.abs().min() > 0
    # The network's theta is the base with the shifts added, nothing else.
    expected = shifts_to_theta(shifts.numpy(), spec.init_theta(0), spec)
    np.testing.assert_array_equal(net.theta().numpy(), expected)
    assert not torch.equal(net.theta(), start)


def test_trainer_keys_tell_bases_apart():
    spec = INRSpec(hidden_features=4, hidden_layers=1)
    assert WeightsTrainer().key() == {}
    keys = {str(ShiftTrainer(spec.init_theta(s)).key()) for s in range(3)}
    assert len(keys) == 3
    assert WeightsTrainer().n_features(spec) == spec.n_params
    assert ShiftTrainer(None).n_features(spec) == 4


def test_history_grows_with_the_steps_taken_not_the_cap():
    # A cap of 10**8 steps that the target stops at once: the history holds
    # the steps taken (a cap-sized one was 40 MB per image, and its lookup
    # of recorded steps 1 GB).
    spec = INRSpec(hidden_features=8, hidden_layers=1)
    net, targets = _batch(spec)
    history, _, _, n_steps = train(
        net, WeightsTrainer().bind(net), targets, loss="mse", lr=1e-2,
        n_steps=10**8, record_steps=range(0, 10**8, 10), target_psnr=1.0,
    )  # fmt: skip
    assert (n_steps < 100).all()
    assert history.shape == (2, len(range(0, int(n_steps.max()), 10)) + 1)
    assert torch.isfinite(history).all()


def test_range_and_list_of_record_steps_record_the_same():
    spec = INRSpec(hidden_features=8, hidden_layers=1)
    out = []
    for steps in (range(0, 300), list(range(0, 300))):
        net, targets = _batch(spec)
        out.append(train(net, WeightsTrainer().bind(net), targets, loss="bce",
                         lr=1e-2, n_steps=300, record_steps=steps))  # fmt: skip
    # More records than one growth block: the history was grown, not lost.
    assert out[0].history.shape == (2, 301)
    torch.testing.assert_close(out[0].history, out[1].history, rtol=0, atol=0)
    assert torch.isfinite(out[0].history).all()


def test_on_record_sees_the_losses_and_changes_no_number():
    spec = INRSpec(hidden_features=8, hidden_layers=1)
    seen, results = [], []
    for on_record in (None, lambda step, losses, mse: seen.append((step, mse))):
        net, targets = _batch(spec)
        results.append(train(
            net, WeightsTrainer().bind(net), targets, loss="bce", lr=1e-2,
            n_steps=12, record_steps=range(0, 12, 5), on_record=on_record,
        ))  # fmt: skip
    assert [step for step, _ in seen] == [0, 5, 10]
    assert all(mse is not None and mse.shape == (2,) for _, mse in seen)
    for a, b in zip(results[0][:3], results[1][:3]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
