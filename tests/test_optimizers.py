import numpy as np
import pytest
import torch

from sklearn_inr import INRSpec
from sklearn_inr.fitting import FitSettings, SharedInit, WeightsTrainer, run_fits

SPEC = INRSpec(hidden_features=8, hidden_layers=1)


def _fit(images, theta, n_steps, step_sizes=None, **settings):
    settings = FitSettings(lr=1e-3, n_steps=n_steps, dtype=torch.float64, **settings)
    return run_fits(images[..., None], SPEC, settings, SharedInit(theta),
                    WeightsTrainer(step_sizes=step_sizes), device="cpu")  # fmt: skip


def _images(n):
    return np.random.default_rng(0).uniform(size=(n, 6, 6))


def test_learned_steps_are_plain_gradient_steps():
    # One learned step is theta - sizes * grad (the inner loop of the task
    # init checks it against autograd, test_task_init.py): the move is
    # linear in the sizes.
    images, theta = _images(1), SPEC.init_theta(0)
    sizes = np.random.default_rng(1).uniform(0.0, 0.1, (1, SPEC.n_params))
    after = _fit(images, theta, 1, sizes).theta[0]
    nudged = _fit(images, theta, 1, sizes * 2).theta[0]
    # Linear in the step size: twice the sizes, twice the move.
    np.testing.assert_allclose(nudged - theta, 2 * (after - theta), rtol=1e-10)
    assert not np.allclose(after, theta)


def test_the_next_optimizer_starts_fresh_after_the_learned_steps():
    # Two learned steps then three Adam steps equal two learned steps, then
    # a new Adam fit of three steps from where they ended.
    images, theta = _images(1), SPEC.init_theta(0)
    sizes = np.random.default_rng(1).uniform(0.0, 0.05, (2, SPEC.n_params))
    together = _fit(images, theta, 5, sizes).theta[0]
    learned = _fit(images, theta, 2, sizes).theta[0]
    then = _fit(images, learned, 3).theta[0]
    np.testing.assert_array_equal(together, then)


@pytest.mark.parametrize("target_psnr", [None, 60.0])
def test_learned_steps_give_each_image_its_own_bits(target_psnr):
    images, theta = _images(4), SPEC.init_theta(0)
    sizes = np.random.default_rng(1).uniform(0.0, 0.05, (3, SPEC.n_params))
    kwargs = dict(target_psnr=target_psnr, check_every=1)
    together = _fit(images, theta, 8, sizes, **kwargs).theta
    for row in range(4):
        alone = _fit(images[[row]], theta, 8, sizes, **kwargs).theta[0]
        np.testing.assert_array_equal(alone, together[row])
