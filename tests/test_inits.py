import numpy as np
import pytest
import torch

from sklearn_inr import INRSpec
from sklearn_inr.fitting._inits import GivenInit, RandomInit, SharedInit, resolve_init
from sklearn_inr.fitting._seeds import image_seeds

SPEC = INRSpec(hidden_features=4, hidden_layers=1)


def _images(n=4):
    return np.random.default_rng(0).random((n, 3, 3)).astype(np.float32)


def test_shared_init_starts_every_row_from_the_same_theta():
    theta = SPEC.init_theta(0)
    init = SharedInit(theta)
    start = init.start(SPEC, [0, 2, 3], torch.float64, "cpu")
    assert start.dtype == torch.float64
    assert tuple(start.shape) == (3, SPEC.n_params)
    for row in start:
        np.testing.assert_array_equal(row.numpy(), theta.astype(np.float64))
    part = init.subset([3])
    np.testing.assert_array_equal(
        part.start(SPEC, [0], torch.float64, "cpu")[0].numpy(), theta
    )
    assert part.key(0) == init.key(3)


def test_shared_key_is_identical_across_rows_and_names_the_theta():
    init = SharedInit(SPEC.init_theta(0))
    assert len({init.key(row) for row in range(5)}) == 1
    assert SharedInit(SPEC.init_theta(0)).key(0) == init.key(0)
    assert SharedInit(SPEC.init_theta(1)).key(0) != init.key(0)


def test_random_init_differs_per_row_and_is_reproducible():
    seeds = np.array([11, 12, 13, 14])
    init = RandomInit(seeds)
    start = init.start(SPEC, range(4), torch.float32, "cpu").numpy()
    assert start.shape == (4, SPEC.n_params)
    for i in range(4):
        np.testing.assert_array_equal(start[i], SPEC.init_theta(int(seeds[i])))
        for j in range(i):
            assert not np.array_equal(start[i], start[j])
    again = RandomInit(seeds.copy()).start(SPEC, range(4), torch.float32, "cpu")
    np.testing.assert_array_equal(again.numpy(), start)


@pytest.mark.parametrize("rows", [[2, 0], [3], np.array([1, 2, 3])])
def test_random_subset_keeps_the_thetas_and_keys_of_its_rows(rows):
    init = RandomInit(np.array([11, 12, 13, 14]))
    full = init.start(SPEC, rows, torch.float32, "cpu")
    part = init.subset(rows)
    np.testing.assert_array_equal(
        part.start(SPEC, range(len(rows)), torch.float32, "cpu").numpy(), full.numpy()
    )
    assert [part.key(i) for i in range(len(rows))] == [init.key(r) for r in rows]


def test_random_key_depends_on_the_seed():
    init = RandomInit(np.array([11, 12, 11]))
    assert init.key(0) != init.key(1)
    assert init.key(0) == init.key(2)
    assert RandomInit(np.array([99, 12, 11])).key(0) != init.key(0)
    assert init.key(0) != SharedInit(SPEC.init_theta(11)).key(0)


def test_given_init_starts_each_row_from_its_theta():
    thetas = np.stack([SPEC.init_theta(k) for k in range(4)])
    init = GivenInit(thetas)
    start = init.start(SPEC, [3, 1], torch.float64, "cpu")
    np.testing.assert_array_equal(start.numpy(), thetas[[3, 1]])
    part = init.subset([3, 1])
    np.testing.assert_array_equal(
        part.start(SPEC, [0, 1], torch.float64, "cpu").numpy(), thetas[[3, 1]]
    )
    assert [part.key(0), part.key(1)] == [init.key(3), init.key(1)]


def test_given_key_depends_on_the_row_theta():
    thetas = np.stack([SPEC.init_theta(k) for k in (0, 1, 0)])
    init = GivenInit(thetas)
    assert init.key(0) != init.key(1)
    assert init.key(0) == init.key(2)
    changed = thetas.copy()
    changed[0, 5] += 1e-3
    assert GivenInit(changed).key(0) != init.key(0)
    assert GivenInit(changed).key(1) == init.key(1)


def test_resolve_shared_and_random():
    images = _images()
    shared = resolve_init("shared", SPEC, images, 0)
    assert isinstance(shared, SharedInit)
    np.testing.assert_array_equal(shared.theta, SPEC.init_theta(0))
    random = resolve_init("random", SPEC, images, 0)
    assert isinstance(random, RandomInit)
    np.testing.assert_array_equal(random.seeds, image_seeds(images, 0))
    assert len({random.key(row) for row in range(len(images))}) == len(images)
    start = random.start(SPEC, [1], torch.float32, "cpu").numpy()
    np.testing.assert_array_equal(start[0], SPEC.init_theta(int(random.seeds[1])))


def test_resolve_arrays():
    images = _images()
    theta = SPEC.init_theta(3)
    shared = resolve_init(theta, SPEC, images, None)
    assert isinstance(shared, SharedInit)
    np.testing.assert_array_equal(shared.theta, theta)
    thetas = np.stack([SPEC.init_theta(k) for k in range(len(images))])
    given = resolve_init(thetas, SPEC, images, None)
    assert isinstance(given, GivenInit)
    np.testing.assert_array_equal(given.thetas, thetas)
    # Integer arrays become float.
    ints = resolve_init(np.ones(SPEC.n_params, dtype=int), SPEC, images, None)
    assert np.issubdtype(ints.theta.dtype, np.floating)


@pytest.mark.parametrize(
    "shape",
    [
        (SPEC.n_params + 1,),
        (4, SPEC.n_params + 1),
        (5, SPEC.n_params),
        (1, 4, SPEC.n_params),
    ],
)
def test_resolve_rejects_wrong_shapes(shape):
    with pytest.raises(
        ValueError, match=rf"\({SPEC.n_params},\) or \(4, {SPEC.n_params}\)"
    ) as excinfo:
        resolve_init(np.zeros(shape), SPEC, _images(4), 0)
    assert str(shape) in str(excinfo.value)


@pytest.mark.parametrize("name", ["zeros", "Shared", ""])
def test_resolve_rejects_unknown_strings(name):
    with pytest.raises(ValueError, match="'shared', 'random'") as excinfo:
        resolve_init(name, SPEC, _images(4), 0)
    message = str(excinfo.value)
    assert f"({SPEC.n_params},) or (4, {SPEC.n_params})" in message
    assert repr(name) in message
