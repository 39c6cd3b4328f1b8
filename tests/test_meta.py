import pickle
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline

import sklearn_inr.estimators._strategies as strategies
from sklearn_inr import (
    INRFeaturizer,
    INRSpec,
    LabelLeakWarning,
    fit_inrs,
    fit_shifts,
    make_coordinates,
    meta_learn_init,
    meta_learn_shift_base,
    render_inrs,
    shift_feature_names,
    shift_indices,
    shifts_to_theta,
    theta_to_module,
    unflatten_theta,
)

SMALL = {"hidden_features": 32, "hidden_layers": 2}
SPEC = INRSpec(**SMALL)


def _family(n, seed, side=16):
    """Images of one family: a soft blob at a random place on a gradient."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side] / (side - 1)
    images = []
    for _ in range(n):
        cx, cy = rng.uniform(0.3, 0.7, 2)
        radius = rng.uniform(0.15, 0.3)
        blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2))
        images.append(0.1 + 0.6 * blob + 0.2 * y * rng.uniform(0.5, 1))
    return np.clip(np.stack(images), 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def train_images():
    return _family(32, seed=0)


@pytest.fixture(scope="module")
def held_out_images():
    return _family(8, seed=1)


def _meta_featurizer(**kwargs):
    params = {
        "init": "meta",
        "lr": 1e-3,
        "n_steps": 5,
        "meta_steps": 4,
        "inner_steps": 3,
        "meta_batch_size": 4,
        "random_state": 0,
        **SMALL,
    }
    return INRFeaturizer(**{**params, **kwargs})


# ------------------------------------------------------------------ layout
def test_shift_layout_offsets_the_hidden_biases():
    spec = INRSpec(hidden_features=4, hidden_layers=2, out_features=2)
    assert shift_indices(spec).shape == (8,)
    names = shift_feature_names(spec)
    assert names[0] == "l1.shift[0]" and names[-1] == "l2.shift[3]"
    base = spec.init_theta(0)
    shifts = np.arange(16, dtype=np.float32).reshape(2, 8)
    theta = shifts_to_theta(shifts, base, spec)
    np.testing.assert_array_equal(shifts_to_theta(np.zeros(8), base, spec)[0], base)
    net = theta_to_module(theta[1], spec)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    base_net = theta_to_module(base, spec)
    base_linears = [m for m in base_net if isinstance(m, torch.nn.Linear)]
    for k in (0, 3):  # not shifted
        torch.testing.assert_close(linears[k].bias, base_linears[k].bias)
    for k in (1, 2):
        torch.testing.assert_close(
            linears[k].bias,
            base_linears[k].bias + torch.as_tensor(shifts[1, 4 * (k - 1) : 4 * k]),
        )
    with pytest.raises(ValueError, match="hidden_layers=0"):
        shift_indices(INRSpec(hidden_layers=0))
    with pytest.raises(ValueError, match="shifts have 3 features"):
        shifts_to_theta(np.zeros((1, 3)), base, spec)


# ------------------------------------------------------------------ shifts
def test_fit_shifts_equals_an_autograd_adam_loop_in_float64(train_images):
    spec = INRSpec(hidden_features=8, hidden_layers=2)
    images = train_images[:3, ::2, ::2]
    base = spec.init_theta(0)
    result = fit_shifts(images, base, spec, n_steps=7, lr=1e-2, dtype=torch.float64)
    coords = make_coordinates(images.shape[1:], dtype=torch.float64)
    index = torch.as_tensor(shift_indices(spec))
    base_t = torch.as_tensor(base, dtype=torch.float64)
    for i, image in enumerate(images):
        shift = torch.zeros(len(index), dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.Adam([shift], lr=1e-2)
        target = torch.as_tensor(image, dtype=torch.float64).reshape(-1, 1)
        for _ in range(7):
            theta = base_t.index_add(0, index, shift)
            out = torch.func.functional_call(
                theta_to_module(base_t, spec),
                _param_dict(theta, spec),
                (coords,),
            )
            optimizer.zero_grad()
            F.binary_cross_entropy_with_logits(out, target).backward()
            optimizer.step()
        np.testing.assert_allclose(result.theta[i], shift.detach(), atol=1e-10)
    # Every image follows its solo trajectory, whatever its batch.
    solo = fit_shifts(images[1:2], base, spec, n_steps=7, lr=1e-2, batch_size=1)
    batched = fit_shifts(images, base, spec, n_steps=7, lr=1e-2)
    np.testing.assert_allclose(solo.theta[0], batched.theta[1], atol=1e-6)


def _param_dict(theta, spec):
    weights, biases = unflatten_theta(theta, spec.layer_shapes)
    names = {}
    for k, (w, b) in enumerate(zip(weights, biases)):
        names[f"{2 * k}.weight"], names[f"{2 * k}.bias"] = w, b
    return names


def test_shift_render_round_trip(train_images, tmp_path):
    result = fit_shifts(train_images[:4], SPEC.init_theta(0), SPEC, n_steps=5)
    assert result.theta.shape == (4, 64)
    theta = shifts_to_theta(result.theta, SPEC.init_theta(0), SPEC)
    rendered = render_inrs(theta, (16, 16), **SMALL)
    np.testing.assert_allclose(rendered, result.reconstructions, atol=1e-6)
    cached = fit_shifts(
        train_images[:4], SPEC.init_theta(0), SPEC, n_steps=5, memory=tmp_path
    )
    again = fit_shifts(
        train_images[:4], SPEC.init_theta(0), SPEC, n_steps=5, memory=tmp_path
    )
    np.testing.assert_array_equal(cached.theta, again.theta)
    assert any(tmp_path.rglob("*.npz"))


# ----------------------------------------------------------- meta-learning
def test_meta_init_lowers_steps_to_psnr_on_held_out_images(
    train_images, held_out_images
):
    shared = SPEC.init_theta(0)
    phi = meta_learn_init(
        train_images,
        SPEC,
        init_theta=shared,
        meta_steps=30,
        inner_steps=10,
        inner_lr=1e-3,
        meta_batch_size=8,
        random_state=0,
    )
    np.testing.assert_array_equal(shared, SPEC.init_theta(0))  # not modified
    fit = {"lr": 1e-3, "random_state": 0, **SMALL}
    meta_10 = fit_inrs(held_out_images, n_steps=10, init=phi, **fit).psnr.mean()
    shared_10 = fit_inrs(held_out_images, n_steps=10, init=shared, **fit).psnr.mean()
    shared_50 = fit_inrs(held_out_images, n_steps=50, init=shared, **fit).psnr.mean()
    # At least 5x fewer steps to the PSNR the shared init reaches in 50.
    assert meta_10 > shared_50 > shared_10


def test_meta_shift_base_beats_a_random_base(train_images, held_out_images):
    random_base = SPEC.init_theta(0)
    base = meta_learn_shift_base(
        train_images,
        SPEC,
        init_theta=random_base,
        meta_steps=30,
        inner_steps=5,
        inner_lr=1e-2,
        meta_batch_size=8,
        random_state=0,
    )
    learned = fit_shifts(held_out_images, base, SPEC, n_steps=5).psnr.mean()
    untrained = fit_shifts(held_out_images, random_base, SPEC, n_steps=5).psnr.mean()
    assert learned > untrained + 2.0


def test_meta_learning_is_reproducible_and_checks_input(train_images):
    kwargs = {"meta_steps": 3, "inner_steps": 2, "meta_batch_size": 4}
    first = meta_learn_init(train_images, SPEC, random_state=3, **kwargs)
    second = meta_learn_init(train_images, SPEC, random_state=3, **kwargs)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, SPEC.init_theta(3))
    with pytest.raises(ValueError, match="channel"):
        meta_learn_init(train_images[..., None].repeat(2, -1), SPEC, **kwargs)
    with pytest.raises(ValueError, match="diverged"):  # omega_0 W x overflows
        huge = np.full(SPEC.n_params, 1e38, dtype=np.float32)
        meta_learn_init(train_images, SPEC, init_theta=huge, **kwargs)


# -------------------------------------------------------------- featurizer
def test_featurizer_meta_weights_start_from_the_learned_init(train_images):
    featurizer = _meta_featurizer().fit(train_images)
    assert featurizer.init_params_.shape == (SPEC.n_params,)
    assert not np.array_equal(featurizer.init_params_, SPEC.init_theta(0))
    theta = featurizer.transform(train_images[:3])
    expected = fit_inrs(
        train_images[:3],
        init=featurizer.init_params_,
        lr=1e-3,
        n_steps=5,
        random_state=0,
        **SMALL,
    ).theta
    np.testing.assert_array_equal(theta, expected)


def test_featurizer_shift_features(train_images):
    featurizer = _meta_featurizer(features="shift", lr=1e-2)
    shifts = featurizer.fit_transform(train_images)
    assert shifts.shape == (32, 64) and featurizer.n_params_ == 64
    names = featurizer.get_feature_names_out()
    assert names[17] == "l1.shift[17]" and len(names) == 64
    reconstructions = featurizer.inverse_transform(shifts[:3])
    result = fit_shifts(
        train_images[:3],
        featurizer.init_params_,
        featurizer.spec_,
        n_steps=5,
        lr=1e-2,
    )
    np.testing.assert_allclose(shifts[:3], result.theta, atol=1e-7)
    np.testing.assert_allclose(reconstructions, result.reconstructions, atol=1e-6)
    assert featurizer.score(train_images[:3]) == pytest.approx(result.psnr.mean())
    flat = _meta_featurizer(features="shift", lr=1e-2, image_shape=(16, 16))
    flat.fit(train_images.reshape(32, -1))
    assert flat.inverse_transform(shifts[:2]).shape == (2, 256)
    # The base of init="shared" is the plain shared draw.
    shared = INRFeaturizer(features="shift", n_steps=2, random_state=0, **SMALL)
    assert shared.fit_transform(train_images).shape == (32, 64)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"init": "random"}, "init='random'"),
        ({"hidden_layers": 0}, "hidden_layers=0"),
        ({"warm_start_by_class": True}, "warm_start_by_class"),
    ],
)
def test_shift_features_reject_impossible_settings(train_images, params, match):
    featurizer = INRFeaturizer(features="shift", n_steps=1, **params)
    with pytest.raises(ValueError, match=match):
        featurizer.fit(train_images, np.arange(32) % 2)


@pytest.mark.parametrize("features", ["weights", "shift"])
def test_pickle_round_trip_gives_identical_transform(train_images, features):
    featurizer = _meta_featurizer(features=features).fit(train_images[:8])
    restored = pickle.loads(pickle.dumps(featurizer))
    np.testing.assert_array_equal(restored.init_params_, featurizer.init_params_)
    np.testing.assert_array_equal(
        restored.transform(train_images[8:12]), featurizer.transform(train_images[8:12])
    )


# ------------------------------------------------------------- CV hygiene
class _Untouchable:
    """A y that raises if anything reads it."""

    def __getattr__(self, name):
        raise AssertionError(f"the labels were read ({name})")

    def __len__(self):
        raise AssertionError("the labels were read (len)")

    def __array__(self, *args, **kwargs):
        raise AssertionError("the labels were read (array)")


@pytest.mark.parametrize("features", ["weights", "shift"])
def test_meta_init_never_reads_labels(train_images, features):
    without = _meta_featurizer(features=features).fit(train_images)
    untouched = _meta_featurizer(features=features).fit(train_images, _Untouchable())
    garbage = _meta_featurizer(features=features).fit(
        train_images, np.random.default_rng(0).permutation(32)
    )
    np.testing.assert_array_equal(untouched.init_params_, without.init_params_)
    np.testing.assert_array_equal(garbage.init_params_, without.init_params_)


def test_cross_validate_learns_the_init_on_each_training_fold(train_images):
    y = np.arange(32) % 2
    pipeline = make_pipeline(_meta_featurizer(), LogisticRegression())
    cv = KFold(n_splits=3)
    result = cross_validate(pipeline, train_images, y, cv=cv, return_estimator=True)
    inits = [est[0].init_params_ for est in result["estimator"]]
    for (train, _), init in zip(cv.split(train_images), inits):
        # Exactly the init learned from that fold's training images alone.
        expected = _meta_featurizer().fit(train_images[train]).init_params_
        np.testing.assert_array_equal(init, expected)
    assert not np.array_equal(inits[0], inits[1])
    assert not np.array_equal(inits[1], inits[2])


def test_grid_search_learns_each_fold_init_once_with_memory(
    train_images, tmp_path, monkeypatch
):
    calls = []
    original = strategies.WeightFeatures.learn_init

    def counting(images, *args, **kwargs):
        calls.append(np.asarray(images).copy())
        return original(images, *args, **kwargs)

    monkeypatch.setattr(strategies.WeightFeatures, "learn_init", staticmethod(counting))
    pipeline = make_pipeline(
        _meta_featurizer(memory=str(tmp_path)), LogisticRegression()
    )
    search = GridSearchCV(
        pipeline, {"logisticregression__C": [0.1, 1.0, 10.0]}, cv=KFold(2)
    )
    search.fit(train_images, np.arange(32) % 2)
    # One init per training fold plus the refit on all images; the other
    # candidates load it from memory. No fold ever saw its test images.
    assert len(calls) == 3
    assert sorted(len(c) for c in calls) == [16, 16, 32]
    # Other meta settings are another cache entry.
    _meta_featurizer(memory=str(tmp_path), meta_steps=5).fit(train_images)
    assert len(calls) == 4


def test_weight_transfer_chains_start_from_the_learned_init(train_images):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LabelLeakWarning)
        featurizer = _meta_featurizer(warm_start_by_class=True, n_steps=1, lr=1e-12)
        featurizer.fit(train_images[:4], [0, 1, 0, 1])
    # One tiny step from the learned init: every chain stays at it.
    np.testing.assert_allclose(
        featurizer.class_init_,
        np.tile(featurizer.init_params_, (2, 1)),
        atol=1e-9,
    )


@pytest.mark.parametrize(
    "function, kwargs, match",
    [
        ("fit_shifts", {"loss": "BCE"}, "'loss' parameter of fit_shifts"),
        ("fit_shifts", {"batch_size": 0}, "'batch_size' parameter of fit_shifts"),
        ("fit_shifts", {"n_steps": 0}, "'n_steps' parameter of fit_shifts"),
        ("meta_learn_init", {"inner_steps": 0}, "'inner_steps' parameter"),
        ("meta_learn_init", {"meta_lr": 0.0}, "'meta_lr' parameter"),
        ("meta_learn_shift_base", {"loss": "l1"}, "'loss' parameter"),
    ],
)
def test_engine_functions_reject_bad_parameters(function, kwargs, match):
    import sklearn_inr

    spec = INRSpec(hidden_features=4, hidden_layers=1)
    images = np.full((2, 4, 4), 0.5)
    args = (
        (images, spec.init_theta(0), spec)
        if function == "fit_shifts"
        else (images, spec)
    )
    with pytest.raises(ValueError, match=match):
        getattr(sklearn_inr, function)(*args, **kwargs)


def test_fit_shifts_shows_progress(capsys):
    spec = INRSpec(hidden_features=4, hidden_layers=1)
    fit_shifts(np.full((2, 4, 4), 0.5), spec.init_theta(0), spec, n_steps=1,
               verbose=1)  # fmt: skip
    assert "Fitting shifts" in capsys.readouterr().err


def test_a_huge_meta_lr_is_caught_before_it_learns_a_useless_init(smooth_images):
    # meta_lr=1e6 is a valid value; Reptile then learned inits with values in
    # the thousands (PSNR 4-6 dB) without a word. Now the fit stops, names
    # meta_lr and leaves the featurizer unfitted.
    featurizer = _meta_featurizer(meta_lr=1e6)
    with pytest.raises(ValueError, match=r"diverged: .*meta_lr=1e\+06\. Lower meta_lr"):
        featurizer.fit(smooth_images)
    assert not hasattr(featurizer, "init_params_")
