"""Learned inits in the ``memory=`` array store (``learned.stored_init``)."""

import errno

import numpy as np
import pytest

from sklearn_inr import INRSpec
from sklearn_inr.learned import stored_init


def test_learned_init_store_checks_memory_first_and_survives_a_refused_save(
    tmp_path, monkeypatch
):
    spec = INRSpec(hidden_features=4, hidden_layers=1)
    images = np.zeros((2, 4, 4), dtype=np.float32)
    learned = []

    def learn():
        learned.append(1)
        return spec.init_theta(0)

    memory_file = tmp_path / "file"
    memory_file.write_text("not a folder")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        stored_init(memory_file, images, spec=spec, key={}, size=spec.n_params,
                    learn=learn)  # fmt: skip
    assert not learned  # refused before any learning

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", no_space)
    with pytest.warns(UserWarning, match="Could not write to the cache"):
        theta = stored_init(tmp_path / "cache", images, spec=spec, key={},
                            size=spec.n_params, learn=learn)  # fmt: skip
    np.testing.assert_array_equal(theta, spec.init_theta(0))


def test_a_stored_init_is_learned_once_per_key(tmp_path):
    spec = INRSpec(hidden_features=4, hidden_layers=1)
    images = np.random.default_rng(0).uniform(size=(2, 4, 4))
    calls = []

    def learn():
        calls.append(1)
        return spec.init_theta(len(calls))

    first = stored_init(tmp_path, images, spec=spec, key={"learner": "a"},
                        size=spec.n_params, learn=learn)  # fmt: skip
    again = stored_init(tmp_path, images, spec=spec, key={"learner": "a"},
                        size=spec.n_params, learn=learn)  # fmt: skip
    np.testing.assert_array_equal(first, again)
    assert len(calls) == 1
    # Another learner, other images or another network: another entry.
    stored_init(tmp_path, images, spec=spec, key={"learner": "b"},
                size=spec.n_params, learn=learn)  # fmt: skip
    stored_init(tmp_path, images[:1], spec=spec, key={"learner": "a"},
                size=spec.n_params, learn=learn)  # fmt: skip
    wider = INRSpec(hidden_features=5, hidden_layers=1)
    stored_init(tmp_path, images, spec=wider, key={"learner": "a"},
                size=wider.n_params, learn=lambda: wider.init_theta(0))  # fmt: skip
    assert len(calls) == 3


def test_a_volume_init_never_shares_an_image_init_entry(tmp_path):
    images = np.random.default_rng(0).uniform(size=(2, 4, 4))
    calls = []

    def learn(spec):
        calls.append(spec.in_features)
        return spec.init_theta(len(calls))

    for in_features in (2, 3, 2, 3):
        # One size, so only the key can tell them apart.
        spec = INRSpec(in_features=in_features, hidden_features=4, hidden_layers=1)
        stored_init(tmp_path, images, spec=spec, key={"learner": "a"}, size=5,
                    learn=lambda spec=spec: learn(spec)[:5])  # fmt: skip
    assert calls == [2, 3]


def test_images_above_a_chunk_key_their_init_by_the_chunk_rule(tmp_path, monkeypatch):
    """Learned on images of more than 4,096 pixels, an init keys apart from
    one learned under the old rule (1,024 pixels a chunk); smaller images
    keep their keys."""
    import sklearn_inr.learned._store as store_module

    spec = INRSpec(hidden_features=4, hidden_layers=1)
    learned = []

    def learn():
        learned.append(1)
        return spec.init_theta(0)

    def stored(images):
        return stored_init(tmp_path, images, spec=spec, key={},
                           size=spec.n_params, learn=learn)  # fmt: skip

    large, small = np.zeros((2, 70, 70)), np.zeros((2, 64, 64))
    stored(large), stored(small)
    assert len(learned) == 2
    monkeypatch.setattr(store_module, "chunk_key", lambda n_pixels: {})
    stored(small)
    assert len(learned) == 2  # the same key as before the rule
    stored(large)
    assert len(learned) == 3  # the old rule's key is another
