import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import binomtest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_inr.estimators._strategies as strategies
import sklearn_inr.learned._task_init as task_init
from sklearn_inr import (
    INRFeaturizer,
    INRSpec,
    LabelLeakWarning,
    make_coordinates,
    render_inrs,
    task_learn_init,
)
from sklearn_inr.core import render_batch
from sklearn_inr.datasets import load_brats_slices, make_brats_like
from sklearn_inr.fitting import FitSettings, SharedInit, WeightsTrainer, run_fits
from sklearn_inr.learned import TASK_STEP_SIZE, task_init_size, unpack_task_init
from sklearn_inr.learned._weight_transformer import WeightTransformer

SPEC = INRSpec(hidden_features=8, hidden_layers=1, omega_0=10.0)
# Tiny networks and budgets: every fit in this module takes well under a second.
TASK = dict(
    init="task", hidden_features=8, hidden_layers=1, omega_0=10.0, lr=1e-3,
    n_steps=10, meta_steps=20, inner_steps=3, meta_batch_size=16, device="cpu",
    random_state=0,
)  # fmt: skip


def _noise(n, seed=0, side=8):
    return np.random.default_rng(seed).uniform(size=(n, side, side)).astype(np.float32)


@pytest.mark.parametrize("model", ["siren", "relu"])
def test_inner_losses_are_the_engines(model):
    # The differentiable inner loop reads the core's functional forward: its
    # losses are those of the engine's outputs (float64, to rounding).
    spec = INRSpec(model, hidden_features=8, hidden_layers=2, out_features=2)
    theta = torch.tensor(
        np.stack([spec.init_theta(s) for s in range(3)]), dtype=torch.float64
    )
    coords = make_coordinates((5, 4), dtype=torch.float64)
    targets = torch.rand((3, 20, 2), dtype=torch.float64,
                         generator=torch.Generator().manual_seed(0))  # fmt: skip
    outputs = render_batch(spec, theta, coords)
    expected = F.binary_cross_entropy_with_logits(
        outputs, targets, reduction="none"
    ).mean(dim=(1, 2))
    np.testing.assert_allclose(
        task_init.image_losses(spec, theta, coords, targets, "bce").numpy(),
        expected.numpy(), rtol=1e-12,
    )  # fmt: skip


def _learned_steps(n_steps, seed=0):
    """Step sizes like a task init's: random factors, the output layer zero."""
    factors = np.random.default_rng(seed).uniform(0.1, 1.0, (n_steps, SPEC.n_params))
    return TASK_STEP_SIZE * factors * task_init._adapted_mask(SPEC)


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_inner_loop_is_the_fits_learned_steps(loss):
    # The differentiable inner loop adapts exactly as transform() fits: the
    # runner's learned steps, in float64 to rounding, then Adam takes over.
    images = _noise(3)[..., None]
    phi, sizes = SPEC.init_theta(0), _learned_steps(4)
    settings = FitSettings(loss=loss, lr=1e-3, n_steps=4, dtype=torch.float64)
    engine = run_fits(images, SPEC, settings, SharedInit(phi),
                      WeightsTrainer(step_sizes=sizes), device="cpu")  # fmt: skip
    coords = make_coordinates((8, 8), dtype=torch.float64)
    targets = torch.tensor(images.reshape(3, -1, 1), dtype=torch.float64)
    theta, losses = task_init.adapt(
        SPEC, torch.tensor(phi, dtype=torch.float64), coords, targets, loss=loss,
        step_sizes=torch.tensor(sizes, dtype=torch.float64),
    )  # fmt: skip
    np.testing.assert_allclose(theta.detach().numpy(), engine.theta, atol=1e-9)
    np.testing.assert_allclose(
        losses.detach().numpy(), engine.loss_history[:, -1], rtol=1e-9
    )
    # The output layer is shared: its step sizes are zero, it did not move.
    output_layer = task_init._adapted_mask(SPEC) == 0
    np.testing.assert_array_equal(engine.theta[:, output_layer],
                                  np.tile(phi[output_layer], (3, 1)))  # fmt: skip
    # After the learned steps, the fit's own optimizer: two more steps move
    # every parameter, the output layer's too.
    settings = FitSettings(loss=loss, lr=1e-3, n_steps=6, dtype=torch.float64)
    longer = run_fits(images, SPEC, settings, SharedInit(phi),
                      WeightsTrainer(step_sizes=sizes), device="cpu")  # fmt: skip
    assert (longer.theta[:, output_layer] != phi[output_layer]).all()


