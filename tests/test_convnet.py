"""ConvNetClassifier: a small CNN on images, trained like MLPClassifier."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.model_selection import train_test_split

from sklearn_inr import ConvNetClassifier
from sklearn_inr.estimators._convnet_module import ConvNetModule

# Small and quick, but enough to learn the toy tasks below.
FAST = {"channels": (4, 8), "max_epochs": 20, "lr": 1e-2, "random_state": 0}


def _squares(n_per_class=20, levels=(None, 1.0), size=8, seed=0):
    """Dim noise images; class k has a 3x3 square of brightness ``levels[k]``
    (none for None) at a random place."""
    rng = np.random.default_rng(seed)
    images, y = [], []
    for label, level in enumerate(levels):
        for _ in range(n_per_class):
            image = rng.uniform(0.0, 0.3, size=(size, size))
            if level is not None:
                top, left = rng.integers(0, size - 3, size=2)
                image[top : top + 3, left : left + 3] = level
            images.append(image)
            y.append(label)
    return np.asarray(images, dtype=np.float32), np.asarray(y)


@pytest.fixture(scope="module")
def binary():
    return _squares()


def test_learns_bright_square_vs_none(binary):
    X, y = binary
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    clf = ConvNetClassifier(**FAST).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.9
    assert clf.n_iter_ == FAST["max_epochs"] == len(clf.history_)
    # Binary: one logit, BCE with logits, as MLPClassifier.
    assert clf.net_.module_.head.out_features == 1
    assert isinstance(clf.net_.criterion_, torch.nn.BCEWithLogitsLoss)
    assert clf.decision_function(X_test).shape == (len(X_test),)


def test_three_classes_with_string_labels():
    X, y = _squares(levels=(None, 0.6, 1.0))
    labels = np.array(["none", "dim", "bright"])[y]
    X_train, X_test, y_train, y_test = train_test_split(
        X, labels, test_size=0.25, stratify=labels, random_state=0
    )
    clf = ConvNetClassifier(**{**FAST, "max_epochs": 40}).fit(X_train, y_train)
    assert list(clf.classes_) == ["bright", "dim", "none"]
    assert clf.net_.module_.head.out_features == 3
    assert isinstance(clf.net_.criterion_, torch.nn.CrossEntropyLoss)
    assert clf.score(X_test, y_test) >= 0.8
    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(
        clf.classes_[proba.argmax(axis=1)], clf.predict(X_test)
    )


def test_binary_proba_matches_the_logit(binary):
    X, y = binary
    clf = ConvNetClassifier(**FAST).fit(X, y)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    logits = clf.decision_function(X)
    np.testing.assert_array_equal(proba[:, 1] > 0.5, logits > 0)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[(logits > 0) * 1])


def test_same_random_state_same_network(binary):
    X, y = binary
    state = torch.random.get_rng_state()
    first = ConvNetClassifier(**FAST).fit(X, y)
    again = ConvNetClassifier(**FAST).fit(X, y)
    other = ConvNetClassifier(**{**FAST, "random_state": 1}).fit(X, y)
    # Fitting leaves the global torch RNG as it was.
    assert torch.equal(torch.random.get_rng_state(), state)
    logits = first.decision_function(X)
    np.testing.assert_array_equal(again.decision_function(X), logits)
    assert not np.array_equal(other.decision_function(X), logits)


def test_flat_rows_with_image_shape_equal_image_arrays(binary):
    X, y = binary
    images = ConvNetClassifier(**FAST).fit(X, y)
    rows = ConvNetClassifier(**FAST, image_shape=(8, -1)).fit(X.reshape(40, -1), y)
    assert images.image_shape_ == rows.image_shape_ == (8, 8)
    assert images.n_features_in_ == rows.n_features_in_ == 64
    np.testing.assert_array_equal(
        rows.decision_function(X.reshape(40, -1)), images.decision_function(X)
    )
    # A fitted classifier takes either form of the same images.
    np.testing.assert_array_equal(
        images.decision_function(X.reshape(40, -1)), images.decision_function(X)
    )


def test_channels_are_standardised_with_training_statistics(binary):
    X, y = binary
    rgb = np.stack([X, 2.0 * X, 0.5 + 0 * X], axis=-1)
    clf = ConvNetClassifier(**FAST).fit(rgb, y)
    assert clf.image_shape_ == (8, 8, 3)
    assert clf.net_.module_.features[0].in_channels == 3
    np.testing.assert_allclose(clf.channel_mean_, [X.mean(), 2 * X.mean(), 0.5])
    np.testing.assert_allclose(clf.channel_scale_, [X.std(), 2 * X.std(), 1.0])
    # Scaling by a power of two is exact in floats, and the standardisation
    # undoes it: the same network, bit for bit.
    scaled = ConvNetClassifier(**FAST).fit(4.0 * X, y)
    np.testing.assert_array_equal(
        scaled.decision_function(4.0 * X),
        ConvNetClassifier(**FAST).fit(X, y).decision_function(X),
    )


def test_tiny_and_odd_sized_images_go_through():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 5)
    for shape in [(1, 1), (1, 7), (5, 3)]:
        X = rng.uniform(size=(10, *shape))
        clf = ConvNetClassifier(channels=(2, 2, 2), max_epochs=2).fit(X, y)
        assert clf.predict_proba(X).shape == (10, 2)


@pytest.mark.parametrize(
    "X, params, match",
    [
        (np.zeros((4, 64)), {}, "pass image_shape"),
        (np.zeros((4, 64)), {"image_shape": (7, 7)}, "image_shape"),
        (np.zeros((4, 2, 2, 2, 2)), {}, r"got shape \(4, 2, 2, 2, 2\)"),
        (np.zeros(4), {}, "2D array"),
        (np.zeros((4, 8, 8)), {"channels": ()}, "channels must be"),
        (np.zeros((4, 8, 8)), {"channels": (8, 0)}, "channels must be"),
    ],
)
def test_bad_input_shapes_and_params_raise(X, params, match):
    with pytest.raises(ValueError, match=match):
        ConvNetClassifier(max_epochs=1, **params).fit(X, [0, 1, 0, 1])


def test_predict_refuses_other_image_shapes(binary):
    X, y = binary
    clf = ConvNetClassifier(**{**FAST, "max_epochs": 1}).fit(X, y)
    with pytest.raises(ValueError, match=r"fitted on images of shape \(8, 8\)"):
        clf.predict(np.zeros((2, 4, 16)))
    with pytest.raises(ValueError, match="expecting 64 features"):
        clf.predict(np.zeros((2, 60)))
    with pytest.raises(ValueError, match="one label per image|inconsistent"):
        ConvNetClassifier(max_epochs=1).fit(X, y[:-1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        ConvNetClassifier(max_epochs=1).fit(X, np.zeros(len(X)))


def test_pickle_and_skops_round_trip(binary, tmp_path):
    X, y = binary
    clf = ConvNetClassifier(**FAST).fit(X, y)
    expected = clf.decision_function(X)
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.decision_function(X), expected)
    assert loaded.n_iter_ == clf.n_iter_

    sio = pytest.importorskip("skops.io")
    path = tmp_path / "cnn.skops"
    sio.dump(clf, path)
    trusted = ["sklearn_inr.estimators._convnet.ConvNetClassifier"]
    assert sorted(sio.get_untrusted_types(file=path)) == trusted
    loaded = sio.load(path, trusted=trusted)
    np.testing.assert_array_equal(loaded.decision_function(X), expected)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


def test_trains_and_predicts_on_each_device(device, binary):
    X, y = binary
    clf = ConvNetClassifier(**FAST, device=device).fit(X, y)
    assert str(clf.net_.device).startswith(device)
    assert clf.score(X, y) >= 0.9
    # Outputs are NumPy arrays whatever the device.
    assert isinstance(clf.decision_function(X), np.ndarray)


def test_channels_last_layout_computes_the_same_function():
    # The module keeps its weights and inputs channels-last for speed; the
    # default layout gives the same logits and gradients, to rounding.
    torch.manual_seed(0)
    fast = ConvNetModule(in_channels=2, channels=(4, 8), output_dim=3)
    plain = ConvNetModule(in_channels=2, channels=(4, 8), output_dim=3,
                          channels_last=False)  # fmt: skip
    plain.load_state_dict(fast.state_dict())
    assert fast.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    X = torch.rand(5, 2, 13, 11, requires_grad=True)
    outputs = [module(X) for module in (fast, plain)]
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)
    grads = [torch.autograd.grad(out.sum(), X)[0] for out in outputs]
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def test_bf16_precision_convolves_in_bfloat16_and_keeps_float32_weights():
    torch.manual_seed(0)
    full = ConvNetModule(in_channels=2, channels=(4, 8), output_dim=3)
    half = ConvNetModule(in_channels=2, channels=(4, 8), output_dim=3,
                         precision="bf16")  # fmt: skip
    half.load_state_dict(full.state_dict())
    X = torch.rand(5, 2, 13, 11)
    seen = []
    hook = half.features[0].register_forward_hook(
        lambda module, inputs, output: seen.append(output.dtype)
    )
    logits = half(X)
    hook.remove()
    assert seen == [torch.bfloat16]
    assert logits.dtype == torch.float32
    # The same function to bfloat16's rounding (8 bits of mantissa) ...
    reference = full(X)
    torch.testing.assert_close(logits, reference, rtol=0.05, atol=0.02)
    # ... and not the float32 one's bits: the option does something.
    assert not torch.equal(logits, reference)
    logits.sum().backward()
    assert all(p.grad.dtype == torch.float32 for p in half.parameters())
    with pytest.raises(ValueError, match="precision must be 'fp32' or 'bf16'"):
        ConvNetModule(precision="fp16")


def test_bf16_classifier_learns_and_round_trips(binary):
    X, y = binary
    clf = ConvNetClassifier(**FAST, precision="bf16").fit(X, y)
    assert clf.net_.module_.bf16
    assert clf.score(X, y) >= 0.9
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded.net_.module_.bf16
    np.testing.assert_array_equal(loaded.decision_function(X), clf.decision_function(X))
    with pytest.raises(ValueError, match="precision"):
        ConvNetClassifier(precision="fp16", max_epochs=1).fit(X, y)
