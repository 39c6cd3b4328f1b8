"""The learned inits' one outer loop: checks, sampling, progress, divergence."""

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_inr import INRSpec
from sklearn_inr.learned import (
    INIT_GROWTH_LIMIT,
    AutogradRule,
    OuterRule,
    meta_learn_init,
    meta_learn_latent,
    meta_learn_shift_base,
    outer_loop,
    prepare,
    sample_rows,
    task_learn_init,
)

SPEC = INRSpec(hidden_features=4, hidden_layers=1)
IMAGES = np.random.default_rng(0).uniform(size=(6, 4, 4)).astype(np.float32)
LABELS = np.tile([0, 1], 3)
TINY = {"meta_steps": 2, "inner_steps": 1, "meta_batch_size": 2, "device": "cpu"}

# Every learner, called on images (labels for the task-aware one), by the
# name of its progress bar.
LEARNERS = {
    "Meta-learning init (Reptile)": lambda X, **kw: meta_learn_init(X, SPEC, **kw),
    "Meta-learning shift base": lambda X, **kw: meta_learn_shift_base(X, SPEC, **kw),
    "Task-aware init": lambda X, **kw: task_learn_init(X, LABELS, SPEC, **kw),
    "Meta-learning latents": lambda X, **kw: meta_learn_latent(
        X, SPEC, latent_dim=2, **kw
    ),
}
FUNCTIONS = [meta_learn_init, meta_learn_shift_base, task_learn_init, meta_learn_latent]


def _problem(**kwargs):
    params = dict(init_theta=None, loss="bce", random_state=0, device="cpu",
                  dtype=torch.float32)  # fmt: skip
    return prepare(IMAGES, SPEC, **{**params, **kwargs})


class _Recorder(OuterRule):
    """Records each step's rows; its outer update is ``values`` (one per step)."""

    description = "Recording rule"
    inner_lr, meta_lr = 0.5, 0.25

    def __init__(self, values=None):
        self.values = values
        self.rows, self.updates = [], 0

    def start(self, problem, batch_size):
        self.batch_size = batch_size

    def outer_gradient(self, rows):
        self.rows.append(rows)
        value = 0.0 if self.values is None else self.values[len(self.rows) - 1]
        return [torch.zeros(3), torch.tensor([value])]

    def update(self):
        self.updates += 1

    def result(self):
        return np.asarray(self.rows)


# ------------------------------------------------------------- divergence
@pytest.mark.parametrize("description", LEARNERS)
def test_every_rule_names_its_divergence_and_learning_rates(description):
    # omega_0 * W x overflows from a huge start: every rule's outer update
    # is non-finite, and the one error names the rule and both rates.
    huge = np.full(SPEC.n_params, 1e38, dtype=np.float32)
    with pytest.raises(ValueError, match="diverged") as error:
        LEARNERS[description](
            IMAGES, init_theta=huge, inner_lr=0.125, meta_lr=0.5, **TINY
        )
    message = str(error.value)
    assert message.startswith(f"{description} diverged")
    assert "inner_lr=0.125" in message and "meta_lr=0.5" in message
    assert "Lower the learning rates" in message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_divergence_stops_before_the_update(bad):
    rule = _Recorder(values=[0.0, bad, 0.0, 0.0])
    with pytest.raises(ValueError, match="Recording rule diverged .* inner_lr=0.5"):
        outer_loop(rule, _problem(), meta_steps=4, meta_batch_size=2)
    # The first step was applied, the second was checked and never applied.
    assert len(rule.rows) == 2 and rule.updates == 1


class _Growing(_Recorder):
    """Learns an init (from problem.init_theta) that grows ``factor``x a step."""

    description = "Growing rule"

    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def start(self, problem, batch_size):
        self.phi = torch.as_tensor(problem.init_theta).clone()

    def update(self):
        super().update()
        self.phi.mul_(self.factor)

    def watched(self):
        return (self.phi,)


def test_an_init_that_grows_by_orders_of_magnitude_diverged():
    # No NaN ever: sin is bounded, so a SIREN init in the thousands gives
    # finite, meaningless fits. The loop stops it by its size.
    rule = _Growing(factor=11.0)
    with pytest.raises(ValueError, match=r"Growing rule diverged: the learned "
                       r"init's RMS grew .* in 2 outer step\(s\) .*meta_lr=0.25\. "
                       r"Lower meta_lr"):  # fmt: skip
        outer_loop(rule, _problem(), meta_steps=10, meta_batch_size=2)
    assert rule.updates == 2
    # Growth within INIT_GROWTH_LIMIT is learning, not divergence.
    rule = _Growing(factor=INIT_GROWTH_LIMIT ** (1 / 10) * 0.99)
    outer_loop(rule, _problem(), meta_steps=10, meta_batch_size=2)
    assert rule.updates == 10


def test_a_start_of_zeros_is_not_grown_by_a_first_step():
    zeros = np.zeros(SPEC.n_params, dtype=np.float32)
    theta = meta_learn_init(IMAGES, SPEC, init_theta=zeros, random_state=0, **TINY)
    assert np.abs(theta).max() > 0


@pytest.mark.parametrize("description", LEARNERS)
def test_every_rule_stops_a_huge_meta_lr(description):
    # meta_lr=1e6 passes the parameter checks; the init it learns has values
    # in the thousands (Reptile) or millions (Adam rules), never NaN first.
    with pytest.raises(ValueError, match="learned init's RMS grew") as error:
        LEARNERS[description](IMAGES, meta_lr=1e6, random_state=0, **TINY)
    assert str(error.value).startswith(f"{description} diverged")
    assert "meta_lr=1e+06" in str(error.value)