def _init_gradients(second_order):
    """Gradients on the init and the step sizes of a classifier's loss."""
    images = _noise(6)
    phi = torch.tensor(SPEC.init_theta(0), dtype=torch.float64, requires_grad=True)
    sizes = torch.tensor(_learned_steps(3), dtype=torch.float64, requires_grad=True)
    coords = make_coordinates((8, 8), dtype=torch.float64)
    targets = torch.tensor(images.reshape(6, -1, 1), dtype=torch.float64)
    theta, _ = task_init.adapt(
        SPEC, phi, coords, targets, loss="bce", step_sizes=sizes,
        second_order=second_order,
    )  # fmt: skip
    torch.manual_seed(0)
    head = WeightTransformer(SPEC, n_classes=2, depth=1).double()
    logits = head(theta - phi)
    F.cross_entropy(logits, torch.tensor([0, 1, 0, 1, 0, 1])).backward()
    return phi.grad.abs().max().item(), sizes.grad.abs().max().item()


def test_classification_reaches_the_init_only_through_second_order_terms():
    # As documented: first order, the offsets are constants times the step
    # sizes, so the classifier's loss reaches the step sizes but not the
    # init; second order, it reaches both.
    init_first, sizes_first = _init_gradients(second_order=False)
    assert init_first == 0.0 and sizes_first > 0
    init_second, _ = _init_gradients(second_order=True)
    assert init_second > 0


def test_task_init_packs_the_init_and_learned_step_sizes():
    images, y = _noise(8), np.tile([0, 1], 4)
    kwargs = dict(meta_steps=5, inner_steps=3, head_depth=1, random_state=0)
    params = task_learn_init(images, y, SPEC, **kwargs)
    assert params.shape == (task_init_size(SPEC, 3),) and params.dtype == np.float32
    theta, sizes = unpack_task_init(params, SPEC)
    assert theta.shape == (SPEC.n_params,) and sizes.shape == (3, SPEC.n_params)
    # The output layer's sizes stay zero; the others were learned from their
    # start (uniform in [0.1, 1] times inner_lr), and so was the init.
    adapted = task_init._adapted_mask(SPEC) == 1
    assert (sizes[:, ~adapted] == 0).all()
    start = np.random.default_rng(0)
    assert not np.allclose(theta, SPEC.init_theta(start))
    factors = sizes[:, adapted] / TASK_STEP_SIZE
    assert not np.allclose(factors, start.uniform(0.1, 1.0, factors.shape))
    # Seeded: the same random_state learns the same bits.
    np.testing.assert_array_equal(task_learn_init(images, y, SPEC, **kwargs), params)
    with pytest.raises(ValueError, match="n_params"):
        unpack_task_init(params[:-1], SPEC)


def test_an_images_task_fit_does_not_depend_on_its_company():
    # The learned steps are elementwise: same bits alone or in a batch.
    images, y = _noise(12), np.tile([0, 1], 6)
    featurizer = INRFeaturizer(**TASK).fit(images, y)
    together = featurizer.transform(images)
    alone = (
        INRFeaturizer(**{**TASK, "batch_size": 1}).fit(images, y).transform(images[[5]])
    )
    np.testing.assert_array_equal(alone[0], together[5])


def test_batches_hold_every_class_the_batch_can():
    # The task rule refines the loop's sampling: a rare class is in every
    # batch, the rows stay distinct and sorted, and the seed decides them.
    y = np.repeat([0, 1, 2], [8, 1, 1])
    for seed in range(20):
        rows = task_init._batch_rows(np.random.default_rng(seed), y, 3)
        assert set(y[rows]) == {0, 1, 2} and (np.diff(rows) > 0).all()
    again = task_init._batch_rows(np.random.default_rng(19), y, 3)
    np.testing.assert_array_equal(rows, again)
    np.testing.assert_array_equal(task_init._batch_rows(None, y, 10), np.arange(10))


