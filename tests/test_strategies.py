"""The featurizer's strategies, and the one array store behind every cache."""

import pickle

import numpy as np
import pytest

from sklearn_inr import INRFeaturizer, INRSpec
from sklearn_inr.estimators._strategies import FEATURES, STARTS

SMALL = {"hidden_features": 8, "hidden_layers": 1}


class _Payload:
    """Unpickling this creates ``path``: proof that a pickle was loaded."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def _meta_featurizer(memory, features="weights"):
    lr = 1e-2 if features == "shift" else 1e-3
    return INRFeaturizer(init="meta", features=features, meta_steps=2, inner_steps=2,
                         meta_batch_size=2, n_steps=3, lr=lr, memory=memory,
                         random_state=0, **SMALL)  # fmt: skip


@pytest.mark.parametrize("features", ["weights", "shift"])
def test_planted_pickles_in_the_cache_never_run(
    tmp_path, smooth_images, fit_counter, features
):
    cache = tmp_path / "cache"
    first = _meta_featurizer(cache, features)
    theta = first.fit_transform(smooth_images)
    files = [path for path in cache.rglob("*") if path.is_file()]
    # Per-image fits and the learned init (or shift base) are all in the store.
    assert {path.parent.parent.name for path in files} == {"theta", "init"}
    assert len(files) == len(smooth_images) + 1
    marker = tmp_path / "payload-ran"
    for number, path in enumerate(files):
        if number % 2:  # a raw pickle, or an .npz holding a pickled object
            path.write_bytes(pickle.dumps(_Payload(marker)))
        else:
            with open(path, "wb") as file:
                np.savez(file, __key__=np.str_(path.stem),
                         theta=np.array([_Payload(marker)], dtype=object))  # fmt: skip
    fits_before = fit_counter["images"]
    with pytest.warns(UserWarning, match="could not be trusted") as caught:
        again = _meta_featurizer(cache, features).fit_transform(smooth_images)
    # One warning per store: the learned init's and the per-image fits'.
    # (Other warnings, e.g. the 3-step fits' ConvergenceWarning, aside.)
    trust = [str(w.message) for w in caught if "could not be trusted" in str(w.message)]
    counts = sorted(message.split(" cache")[0] for message in trust)
    assert counts == ["1", str(len(smooth_images))]
    assert not marker.exists()
    # Every damaged entry was a miss: refitted, and to the same bits.
    assert fit_counter["images"] == fits_before + len(smooth_images)
    np.testing.assert_array_equal(again, theta)


def test_tables_name_every_public_choice():
    params = INRFeaturizer().get_params()
    assert params["init"] in STARTS and params["features"] in FEATURES
    for name, start in STARTS.items():
        featurizer = INRFeaturizer(init=name, n_steps=1, meta_steps=1, inner_steps=1,
                                   random_state=0, **SMALL)  # fmt: skip
        # y is read by init="task" only (the others ignore it).
        featurizer.fit(np.full((2, 4, 4), 0.5), [0, 1])
        assert (featurizer.init_params_ is None) == (start is STARTS["random"])


def test_array_init_reuses_a_learned_init_without_learning(smooth_images):
    learned = _meta_featurizer(None).fit(smooth_images[:4])
    reused = INRFeaturizer(init=learned.init_params_, n_steps=3, lr=1e-3,
                           random_state=1, **SMALL)  # fmt: skip
    theta = reused.fit_transform(smooth_images[4:])
    # The same start, so the same fits as the featurizer that learned it.
    np.testing.assert_array_equal(theta, learned.transform(smooth_images[4:]))
    np.testing.assert_array_equal(reused.init_params_, learned.init_params_)
    assert reused.init_params_ is not reused.init  # a copy, safe from the caller
    np.testing.assert_array_equal(reused.transform(smooth_images[4:]), theta)


@pytest.mark.parametrize(
    "init, extra, match",
    [
        (np.zeros(5), {}, r"shape \(105,\).*got an array of shape \(5,\)"),
        (np.full(105, np.nan), {}, "must be finite"),
        (np.zeros(105), {"features": "shift"}, "needs features='weights'"),
        (np.zeros(105), {"features": "latent"}, "init='array' does not give"),
    ],
)
def test_array_init_errors_say_what_to_pass(smooth_images, init, extra, match):
    featurizer = INRFeaturizer(init=init, n_steps=1, random_state=0, **SMALL, **extra)
    with pytest.raises(ValueError, match=match):
        featurizer.fit(smooth_images)
    assert not hasattr(featurizer, "init_params_")


@pytest.mark.parametrize(
    "params",
    [{"init": "random"}, {"init": "meta"}, {"init": "task"},
     {"features": "shift", "lr": 1e-2}, {"features": "shift", "init": "meta"},
     {"features": "latent", "init": "meta", "latent_dim": 3}],
)  # fmt: skip
def test_every_strategy_fits_volumes(params, smooth_volumes):
    volumes = np.concatenate([smooth_volumes, 1 - smooth_volumes])
    y = np.tile([0, 1], 4)
    settings = {"lr": 1e-3, "n_steps": 3, "random_state": 0, **SMALL, **params}
    featurizer = INRFeaturizer(spatial_ndim=3, meta_steps=2, inner_steps=2,
                               meta_batch_size=2, device="cpu", **settings)  # fmt: skip
    features = featurizer.fit_transform(volumes, y)
    assert featurizer.spec_.in_features == 3
    assert features.shape == (8, featurizer.n_params_)
    np.testing.assert_array_equal(featurizer.transform(volumes), features)
    assert featurizer.inverse_transform(features).shape == volumes.shape
    if featurizer.init_params_ is not None and featurizer.features != "latent":
        # The learned or drawn start is a theta of the volumes' network (a
        # task init packs its two learned steps' sizes after it).
        n_params = INRSpec(in_features=3, **SMALL).n_params
        packed = 1 + 2 * (featurizer.init == "task")
        assert featurizer.init_params_.shape == (packed * n_params,)