# --------------------------------------------------------------- sampling
def test_sample_rows_draws_sorted_distinct_rows_from_the_seed():
    rows = sample_rows(np.random.default_rng(3), 10, 4)
    assert rows.shape == (4,) and len(set(rows)) == 4
    assert (np.diff(rows) > 0).all() and rows.min() >= 0 and rows.max() < 10
    np.testing.assert_array_equal(rows, sample_rows(np.random.default_rng(3), 10, 4))
    # A batch that holds every image takes them all and draws nothing.
    rng = np.random.default_rng(3)
    np.testing.assert_array_equal(sample_rows(rng, 3, 5), [0, 1, 2])
    untouched = np.random.default_rng(3)
    assert rng.integers(1 << 30) == untouched.integers(1 << 30)


def test_batches_follow_random_state_and_meta_batch_size():
    def run(seed, batch):
        rule = _Recorder()
        rows = outer_loop(rule, _problem(random_state=seed), meta_steps=5,
                          meta_batch_size=batch)  # fmt: skip
        return rule, rows

    first, rows = run(0, 2)
    np.testing.assert_array_equal(rows, run(0, 2)[1])
    assert not np.array_equal(rows, run(1, 2)[1])
    assert rows.shape == (5, 2) and first.batch_size == 2 and first.updates == 5
    # More than the images: every image at every step.
    whole, rows = run(0, 100)
    assert whole.batch_size == len(IMAGES)
    np.testing.assert_array_equal(rows, np.tile(np.arange(len(IMAGES)), (5, 1)))


# --------------------------------------------------------------- progress
@pytest.mark.parametrize("description", LEARNERS)
def test_progress_bar_counts_outer_steps(description, capsys):
    LEARNERS[description](
        IMAGES, verbose=1, random_state=0, **{**TINY, "meta_steps": 3}
    )
    err = capsys.readouterr().err
    assert description in err and "3/3" in err


def test_no_progress_bar_by_default(capsys):
    meta_learn_init(IMAGES, SPEC, random_state=0, **TINY)
    assert capsys.readouterr().err == ""


# -------------------------------------------------------------- arguments
@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "name, value",
    [("meta_steps", 0), ("inner_lr", 0.0), ("meta_lr", -1.0),
     ("meta_batch_size", 0), ("loss", "l1"), ("dtype", "float32"),
     ("device", 3)],
)  # fmt: skip
def test_argument_errors_name_the_parameter_and_the_function(function, name, value):
    args = (IMAGES, LABELS, SPEC) if function is task_learn_init else (IMAGES, SPEC)
    with pytest.raises(InvalidParameterError,
                       match=f"'{name}' parameter of {function.__name__}"):  # fmt: skip
        function(*args, **{name: value})


@pytest.mark.parametrize("description", LEARNERS)
def test_every_learner_checks_init_theta_and_images(description):
    learner = LEARNERS[description]
    shape = rf"\({SPEC.n_params},\)"
    with pytest.raises(ValueError, match=f"init_theta must have shape {shape}"):
        learner(IMAGES, init_theta=np.zeros(5), **TINY)
    with pytest.raises(ValueError, match="NaN"):
        learner(np.where(IMAGES > 0.5, np.nan, IMAGES), **TINY)


def test_prepare_copies_the_start_and_draws_it_first():
    start = SPEC.init_theta(0)
    problem = _problem(init_theta=start)
    problem.init_theta[:] = 0  # the rule owns its copy
    assert np.abs(start).sum() > 0
    assert problem.targets.shape == (6, 16, 1) and problem.coords.shape == (16, 2)
    # Without a start, the generator draws it first: the same seed draws the
    # same start, and the batches come after it.
    drawn = _problem().init_theta
    np.testing.assert_array_equal(drawn, _problem().init_theta)
    assert drawn.dtype == np.float32 and drawn.shape == (SPEC.n_params,)


def test_prepare_reads_volumes_from_the_spec():
    spec = INRSpec(in_features=3, hidden_features=4, hidden_layers=1)
    volumes = np.random.default_rng(0).uniform(size=(3, 4, 6, 5))
    problem = prepare(volumes, spec, init_theta=None, loss="bce", random_state=0,
                      device="cpu", dtype=torch.float32)  # fmt: skip
    assert problem.targets.shape == (3, 120, 1) and problem.coords.shape == (120, 3)
    with pytest.raises(ValueError, match=r"\(n_images, D, H, W\)"):
        prepare(volumes[0], spec, init_theta=None, loss="bce", random_state=0,
                device="cpu", dtype=torch.float32)  # fmt: skip


# -------------------------------------------------------- autograd rules
class _Mean(AutogradRule):
    """Learn the mean image: the smallest new rule the loop runs."""

    description = "Mean image"
    inner_lr, meta_lr = 0.0, 0.1

    def start(self, problem, batch_size):
        self.targets = problem.targets
        self.mean = torch.zeros(problem.targets.shape[1:], requires_grad=True)
        self.optimizer = torch.optim.Adam([self.mean], lr=self.meta_lr)
        self.checked = [self.mean]
        self.projected = 0

    def objective(self, rows):
        return (self.targets[rows] - self.mean).square().mean()

    def after_update(self):
        self.projected += 1

    def result(self):
        return self.mean.detach().numpy()


def test_an_autograd_rule_is_an_objective_plugged_into_the_loop():
    rule = _Mean()
    mean = outer_loop(rule, _problem(), meta_steps=200, meta_batch_size=6)
    np.testing.assert_allclose(mean, IMAGES.reshape(6, -1, 1).mean(0), atol=1e-2)
    assert rule.projected == 200