def test_pure_noise_with_random_labels_stays_at_chance():
    # The noise control: INRs of pure-noise images carry nothing about random
    # labels, so a pipeline whose featurizer reads the labels in fit must
    # stay at chance on test folds grouped by "patient".
    n = 80
    images = _noise(n, seed=1)
    y = np.random.default_rng(2).permutation(np.repeat([0, 1], n // 2))
    groups = np.repeat(np.arange(n // 4), 4)
    pipeline = make_pipeline(
        INRFeaturizer(**TASK), StandardScaler(), LogisticRegression(max_iter=2000)
    )
    cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
    predicted = cross_val_predict(pipeline, images, y, groups=groups, cv=cv)
    correct = int((predicted == y).sum())
    assert binomtest(correct, n, 0.5).pvalue > 0.01, correct


def test_the_noise_control_catches_a_leak():
    # The same check flags the paper's weight transfer on the same noise
    # (features of all images fitted with their labels, then split): the
    # control has the power to fail.
    n = 80
    images = _noise(n, seed=1)
    y = np.random.default_rng(2).permutation(np.repeat([0, 1], n // 2))
    groups = np.repeat(np.arange(n // 4), 4)
    leaky = INRFeaturizer(**{**TASK, "init": "shared", "warm_start_by_class": True})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LabelLeakWarning)
        theta = leaky.fit_transform(images, y)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
    predicted = cross_val_predict(classifier, theta, y, groups=groups, cv=cv)
    correct = int((predicted == y).sum())
    assert binomtest(correct, n, 0.5).pvalue < 0.01, correct


def test_learns_digits_on_held_out_images():
    digits = load_digits(n_class=2)
    images, y = (digits.images / 16.0).astype(np.float32), digits.target
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))[:120]
    train, test = order[:60], order[60:]
    featurizer = INRFeaturizer(**{**TASK, "hidden_features": 16, "n_steps": 20})
    pipeline = make_pipeline(
        featurizer, StandardScaler(), LogisticRegression(max_iter=2000)
    )
    pipeline.fit(images[train], y[train])
    assert pipeline.score(images[test], y[test]) > 0.9


def test_transform_never_reads_labels_and_fit_transform_agrees():
    images = _noise(12)
    y = np.tile([0, 1], 6)
    featurizer = INRFeaturizer(**TASK)
    theta = featurizer.fit_transform(images, y)
    # The init is learned (it moved from the shared draw) and used by
    # transform, which has no y.
    shared = INRFeaturizer(**{**TASK, "init": "shared"}).fit(images)
    learned_init = unpack_task_init(featurizer.init_params_, SPEC)[0]
    assert not np.allclose(learned_init, shared.init_params_)
    np.testing.assert_array_equal(featurizer.transform(images), theta)
    # Other labels learn another init.
    other = INRFeaturizer(**TASK).fit(images, np.repeat([0, 1], 6))
    assert not np.array_equal(other.init_params_, featurizer.init_params_)


def test_learned_init_is_cached_by_images_and_labels(tmp_path, monkeypatch):
    calls = []
    original = strategies.task_learn_init

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(strategies, "task_learn_init", counting)
    images = _noise(12)
    y = np.tile([0, 1], 6)
    first = INRFeaturizer(**TASK, memory=tmp_path).fit(images, y)
    again = INRFeaturizer(**TASK, memory=tmp_path).fit(images, y)
    assert len(calls) == 1
    np.testing.assert_array_equal(again.init_params_, first.init_params_)
    # Relabelling the same images is a miss: the labels are in the key.
    INRFeaturizer(**TASK, memory=tmp_path).fit(images, np.repeat([0, 1], 6))
    assert len(calls) == 2


@pytest.mark.parametrize(
    "y, params, match",
    [
        (None, {}, "needs y"),
        (np.zeros(6), {}, "at least two"),
        (np.linspace(0, 1, 6), {}, "Unknown label type"),
        (np.tile([0, 1], 3), {"features": "shift"}, "features='weights'"),
        (np.tile([0, 1], 3), {"hidden_layers": 0}, "hidden_layers >= 1"),
    ],
)
def test_bad_labels_and_settings_say_what_to_do(y, params, match):
    featurizer = INRFeaturizer(**{**TASK, **params})
    with pytest.raises(ValueError, match=match):
        featurizer.fit(_noise(6), y)
    assert not hasattr(featurizer, "init_params_")


def test_identical_images_and_zero_offsets_stay_finite():
    # Identical images adapt identically; offsets that are all zero (no step
    # moved them) keep the classifier's token scale at 1 instead of
    # dividing by zero.
    params = task_learn_init(
        np.full((4, 4, 4), 0.5), [0, 1, 0, 1], SPEC, meta_steps=2, inner_steps=1,
        head_depth=1, random_state=0,
    )  # fmt: skip
    assert np.isfinite(params).all()
    head = WeightTransformer(SPEC, n_classes=2, depth=1)
    assert torch.isfinite(head(torch.zeros(3, SPEC.n_params))).all()
    assert float(head.token_scale) == 1.0


def test_function_checks_its_labels():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        task_learn_init(_noise(6), [0, 1, 0], SPEC, meta_steps=1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda_like_on_cpu():
    images, y = _noise(8), np.tile([0, 1], 4)
    kwargs = dict(meta_steps=3, inner_steps=2, inner_lr=1e-3, meta_lr=1e-3,
                  random_state=0, dtype=torch.float64)  # fmt: skip
    cpu = task_learn_init(images, y, SPEC, device="cpu", **kwargs)
    cuda = task_learn_init(images, y, SPEC, device="cuda", **kwargs)
    np.testing.assert_allclose(cuda, cpu, atol=1e-5)


def test_fits_from_a_task_init_reach_the_target_on_anatomy(tmp_path):
    # The failure this init once had: fits from it stuck far below the
    # target on real anatomy. MNI152-based cohort slices (the brain of the
    # package's synthetic BraTS cohort) reach 35 dB from it, and its learned
    # steps alone already raise the PSNR above the init's.
    root = make_brats_like(tmp_path / "cohort", n_patients=8, shape=(64, 64, 16))
    slices = load_brats_slices(root, size=24)
    settings = dict(
        init="task", hidden_features=32, hidden_layers=2, loss="mse", lr=1e-3,
        meta_steps=10, inner_steps=6, meta_batch_size=8, device="cpu",
        random_state=0,
    )  # fmt: skip
    featurizer = INRFeaturizer(**settings, n_steps=300, target_psnr=35.0,
                               check_every=1)  # fmt: skip
    featurizer.fit(slices.images, slices.target)
    assert featurizer.converged_.all(), featurizer.train_psnr_
    assert (featurizer.train_psnr_ >= 35.0).all()
    learned_steps_only = INRFeaturizer(**settings, n_steps=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        learned_steps_only.fit(slices.images, slices.target)
    init = unpack_task_init(learned_steps_only.init_params_, featurizer.spec_)[0]
    start = render_inrs(init[None], (24, 24), loss="mse", hidden_features=32,
                        hidden_layers=2)[0, ..., 0]  # fmt: skip
    init_psnr = -10 * np.log10(((start - slices.images) ** 2).mean(axis=(1, 2)))
    assert (learned_steps_only.train_psnr_ > init_psnr + 1).all()


@pytest.mark.parametrize("width", [8, 64, 200])
def test_the_transformer_splits_any_width_into_whole_heads(width):
    spec = INRSpec(hidden_features=width, hidden_layers=1)
    head = WeightTransformer(spec, n_classes=2, depth=1)
    assert width % head.blocks[0].n_heads == 0
    assert head(torch.randn(2, spec.n_params)).shape == (2, 2)
