"""The featurizer's strategies, and the one array store behind every cache."""

import pickle
import warnings

import numpy as np
import pytest

from sklearn_inr import INRFeaturizer, LabelLeakWarning
from sklearn_inr._inits import GivenInit
from sklearn_inr._strategies import FEATURES, STARTS, fit_class_chains

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
    counts = sorted(str(w.message).split(" cache")[0] for w in caught)
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
        featurizer.fit(np.full((2, 4, 4), 0.5))
        assert (featurizer.init_params_ is None) == (start is STARTS["random"])


def test_class_chains_start_each_image_from_its_predecessor(smooth_images):
    calls = []

    def fit(images, init):
        assert isinstance(init, GivenInit)
        calls.append((images[..., 0].copy(), init.thetas.copy()))

        class Result:  # each "fit" adds the image's mean to its start
            theta = init.thetas + images.reshape(len(images), -1).mean(1)[:, None]
            loss_history = np.zeros((len(images), 2))
            history_steps = np.array([0, 1])
            mse = psnr = np.zeros(len(images))
            n_steps = np.ones(len(images), dtype=int)

        return Result

    images = smooth_images[..., None]
    y_index = np.array([1, 0, 1, 0, 0, 1])
    out = fit_class_chains(fit, images, y_index, 2, lambda firsts: np.zeros((2, 3)))
    means = images.reshape(6, -1).mean(1)
    # Class 0 chains rows 1, 3, 4 in order; class 1 rows 0, 2, 5.
    np.testing.assert_allclose(out["theta"][4], means[[1, 3, 4]].sum())
    np.testing.assert_allclose(out["theta"][5], means[[0, 2, 5]].sum())
    np.testing.assert_allclose(out["class_init"][:, 0], out["theta"][[4, 5], 0])
    assert len(calls) == 3  # one call per position, both classes together


def test_weight_transfer_warns_and_transform_stays_label_free(smooth_images):
    featurizer = INRFeaturizer(warm_start_by_class=True, n_steps=5, lr=1e-3,
                               random_state=0, **SMALL)  # fmt: skip
    with pytest.warns(LabelLeakWarning):
        featurizer.fit(smooth_images, [0, 1, 0, 1, 0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", LabelLeakWarning)
        featurizer.transform(smooth_images)
