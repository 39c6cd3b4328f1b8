"""Property-based fuzzing of the input surface, with hypothesis.

Every generated input to :meth:`INRFeaturizer.fit_transform`,
:meth:`INRFeaturizer.transform` and :func:`load_brats_slices` must either
succeed with a well-formed result (finite theta of shape
``(n_images, n_params_)``; float32 slices in [0, 1]) or raise one of the
documented exceptions of :data:`DOCUMENTED_ERRORS`, raised on purpose by the
package (or by scikit-learn's validation) with a message that names the
parameter, ``X`` / ``y`` / the shape / the loss, or the file or folder, and that
never prints the data. Where the input is known to be valid, the tests also
require success.

Profiles: ``ci`` (the default: few examples, derandomized so CI runs are
reproducible) and ``long`` (500 examples per test, new ones every run), chosen
with the environment variable ``SKLEARN_INR_HYPOTHESIS_PROFILE``::

    SKLEARN_INR_HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz.py

The inputs that crashed the package when this suite was written are also
pinned as exact cases (``test_former_input_bugs_raise_documented_errors``,
``test_corrupt_gzip_is_refused``).
"""

from __future__ import annotations

import gzip
import linecache
import logging
import os
import re
import shutil
import tempfile
import warnings
from numbers import Integral
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, event, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

from sklearn_inr import (  # noqa: E402
    DivergenceWarning,
    INRDivergenceError,
    INRFeaturizer,
)
from sklearn_inr.datasets import load_brats_slices, make_brats_like  # noqa: E402

# --- profiles -----------------------------------------------------------------

PROFILE_ENV = "SKLEARN_INR_HYPOTHESIS_PROFILE"
_HEALTH = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
]
settings.register_profile(
    "ci",
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=_HEALTH,
)
settings.register_profile(
    "long",
    max_examples=500,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=_HEALTH,
)
settings.load_profile(os.environ.get(PROFILE_ENV, "ci"))

# --- the contract ---------------------------------------------------------------

# The documented exceptions of the fuzzed entry points, and what their message
# must name. Anything else (AttributeError, IndexError, OverflowError, torch's
# RuntimeError, ZeroDivisionError, MemoryError, numpy's own ValueErrors such as
# "inhomogeneous shape" or "zero-size array") is a bug.
# - INRFeaturizer: ValueError, which includes scikit-learn's InvalidParameterError
#   and sklearn_inr.INRDivergenceError; TypeError only for a wrong parameter type
#   (InvalidParameterError is both). Warnings (UserWarning for images under 4
#   pixels, LabelLeakWarning, DivergenceWarning, ...) are allowed.
# - load_brats_slices, from its Raises section: FileNotFoundError (root without
#   case folders, a missing file) and ValueError (a bad parameter, a corrupt or
#   inconsistent file, no patient with a slice pair). NotADirectoryError (root is
#   a file) is raised by find_case_dirs too, though the docstring omits it. With
#   on_error="skip" a bad patient is a UserWarning and an entry of `skipped`.
DOCUMENTED_ERRORS = {
    "featurizer": {
        ValueError: "the parameter, or X / y / the image shape / the loss",
        TypeError: "the parameter (a wrong parameter type only)",
    },
    "loader": {
        FileNotFoundError: "the file or folder",
        NotADirectoryError: "the folder",
        ValueError: "the parameter, the file or the folder",
    },
}
# Fragments of a message that prints the data.
_DATA_REPR = ("[[", "array(", "\n[")

PARAMETERS = sorted(INRFeaturizer().get_params())
# What a featurizer message about the data may name (plus any parameter name).
X_WORDS = ("X", "y", "image", "shape", "loss", "learning rate")
LOADER_PARAMETERS = (
    "modality",
    "size",
    "n_patients",
    "brain_threshold",
    "min_tumor_pixels",
    "normalize",
    "percentiles",
    "on_error",
)
MODALITIES = ("flair", "t1", "t1ce", "t2")
COHORT_SHAPE = (16, 16, 8)
N_PATIENTS = 3
PATIENTS = [f"BraTS2021_{i:05d}" for i in range(N_PATIENTS)]


def _names(message: str, word: str) -> bool:
    """Whether ``message`` names ``word`` (identifiers as whole words)."""
    if re.fullmatch(r"\w+", word):
        return re.search(rf"(?<![\w.]){re.escape(word)}(?!\w)", message) is not None
    return word in message


def _raise_site(exc: BaseException) -> tuple[str, str]:
    """File and source line of the frame that raised ``exc``."""
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename
    return filename, linecache.getline(filename, tb.tb_lineno).strip()


def check_error(exc, entry_point, words, *, generic=()):
    """Assert ``exc`` is documented, deliberate, and names one of ``words``.

    ``words`` are parameter, file or folder names; ``generic`` are the words a
    message about the data may use instead.
    """
    kind = f"{type(exc).__name__}: {exc}"
    documented = DOCUMENTED_ERRORS[entry_point]
    assert isinstance(exc, tuple(documented)), f"undocumented exception {kind}"
    if isinstance(exc, TypeError) and not isinstance(exc, ValueError):
        generic = ()  # a TypeError is about a parameter's type
    filename, line = _raise_site(exc)
    parts = Path(filename).parts
    assert "sklearn_inr" in parts or "sklearn" in parts, (
        f"raised inside {filename} ({line!r}), not by sklearn_inr: {kind}"
    )
    assert line.startswith("raise"), (
        f"not a deliberate raise ({filename}: {line!r}): {kind}"
    )
    message = str(exc)
    assert not any(s in message for s in _DATA_REPR), f"message prints data: {kind}"
    assert any(_names(message, w) for w in (*words, *generic)), (
        f"message names none of {sorted({*words, *generic})}: {kind}"
    )


