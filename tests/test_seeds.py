import numpy as np
import pytest

from sklearn_inr.fitting._seeds import content_digest, image_seeds, to_seed


def _images(n=5, shape=(4, 4)):
    return np.random.default_rng(0).random((n, *shape)).astype(np.float32)


def test_to_seed():
    assert to_seed(7) == 7
    assert to_seed(None) is None
    expected = np.random.RandomState(3).randint(np.iinfo(np.int32).max)
    seed = to_seed(np.random.RandomState(3))
    assert isinstance(seed, int)
    assert seed == expected
    # A RandomState advances: two draws from one instance differ.
    state = np.random.RandomState(3)
    assert to_seed(state) != to_seed(state)


def test_image_seeds_follow_content_not_position():
    images = _images()
    seeds = image_seeds(images, 0)
    assert seeds.dtype == np.int64
    assert len(set(seeds.tolist())) == len(images)
    assert (seeds >= 0).all()
    perm = np.array([3, 0, 4, 1, 2])
    np.testing.assert_array_equal(image_seeds(images[perm], 0), seeds[perm])
    # In other company (a subset, a duplicate) an image keeps its seed.
    np.testing.assert_array_equal(image_seeds(images[[2]], 0), seeds[[2]])
    np.testing.assert_array_equal(image_seeds(images[[1, 1]], 0), seeds[[1, 1]])


def test_a_changed_pixel_changes_only_that_image_seed():
    images = _images()
    changed = images.copy()
    changed[2, 1, 1] += 0.5
    before, after = image_seeds(images, 0), image_seeds(changed, 0)
    assert before[2] != after[2]
    np.testing.assert_array_equal(np.delete(before, 2), np.delete(after, 2))


def test_single_channel_axis_does_not_change_seeds():
    images = _images()
    np.testing.assert_array_equal(
        image_seeds(images, 0), image_seeds(images[..., np.newaxis], 0)
    )
    # A real second channel does.
    two = np.repeat(images[..., np.newaxis], 2, axis=-1)
    assert not np.array_equal(image_seeds(two, 0), image_seeds(images, 0))


@pytest.mark.parametrize("random_state", [0, 42])
def test_random_state_instance_agrees_with_its_int(random_state):
    images = _images()
    np.testing.assert_array_equal(
        image_seeds(images, np.random.RandomState(random_state)),
        image_seeds(images, random_state),
    )


def test_random_state_instance_advances():
    images = _images()
    state = np.random.RandomState(0)
    first, second = image_seeds(images, state), image_seeds(images, state)
    assert not np.array_equal(first, second)
    # The second call is the int the first one left behind.
    state = np.random.RandomState(0)
    state.randint(np.iinfo(np.int32).max)
    np.testing.assert_array_equal(image_seeds(images, state), second)


def test_different_random_state_gives_different_seeds():
    images = _images()
    a, b = image_seeds(images, 0), image_seeds(images, 1)
    assert not np.isin(a, b).any()
    np.testing.assert_array_equal(image_seeds(images, 0), a)


def test_content_digest_changes_with_dtype_shape_bytes_and_extra():
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    digest = content_digest(array)
    assert content_digest(array.copy()) == digest
    assert content_digest(array, extra=None) == digest
    # Same bytes, other dtype.
    assert content_digest(array.view(np.int32)) != digest
    assert content_digest(array.astype(np.float64)) != digest
    # Same bytes and dtype, other shape.
    assert content_digest(array.reshape(3, 2)) != digest
    assert content_digest(array.ravel()) != digest
    # Other bytes.
    changed = array.copy()
    changed[1, 2] = np.nextafter(changed[1, 2], np.inf)
    assert content_digest(changed) != digest
    # Extra.
    assert content_digest(array, {"salt": 1}) != digest
    assert content_digest(array, {"salt": 1}) != content_digest(array, {"salt": 2})
    assert content_digest(array, {"salt": 1}) == content_digest(array, {"salt": 1})


def test_content_digest_ignores_memory_layout():
    array = np.arange(12.0).reshape(3, 4)
    fortran = np.asfortranarray(array)
    strided = np.arange(24.0).reshape(3, 8)[:, ::2]
    assert content_digest(fortran) == content_digest(array)
    assert content_digest(strided) == content_digest(np.ascontiguousarray(strided))


def test_single_channel_axis_of_volumes_does_not_change_seeds():
    volumes = np.random.default_rng(0).uniform(size=(3, 4, 6, 5))
    np.testing.assert_array_equal(
        image_seeds(volumes, 0, spatial_ndim=3),
        image_seeds(volumes[..., np.newaxis], 0, spatial_ndim=3),
    )