def outcome(case, error):
    """Count what was tested (``--hypothesis-show-statistics``)."""
    event(f"{case}: {'ok' if error is None else type(error).__name__}")


def run(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` -> (result, error, warnings)."""
    result = error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # judged by check_error
            error = exc
    return result, error, caught


def check_warnings(caught):
    """Clean input warns only with UserWarning and its subclasses (numpy's
    RuntimeWarnings are expected while validating NaN / inf)."""
    for w in caught:
        assert issubclass(w.category, UserWarning), (
            f"unexpected {w.category.__name__}: {w.message}"
        )


def tiny(**params):
    """A tiny CPU featurizer: fast enough for hundreds of fits."""
    base = dict(
        hidden_features=4,
        hidden_layers=1,
        n_steps=2,
        lr=1e-3,
        device="cpu",
        random_state=0,
    )
    return INRFeaturizer(**{**base, **params})


def expected_n_params(featurizer, channels):
    h, layers = featurizer.hidden_features, featurizer.hidden_layers
    if featurizer.features == "shift":
        return layers * h
    return 3 * h + layers * (h * h + h) + h * channels + channels


def check_theta(featurizer, theta, n_images, channels):
    assert featurizer.n_params_ == expected_n_params(featurizer, channels)
    assert theta.shape == (n_images, featurizer.n_params_)
    assert np.isfinite(theta).all()


# --- strategies: images ------------------------------------------------------------

DTYPES = (np.float16, np.float32, np.float64, np.int8, np.uint8, np.int64, np.bool_)
# Value regimes; "huge" overflows float16 and float32.
REGIMES = {
    "unit": (0.0, 1.0),
    "signed": (-2.0, 2.0),
    "large": (-1e6, 1e6),
    "huge": (-1e300, 1e300),
}
SPECIALS = (np.nan, np.inf, -np.inf)


def _cast(values, dtype):
    """float64 values as ``dtype``, saturating integers, >0 for bool."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return values > 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        with np.errstate(invalid="ignore"):
            return np.clip(np.round(values), info.min, info.max).astype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        return values.astype(dtype)


@st.composite
def pixel_arrays(draw, shape, *, dtypes=DTYPES, regimes=tuple(REGIMES)):
    """An array of ``shape`` in a drawn dtype and value regime, with NaN / inf
    at drawn positions for float dtypes."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    low, high = REGIMES[draw(st.sampled_from(regimes))]
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False)
    values = draw(hnp.arrays(np.float64, shape, elements=elements, fill=elements))
    array = _cast(values, dtype)
    if dtype.kind == "f" and array.size:
        positions = draw(st.lists(st.integers(0, array.size - 1), max_size=3))
        for position in positions:
            array.flat[position] = draw(st.sampled_from(SPECIALS))
    return array


def image_shapes(max_side=8, channels=True):
    sides = st.integers(1, max_side)
    two = st.tuples(sides, sides)
    return (
        st.one_of(two, st.tuples(sides, sides, st.integers(1, 3))) if channels else two
    )


def classify(images, loss):
    """What the featurizer must do with images of valid shape: "ok", "nonfinite",
    "range" (outside BCE's [0, 1]) or "large" (may overflow the float32 loss)."""
    values = np.asarray(images, dtype=np.float64)
    if not np.isfinite(values).all():
        return "nonfinite"
    if loss == "bce" and (values.min() < 0 or values.max() > 1):
        return "range"
    if np.abs(values).max() > 1e3:
        return "large"
    return "ok"


def check_fit_outcome(featurizer, theta, error, caught, status, n_images, channels):
    """Shared oracle of the X fuzz tests."""
    outcome(status, error)
    if status == "ok":
        assert error is None, f"clean input rejected: {type(error).__name__}: {error}"
        check_warnings(caught)
    if error is None:
        assert status in ("ok", "large"), f"{status} input accepted"
        check_theta(featurizer, theta, n_images, channels)
        return
    if status == "nonfinite":
        check_error(error, "featurizer", ["X"])
    elif status == "range":
        check_error(error, "featurizer", ["loss"])
        assert "[0, 1]" in str(error)
    else:  # "large": only a divergence of the overflowing loss
        assert isinstance(error, INRDivergenceError), error
        check_error(error, "featurizer", PARAMETERS, generic=X_WORDS)
    assert not hasattr(featurizer, "n_params_"), "a failed fit left fitted state"


# --- featurizer: array X -----------------------------------------------------------


@st.composite
def nd_inputs(draw):
    """3-D / 4-D X, including empty images and batches, and dtypes from bool
    to float64."""
    ndim = draw(st.sampled_from([3, 4]))
    n = draw(st.integers(0, 5))
    dims = [draw(st.integers(1, 8)), draw(st.integers(1, 8))]
    if ndim == 4:
        dims.append(draw(st.integers(1, 3)))
    if draw(st.integers(0, 9)) == 0:
        # An empty batch, or an empty image axis (H, W or C of 0).
        if draw(st.booleans()):
            n = 0
        else:
            dims[draw(st.integers(0, len(dims) - 1))] = 0
    return draw(pixel_arrays((n, *dims)))


@given(X=nd_inputs(), loss=st.sampled_from(["bce", "mse"]), data=st.data())
def test_fit_transform_arrays(X, loss, data):
    model = data.draw(st.sampled_from(["siren", "relu"]), label="model")
    featurizer = tiny(loss=loss, model=model)
    note(f"X: shape {X.shape}, dtype {X.dtype}")
    theta, error, caught = run(featurizer.fit_transform, X)
    if X.size == 0:
        assert error is not None, "an empty batch or empty images were accepted"
        check_error(error, "featurizer", ["X"], generic=X_WORDS)
        return
    channels = X.shape[3] if X.ndim == 4 else 1
    status = classify(X, loss)
    check_fit_outcome(featurizer, theta, error, caught, status, len(X), channels)
    if error is None:
        assert featurizer.image_shape_ == X.shape[1:]


@given(
    X=st.one_of(
        # 1-D, 5-D and scalars; complex of every rank.
        pixel_arrays(st.integers(0, 6).map(lambda n: (n,))),
        pixel_arrays(st.just((2, 3, 3, 1, 1)), dtypes=(np.float32,)),
        st.just(np.float64(0.5)),
        st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)).map(
            lambda s: np.full(s, 0.5 + 0.25j)
        ),
        st.tuples(st.integers(1, 3), st.integers(1, 9)).map(
            lambda s: np.full(s, 0.5 + 0j, np.complex64)
        ),
    ),
    image_shape=st.sampled_from([None, (3, 3), (-1, 1)]),
)
def test_fit_transform_rejects_bad_ranks_and_complex(X, image_shape):
    featurizer = tiny(loss="mse", image_shape=image_shape)
    _, error, _ = run(featurizer.fit_transform, X)
    assert error is not None, f"accepted X of shape {np.shape(X)}"
    check_error(error, "featurizer", ["X", "image_shape"], generic=X_WORDS)
    if np.iscomplexobj(X):
        assert "Complex" in str(error)


# --- featurizer: 2-D X with image_shape ------------------------------------------

# Ints, small and huge (their product must not wrap around), and entries that
# are not ints (which must be refused, never truncated).
_INT_ENTRIES = st.one_of(
    st.integers(-3, 10), st.sampled_from([2**31, 2**32, 2**62, -(2**40)])
)
_ENTRIES = st.one_of(
    _INT_ENTRIES,
    st.sampled_from([None, float("nan"), float("inf"), 4.5, 4.0, "4", True, [2]]),
)


def _is_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool)


def _reference_image_shape(image_shape, n_features):
    """The documented rule, in Python ints: the (H, W[, C]) or None if invalid."""
    if image_shape is None:
        return None
    if not all(
        isinstance(n, Integral) and not isinstance(n, bool) for n in image_shape
    ):
        return None
    shape = [int(n) for n in image_shape]
    if len(shape) not in (2, 3) or shape.count(-1) > 1:
        return None
    if any(n < 1 and n != -1 for n in shape):
        return None
    known = int(np.prod([n for n in shape if n != -1], dtype=object))
    if -1 in shape:
        if n_features % known:
            return None
        shape[shape.index(-1)] = n_features // known
    if int(np.prod(shape, dtype=object)) != n_features:
        return None
    return tuple(shape)


@st.composite
def flat_inputs(draw):
    true_shape = draw(image_shapes())
    n_features = int(np.prod(true_shape))
    if draw(st.integers(0, 9)) == 0:
        n_features = draw(st.integers(0, 70))  # columns that may fit nothing
    n = draw(st.integers(1, 4))
    X = draw(pixel_arrays((n, n_features), regimes=("unit",), dtypes=(np.float32,)))
    X = np.nan_to_num(X, nan=0.5, posinf=1.0, neginf=0.0)
    choice = draw(st.sampled_from(["true", "minus_one", "random", "none"]))
    if choice == "true":
        image_shape = list(true_shape)
    elif choice == "minus_one":
        image_shape = list(true_shape)
        image_shape[draw(st.integers(0, len(true_shape) - 1))] = -1
    elif choice == "random":
        image_shape = draw(st.lists(_ENTRIES, max_size=4))
    else:
        image_shape = None
    if image_shape is not None:
        if draw(st.booleans()):
            image_shape = [
                np.int64(v) if _is_int(v) and abs(v) < 2**62 else v for v in image_shape
            ]
        container = draw(st.sampled_from([tuple, list]))
        image_shape = container(image_shape)
    return X, image_shape


@given(case=flat_inputs(), loss=st.sampled_from(["bce", "mse"]))
def test_fit_transform_2d_with_image_shape(case, loss):
    X, image_shape = case
    featurizer = tiny(image_shape=image_shape, loss=loss)
    note(f"X: shape {X.shape}; image_shape={image_shape!r}")
    theta, error, caught = run(featurizer.fit_transform, X)
    if X.shape[1] == 0:
        assert error is not None
        check_error(error, "featurizer", ["X"], generic=X_WORDS)
        return
    expected = _reference_image_shape(image_shape, X.shape[1])
    outcome("valid" if expected else "invalid", error)
    if expected is None:
        assert error is not None, f"invalid image_shape={image_shape!r} accepted"
        check_error(error, "featurizer", ["image_shape"])
        return
    assert error is None, f"valid input rejected: {type(error).__name__}: {error}"
    check_warnings(caught)
    assert featurizer.image_shape_ == expected
    check_theta(featurizer, theta, len(X), expected[2] if len(expected) == 3 else 1)


# --- featurizer: lists of images ----------------------------------------------------


@st.composite
def list_inputs(draw):
    """(X as a list or tuple, how its shapes relate, image_shape)."""
    n = draw(st.integers(0, 5))
    shape = draw(image_shapes(max_side=6))
    flat = draw(st.booleans())
    images = [
        draw(pixel_arrays(shape, regimes=("unit",), dtypes=(np.float32, np.uint8)))
        for _ in range(n)
    ]
    images = [np.nan_to_num(im, nan=0.5, posinf=1.0, neginf=0.0) for im in images]
    if flat:
        images = [im.reshape(-1) for im in images]
    same = True
    if n >= 2 and draw(st.booleans()):
        position = draw(st.integers(1, n - 1))
        other = draw(image_shapes(max_side=6).filter(lambda s: s != shape))
        other_image = np.full(other, 0.5, np.float32)
        images[position] = other_image.reshape(-1) if flat else other_image
        same = np.shape(images[position]) == np.shape(images[0])
    # Nested Python lists too, ragged ones included.
    as_lists = draw(st.booleans())
    if as_lists:
        images = [im.tolist() for im in images]
    container = draw(st.sampled_from([list, tuple]))
    return container(images), same, shape, flat


@given(case=list_inputs())
def test_fit_transform_lists(case):
    X, same, shape, flat = case
    image_shape = shape if flat else None
    featurizer = tiny(image_shape=image_shape)
    note(f"{type(X).__name__} of {len(X)}: shapes {[np.shape(im) for im in X]}")
    theta, error, caught = run(featurizer.fit_transform, X)
    if not same or len(X) == 0:
        assert error is not None, "accepted a ragged or empty list"
        check_error(error, "featurizer", ["X"], generic=X_WORDS)
        return
    assert error is None, f"valid list rejected: {type(error).__name__}: {error}"
    check_warnings(caught)
    assert featurizer.image_shape_ == shape
    check_theta(featurizer, theta, len(X), shape[2] if len(shape) == 3 else 1)


# --- featurizer: parameter combinations ---------------------------------------


def _param(valid, invalid):
    """A parameter's (valid values, invalid values) strategies."""
    return valid, invalid


@st.composite
def parameter_sets(draw, table, *, optional=False):
    """(params, names of the invalid ones): valid values of the parameters of
    ``table`` (a drawn subset if ``optional``), then most times none, else one
    or two of them replaced by invalid values."""
    names = [name for name in table if not optional or draw(st.booleans())]
    params = {name: draw(table[name][0], label=name) for name in names}
    n_bad = min(len(names), draw(st.sampled_from([0, 0, 0, 1, 1, 2])))
    bad = []
    if n_bad:
        bad = draw(st.lists(st.sampled_from(names), min_size=n_bad, max_size=n_bad))
        bad = sorted(set(bad))
    for name in bad:
        params[name] = draw(table[name][1], label=f"invalid {name}")
    return params, bad


_BAD_REALS = st.sampled_from([0.0, -1.0, np.nan, np.inf, "1", None])
PARAMETER_STRATEGIES = {
    "model": _param(st.sampled_from(["siren", "relu"]), st.sampled_from(["tanh", 1])),
    "loss": _param(st.sampled_from(["bce", "mse"]), st.sampled_from(["l1", None])),
    "init": _param(st.sampled_from(["shared", "random", "meta"]), st.just("zeros")),
    "features": _param(st.sampled_from(["weights", "shift"]), st.just("bias")),
    "hidden_features": _param(st.integers(1, 8), st.sampled_from([0, -1, 2.0])),
    "hidden_layers": _param(st.integers(0, 1), st.sampled_from([-1, 1.5])),
    "n_steps": _param(st.integers(1, 3), st.sampled_from([0, 2.0, "3"])),
    "lr": _param(
        st.one_of(
            st.floats(1e-6, 1e-1),
            st.sampled_from([1.0, 1e3, 1e6]),
            st.floats(1e-6, 1e6),
            st.just(1),
        ),
        st.one_of(_BAD_REALS, st.sampled_from([1e7, 1e30, 1e308])),
    ),
    # Valid: [1e-3, 1e4]; beyond, float32 overflows or the init underflows.
    "omega_0": _param(
        st.floats(1e-3, 1e4),
        st.one_of(_BAD_REALS, st.sampled_from([5e-324, 1e-300, 1e-4, 1e5, 1e300])),
    ),
    "batch_size": _param(
        st.one_of(st.just("auto"), st.integers(1, 6)),
        st.sampled_from([0, "max", 1.0]),
    ),
    "meta_steps": _param(st.integers(1, 2), st.sampled_from([0, 1.0])),
    "inner_steps": _param(st.integers(1, 2), st.sampled_from([0, "2"])),
    "meta_batch_size": _param(st.integers(1, 6), st.sampled_from([0, -3])),
    "meta_lr": _param(
        st.one_of(st.just("auto"), st.floats(1e-4, 10.0), st.floats(1e-4, 1e6)),
        st.sampled_from([0.0, "fast", np.nan, 1e7, 1e39]),
    ),
    "warm_start_by_class": _param(st.booleans(), st.sampled_from([1, "yes"])),
    "image_shape": _param(
        st.one_of(st.none(), st.tuples(st.integers(-2, 9), st.integers(-2, 9))),
        st.sampled_from(["8x8", 64]),
    ),
    "on_divergence": _param(
        st.sampled_from(["raise", "warn", "ignore"]), st.sampled_from(["skip", None])
    ),
}

LABEL_KINDS = ("ints", "one_class", "strings", "floats_nan", "objects_none", "bools")


@st.composite
def labels(draw, n):
    """(y, what it holds): None, many classes or one, NaN / None labels,
    strings, or the wrong length."""
    kind = draw(st.sampled_from((*LABEL_KINDS, "none", "wrong_length")))
    length = n + draw(st.sampled_from([-1, 1])) if kind == "wrong_length" else n
    if kind == "none" or length < 1:
        return None, "none"
    classes = draw(st.lists(st.integers(0, 2), min_size=length, max_size=length))
    if kind == "one_class":
        y = [7] * length
    elif kind == "strings":
        y = [f"class {c}" for c in classes]
    elif kind == "floats_nan":
        y = [float(c) for c in classes]
        y[draw(st.integers(0, length - 1))] = np.nan
    elif kind == "objects_none":
        y = np.array([f"c{c}" for c in classes], dtype=object)
        y[draw(st.integers(0, length - 1))] = None
    elif kind == "bools":
        y = [bool(c) for c in classes]
    else:
        y = classes
    container = draw(st.sampled_from([list, np.asarray]))
    return container(y) if isinstance(y, list) else y, kind


@given(data=st.data())
def test_fit_transform_parameter_combinations(data):
    shape = data.draw(image_shapes(max_side=6), label="image shape")
    n = data.draw(st.integers(1, 5), label="n_images")
    X = data.draw(
        pixel_arrays((n, *shape), regimes=("unit",), dtypes=(np.float32,)),
        label="X",
    )
    X = np.nan_to_num(X, nan=0.5, posinf=1.0, neginf=0.0)
    params, bad = data.draw(parameter_sets(PARAMETER_STRATEGIES), label="params")
    y, y_kind = data.draw(labels(n), label="y")
    featurizer = tiny(**params)
    theta, error, caught = run(featurizer.fit_transform, X, y)
    outcome("bad parameter" if bad else f"init={params['init']}", error)
    if bad:
        assert isinstance(error, InvalidParameterError), f"accepted invalid {bad}"
        check_error(error, "featurizer", bad)
        return
    warm = params["warm_start_by_class"]
    shift = params["features"] == "shift"
    misfit = shift and (
        params["init"] == "random" or warm or params["hidden_layers"] == 0
    )
    if misfit:
        assert error is not None, "accepted an impossible features='shift' combination"
        check_error(error, "featurizer", ["features", "init", "warm_start_by_class"])
        return
    if warm and y_kind in ("none", "one_class", "floats_nan", "objects_none"):
        assert error is not None, f"warm_start_by_class accepted y: {y_kind}"
        check_error(error, "featurizer", ["y", "warm_start_by_class"])
        return
    if warm and y_kind == "wrong_length":
        assert error is not None, "accepted y of the wrong length"
        # scikit-learn's check_consistent_length: "Found input variables with
        # inconsistent numbers of samples: [4, 5]".
        check_error(error, "featurizer", ["y"], generic=["samples"])
        return
    if warm and y_kind in LABEL_KINDS and len(np.unique(np.asarray(y))) < 2:
        assert error is not None, "warm_start_by_class accepted a single class"
        check_error(error, "featurizer", ["y"])
        return
    meta_lr = params["meta_lr"]
    risky = (
        params["lr"] > 1e-2
        or not 1e-2 <= params["omega_0"] <= 100
        or (params["init"] == "meta" and meta_lr != "auto" and meta_lr > 1)
    )
    if error is not None:
        assert risky, f"safe settings failed: {type(error).__name__}: {error}"
        # INRDivergenceError, or the meta-learning's own divergence ValueError.
        assert isinstance(error, INRDivergenceError) or (
            isinstance(error, ValueError) and "diverged" in str(error)
        ), error
        check_error(error, "featurizer", ["lr", "meta_lr"], generic=X_WORDS)
        return
    if not risky:  # extreme omega_0 also overflows numpy casts (RuntimeWarning)
        check_warnings(caught)
    channels = shape[2] if len(shape) == 3 else 1
    if params["on_divergence"] == "raise" or np.isfinite(theta).all():
        check_theta(featurizer, theta, n, channels)
    else:
        # on_divergence="warn" / "ignore" return diverged fits as they ended.
        assert risky, "non-finite theta from safe settings"
        assert theta.shape == (n, expected_n_params(featurizer, channels))
        if params["on_divergence"] == "warn":
            assert any(issubclass(w.category, DivergenceWarning) for w in caught)
    if warm:
        assert any(w.category.__name__ == "LabelLeakWarning" for w in caught)


# --- featurizer: transform after fit ------------------------------------------------


@st.composite
def fitted_and_new(draw):
    """A fitted featurizer's training input and a new X for transform."""
    shape = draw(image_shapes(max_side=6))
    layout = draw(st.sampled_from(["nd", "flat"]))
    n = draw(st.integers(1, 3))
    train = np.full((n, *shape), 0.5, np.float32)
    if layout == "flat":
        train = train.reshape(n, -1)
    new_shape = draw(st.sampled_from([shape, shape, None]))
    if new_shape is None:
        new_shape = draw(image_shapes(max_side=6))
    new_layout = draw(st.sampled_from(["nd", "flat", "list"]))
    m = draw(st.integers(0, 4))
    new = draw(
        pixel_arrays(
            (m, *new_shape),
            regimes=("unit", "unit", "signed"),
            dtypes=(np.float32, np.float64, np.uint8),
        )
    )
    if new_layout == "flat":
        new = new.reshape(m, int(np.prod(new_shape)))
    elif new_layout == "list":
        new = list(new)
    return train, (shape if layout == "flat" else None), new, new_shape, new_layout


@given(case=fitted_and_new(), loss=st.sampled_from(["bce", "mse"]))
def test_transform_after_fit(case, loss):
    train, image_shape, new, new_shape, new_layout = case
    shape = train.shape[1:] if image_shape is None else image_shape
    featurizer = tiny(image_shape=image_shape, loss=loss)
    _, error, _ = run(featurizer.fit, train)
    assert error is None, error
    note(f"fitted on {shape}; transform {new_layout} of {new_shape}")
    theta, error, caught = run(featurizer.transform, new)
    outcome(new_layout, error)
    m = len(new)
    if m == 0:
        assert error is not None, "transform accepted no images"
        check_error(error, "featurizer", ["X"], generic=X_WORDS)
        return
    if new_layout == "flat":
        compatible = np.prod(new_shape) == np.prod(shape)
    else:
        compatible = tuple(new_shape) == tuple(shape)
    status = classify(np.asarray(new), loss)
    if not compatible:
        assert error is not None, f"transform accepted shape {new_shape} for {shape}"
        if status == "nonfinite":  # found before the shape
            check_error(error, "featurizer", ["X"])
        elif new_layout == "flat":
            check_error(error, "featurizer", ["X"])
            assert "features" in str(error)
        else:
            check_error(error, "featurizer", ["X"])
            assert str(tuple(new_shape)) in str(error), error
            assert str(tuple(shape)) in str(error), error
        return
    if status == "ok":
        assert error is None, f"clean input rejected: {type(error).__name__}: {error}"
        check_warnings(caught)
        check_theta(featurizer, theta, m, shape[2] if len(shape) == 3 else 1)
    else:
        assert error is not None, f"{status} input accepted by transform"
        check_error(error, "featurizer", ["X", "loss"])


# --- load_brats_slices -------------------------------------------------------------


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    """Two tiny intact cohorts (.nii.gz and .nii) of 3 patients, never modified."""
    base = tmp_path_factory.mktemp("fuzz_cohorts")
    return {
        compress: make_brats_like(
            base / ("gz" if compress else "nii"),
            n_patients=N_PATIENTS,
            shape=COHORT_SHAPE,
            compress=compress,
        )
        for compress in (True, False)
    }


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_damaged")


_VALID_MODALITY = st.one_of(
    st.sampled_from(MODALITIES),
    st.lists(st.sampled_from(MODALITIES), min_size=1, max_size=4, unique=True),
)
_MODALITY = _param(
    _VALID_MODALITY,
    st.one_of(
        st.sampled_from(
            ["dwi", "FLAIR", "", [], ["t2", "seg"], ("t1", "T2"), None, 5, 1.5]
        ),
        st.sampled_from(MODALITIES).map(lambda m: [m, "t2", m]),
    ),
)
LOADER_STRATEGIES = {
    "modality": _MODALITY,
    "size": _param(
        st.one_of(
            st.none(),
            st.integers(1, 8),
            st.tuples(st.integers(1, 8), st.integers(1, 8)),
            st.lists(st.integers(1, 8), min_size=2, max_size=2),
            st.integers(1, 8).map(np.int64),
        ),
        st.one_of(
            st.integers(-3, 0),
            st.tuples(st.integers(-2, 8), st.integers(-2, 0)),
            st.sampled_from([(8,), (4, 4, 4), (4.0, 4), "8", "88", (), 8.0, None]),
        ),
    ),
    "n_patients": _param(
        st.one_of(st.none(), st.integers(1, 5)),
        st.sampled_from([0, -1, 1.0, "2"]),
    ),
    "brain_threshold": _param(
        st.one_of(st.floats(0, 0.3), st.floats(0, 1)),
        st.one_of(
            st.floats(-1, -1e-9),
            st.floats(1.0000001, 3),
            st.sampled_from([np.nan, "0.1", None]),
        ),
    ),
    "min_tumor_pixels": _param(
        st.one_of(st.integers(1, 20), st.integers(1, 300)),
        st.sampled_from([0, -5, 1.0, "1", None]),
    ),
    "normalize": _param(
        st.sampled_from(["slice", "volume"]),
        st.sampled_from(["zscore", None, "Slice", ["slice"]]),
    ),
    "percentiles": _param(
        st.tuples(st.floats(0, 99), st.floats(0, 1, exclude_min=True))
        .map(lambda p: (p[0], p[0] + p[1] * (100 - p[0])))
        .filter(lambda p: p[0] < p[1] <= 100),
        st.one_of(
            st.tuples(st.floats(0, 100), st.floats(0, 100)).map(
                lambda p: tuple(sorted(p, reverse=True))
            ),
            st.tuples(st.floats(-50, -0.001), st.floats(0, 100)),
            st.tuples(st.floats(0, 100), st.floats(100.001, 1e3)),
            st.sampled_from([(1.0,), (1, 50, 99), None, "ab", 5, (np.nan, 50)]),
        ),
    ),
    "on_error": _param(
        st.sampled_from(["raise", "skip"]), st.sampled_from(["ignore", None, True])
    ),
}


def check_bunch(data, params):
    size = params.get("size")
    if size is None:
        side = COHORT_SHAPE[:2]
    elif isinstance(size, int | np.integer):
        side = (int(size), int(size))
    else:
        side = tuple(size)
    modality = params.get("modality", "flair")
    channels = () if isinstance(modality, str) else (len(modality),)
    k = len(data.images) // 2
    assert k >= 1
    assert data.images.shape == (2 * k, *side, *channels)
    assert data.images.dtype == np.float32
    assert np.isfinite(data.images).all()
    assert data.images.min() >= 0 and data.images.max() <= 1
    np.testing.assert_array_equal(data.target, [1, 0] * k)
    np.testing.assert_array_equal(data.groups, data.patient_id)
    loaded = list(dict.fromkeys(data.patient_id))
    assert len(loaded) == k and loaded == sorted(loaded)
    assert not set(loaded) & set(data.skipped)
    n_patients = params.get("n_patients")
    if n_patients is None:
        assert set(loaded) | set(data.skipped) == set(PATIENTS)
    else:
        assert k <= n_patients


@given(data=st.data())
def test_load_brats_slices_parameters(cohorts, data):
    params, bad = data.draw(
        parameter_sets(LOADER_STRATEGIES, optional=True), label="params"
    )
    root = cohorts[data.draw(st.booleans(), label="compressed")]
    result, error, caught = run(load_brats_slices, root, **params)
    outcome("bad parameter" if bad else "valid", error)
    if bad:
        assert error is not None, f"accepted invalid {bad}"
        assert isinstance(error, ValueError), error
        check_error(error, "loader", bad)
        return
    if error is not None:
        # Only thresholds that leave no patient with a slice pair may fail.
        assert "yielded" in str(error), error
        check_error(error, "loader", [str(root)])
        return
    check_warnings(caught)
    check_bunch(result, params)


DAMAGES = ("delete", "empty", "truncate", "garbage")


@given(
    compress=st.booleans(),
    patient=st.integers(0, N_PATIENTS - 1),
    kind=st.sampled_from((*MODALITIES, "seg")),
    damage=st.sampled_from(DAMAGES),
    keep=st.floats(0, 1, exclude_max=True),
    garbage=st.binary(min_size=0, max_size=64),
    modality=_VALID_MODALITY,
    on_error=st.sampled_from(["raise", "skip"]),
    n_patients=st.one_of(st.none(), st.integers(1, N_PATIENTS)),
    size=st.one_of(st.none(), st.integers(2, 8)),
)
def test_load_brats_slices_damaged_file(
    cohorts,
    scratch,
    compress,
    patient,
    kind,
    damage,
    keep,
    garbage,
    modality,
    on_error,
    n_patients,
    size,
):
    params = dict(modality=modality, size=size, n_patients=n_patients)
    pid = PATIENTS[patient]
    root = Path(tempfile.mkdtemp(dir=scratch)) / "cohort"
    try:
        shutil.copytree(cohorts[compress], root)
        path = root / pid / f"{pid}_{kind}{'.nii.gz' if compress else '.nii'}"
        content = path.read_bytes()
        if damage == "delete":
            path.unlink()
        elif damage == "empty":
            path.write_bytes(b"")
        elif damage == "truncate":
            path.write_bytes(content[: int(keep * len(content))])
        else:
            path.write_bytes(garbage)
        result, error, caught = run(
            load_brats_slices, root, on_error=on_error, **params
        )
    finally:
        shutil.rmtree(root.parent)
    intact, intact_error, _ = run(load_brats_slices, cohorts[compress], **params)
    assert intact_error is None, intact_error
    read = kind == "seg" or kind in (
        [modality] if isinstance(modality, str) else modality
    )
    reached = n_patients is None or patient < n_patients
    outcome(f"{damage}, {'read' if read and reached else 'unread'}", error)

    def same(a, b):
        np.testing.assert_array_equal(a.images, b.images)
        np.testing.assert_array_equal(a.patient_id, b.patient_id)

    if not (read and reached):
        assert error is None, f"an unread file broke the load: {error}"
        same(result, intact)
        return
    if error is None and pid in result.patient_id:
        # A truncated gzip that still holds all the data can read fine.
        assert damage == "truncate", f"the {damage} file of {pid} was loaded"
        same(result, intact)
        return
    if on_error == "raise":
        assert error is not None
        check_error(error, "loader", [path.name])
        assert isinstance(
            error, FileNotFoundError if damage == "delete" else ValueError
        ), error
        return
    assert error is None, f"on_error='skip' raised {type(error).__name__}: {error}"
    assert path.name in result.skipped[pid]
    assert any(f"Skipping patient {pid}" in str(w.message) for w in caught)
    check_bunch(result, {**params})
    # The other patients load as from the intact cohort (n_patients counts
    # loaded patients, so the next patient takes the skipped one's place).
    full, _, _ = run(load_brats_slices, cohorts[compress], modality=modality, size=size)
    rows = full.patient_id != pid
    expected_ids = full.patient_id[rows]
    keep_rows = len(expected_ids) if n_patients is None else 2 * n_patients
    np.testing.assert_array_equal(result.patient_id, expected_ids[:keep_rows])
    np.testing.assert_array_equal(result.images, full.images[rows][:keep_rows])


@pytest.mark.parametrize(
    "root_kind", ["missing", "file", "empty", "foreign", "one_level_down"]
)
def test_load_brats_slices_roots(cohorts, tmp_path, root_kind):
    root = tmp_path / "root"
    if root_kind == "file":
        root.write_bytes(b"")
    elif root_kind == "empty":
        root.mkdir()
    elif root_kind == "foreign":
        (root / "patient_01").mkdir(parents=True)
    elif root_kind == "one_level_down":
        shutil.copytree(cohorts[True], root / "BraTS2021_Training_Data")
    result, error, _ = run(load_brats_slices, root)
    if root_kind == "one_level_down":
        assert error is None, error
        check_bunch(result, {})
        return
    assert error is not None
    check_error(error, "loader", [str(root)])


# --- the bugs these tests found -------------------------------------------------------


def _fit(X, y=None, **params):
    return tiny(**params).fit_transform(X, y)


def _ragged():
    return [[[0.5] * 4] * 4, [[0.5] * 4] * 3 + [[0.5] * 3]]


# Inputs that crashed the package when this suite was written, kept as exact
# cases: each must now raise a documented error naming what is wrong.
FORMER_BUGS = [
    pytest.param(
        lambda: _fit(np.zeros((2, 0, 4))),
        "featurizer",
        id="empty-image-axis-bce",
    ),
    pytest.param(
        lambda: _fit(np.zeros((2, 4, 0)), loss="mse"),
        "featurizer",
        id="empty-image-axis-mse",
    ),
    pytest.param(
        lambda: _fit(np.zeros((2, 4, 4, 0)), loss="mse"),
        "featurizer",
        id="zero-channels-mse",
    ),
    pytest.param(
        lambda: _fit(_ragged()),
        "featurizer",
        id="ragged-nested-list",
    ),
    pytest.param(
        lambda: _fit(np.full((2, 16), 0.5), image_shape=(None, 4)),
        "featurizer",
        id="image_shape-None-entry",
    ),
    pytest.param(
        lambda: _fit(np.full((2, 16), 0.5), image_shape=(float("nan"), 4)),
        "featurizer",
        id="image_shape-nan-entry",
    ),
    pytest.param(
        lambda: _fit(np.full((2, 16), 0.5), image_shape=(float("inf"), 4)),
        "featurizer",
        id="image_shape-inf-entry",
    ),
    pytest.param(
        lambda: _fit(np.full((2, 16), 0.5), image_shape=("a", 4)),
        "featurizer",
        id="image_shape-str-entry",
    ),
    pytest.param(
        lambda: _fit(np.full((2, 16), 0.5), image_shape=(4.5, 4)),
        "featurizer",
        id="image_shape-float-entry",
    ),
    pytest.param(
        lambda: _fit(np.full((2, 16), 0.5), image_shape=(-1, 2**32, 2**32)),
        "featurizer",
        id="image_shape-product-wraps",
    ),
    pytest.param(
        lambda: _fit(np.full((2, 4, 4), 0.5), omega_0=5e-324),
        "featurizer",
        id="omega_0-subnormal",
    ),
    pytest.param(
        lambda: _fit(np.full((2, 4, 4), 0.5), omega_0=1e300, loss="mse"),
        "featurizer",
        id="omega_0-huge",
    ),
    pytest.param(
        lambda: _fit(
            np.full((2, 4, 4), 0.5),
            init="meta",
            meta_steps=1,
            inner_steps=1,
            meta_lr=1e39,
            loss="mse",
        ),
        "featurizer",
        id="meta_lr-huge",
    ),
    pytest.param(
        lambda: _fit(
            np.full((2, 4, 4), 0.5), np.array([1 + 1j, 2]), warm_start_by_class=True
        ),
        "featurizer",
        id="complex-y-printed",
    ),
    pytest.param(
        lambda: load_brats_slices(".", size=8.0),
        "loader",
        id="loader-float-size",
    ),
    pytest.param(
        lambda: load_brats_slices(".", modality=None),
        "loader",
        id="loader-modality-None",
    ),
]


@pytest.mark.parametrize("call, entry_point", FORMER_BUGS)
def test_former_input_bugs_raise_documented_errors(call, entry_point):
    """Each case must raise a documented error naming what is wrong."""
    _, error, _ = run(call)
    assert error is not None, "accepted"
    if entry_point == "featurizer":
        check_error(error, "featurizer", PARAMETERS, generic=("X", "y", "image"))
    else:
        check_error(error, "loader", LOADER_PARAMETERS)


def test_corrupt_gzip_is_refused(tmp_path):
    """A bit flipped in a .nii.gz that gzip itself rejects (CRC mismatch) must
    not load: load_brats_slices must raise a ValueError naming the file."""
    root = make_brats_like(tmp_path / "cohort", n_patients=1, shape=COHORT_SHAPE)
    path = root / PATIENTS[0] / f"{PATIENTS[0]}_flair.nii.gz"
    content = path.read_bytes()
    silent = []
    logging.disable(logging.WARNING)  # nibabel logs about damaged headers
    try:
        for position in range(20, len(content) - 8, 5):
            flipped = bytearray(content)
            flipped[position] ^= 1
            try:
                gzip.decompress(bytes(flipped))
            except Exception:  # corrupt for gzip: the loader must refuse it too
                path.write_bytes(bytes(flipped))
                result, error, _ = run(load_brats_slices, root)
                if error is None:
                    silent.append(position)
                else:
                    check_error(error, "loader", [path.name])
    finally:
        logging.disable(logging.NOTSET)
    assert not silent, f"corrupt file loaded after flipping bit 0 of bytes {silent}"
