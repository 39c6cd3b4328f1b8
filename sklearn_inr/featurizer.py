"""INRFeaturizer: one implicit neural representation per image, as features."""

from __future__ import annotations

import os
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import (
    FLOAT_DTYPES,
    check_array,
    check_consistent_length,
    check_is_fitted,
    check_memory,
    column_or_1d,
    validate_data,
)

from ._fitting import fit_inrs, image_seeds, render_inrs
from ._meta import meta_learn_init, meta_learn_shift_base
from ._networks import INRSpec
from ._shifts import fit_shifts, shift_feature_names, shifts_to_theta

__all__ = ["INRFeaturizer", "LabelLeakWarning"]


class LabelLeakWarning(UserWarning):
    """Features were fitted from label-dependent initialisations.

    Raised by :meth:`INRFeaturizer.fit_transform` with
    ``warm_start_by_class=True``: the training features then carry their
    label through their starting point, and new images transformed without
    labels do not, so a classifier trained on them learns the leak.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from sklearn_inr import INRFeaturizer, LabelLeakWarning
    >>> images = np.random.default_rng(0).uniform(size=(4, 4, 4))
    >>> featurizer = INRFeaturizer(hidden_features=4, hidden_layers=1, n_steps=1,
    ...                            warm_start_by_class=True, random_state=0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = featurizer.fit_transform(images, [0, 1, 0, 1])
    >>> caught[0].category is LabelLeakWarning
    True
    """


class INRFeaturizer(TransformerMixin, BaseEstimator):
    """Fit one implicit neural representation (INR) per image; output its weights.

    Each image becomes a small network mapping pixel coordinates to
    intensities (a SIREN or a ReLU MLP), fitted with Adam; the flattened
    network parameters, theta, are the image's features. The defaults are
    the paper's TinySIREN: 2 -> 256 -> 4 x (256 -> 256) -> 1, omega_0 = 30,
    BCE-with-logits loss, lr = 1e-4, 1000 full-batch steps, i.e. 264,193
    features per image.

    Fitting runs many images at once on the GPU when there is one (see
    :func:`fit_inrs`); each image's theta is the same whatever its batch,
    company or position.

    Parameters
    ----------
    model : {"siren", "relu"}, default="siren"
        Sine activations ``sin(omega_0 (W x + b))`` (SIREN, Sitzmann et al.
        2020) or ReLU, on every layer but the linear output.
    hidden_features : int, default=256
        Width of the hidden layers.
    hidden_layers : int, default=4
        Number of ``width -> width`` layers; the network has
        ``hidden_layers + 2`` Linear layers.
    omega_0 : float, default=30.0
        SIREN frequency factor; ignored by ``model="relu"``.
    loss : {"bce", "mse"}, default="bce"
        ``"bce"``: binary cross-entropy on the logit output, the
        reconstruction being its sigmoid (intensities must be in [0, 1]).
        ``"mse"``: squared error on the output itself.
    lr : float, default=1e-4
        Adam learning rate.
    n_steps : int, default=1000
        Full-batch Adam steps per image.
    init : {"shared", "random", "meta"}, default="shared"
        ``"shared"``: every image starts from one initialisation drawn from
        ``random_state`` and stored as ``init_params_``, which puts all
        thetas in one coordinate system. ``"random"``: each image gets its
        own draw, seeded by ``random_state`` and the image's bytes.
        ``"meta"``: :meth:`fit` *learns* the shared initialisation from the
        training images, without labels (Reptile, or first-order MAML for
        ``features="shift"``; see ``meta_steps`` and the Notes), so that
        :meth:`transform` reaches a given PSNR in far fewer steps
        (``benchmarks/bench_meta.py`` measured 2 to 59 steps to match what the
        shared init reaches in 1000, on small SIRENs).
    features : {"weights", "shift"}, default="weights"
        ``"weights"``: the output is theta, all network parameters.
        ``"shift"``: a base network shared by all images (``init_params_``:
        meta-learned with ``init="meta"``, a random draw with
        ``init="shared"``) stays fixed and each image fits only its shift
        modulations, one bias offset per hidden unit of the
        ``hidden_layers`` ``width -> width`` layers (functa): the output has
        ``hidden_layers * hidden_features`` columns (1,024 for the default
        network instead of 264,193). Shifts start at zero and are fitted
        with Adam at ``lr``, which wants a larger value than weights do
        (e.g. ``lr=1e-2``).
    meta_steps : int, default=100
        With ``init="meta"``: outer steps of the meta-learning.
    meta_lr : float or "auto", default="auto"
        With ``init="meta"``: outer step size. For ``features="weights"``
        (Reptile) the fraction of the way the init moves toward the mean
        adapted theta, ``"auto"`` = 1.0; for ``features="shift"`` the Adam
        learning rate of the base network, ``"auto"`` = 1e-3.
    inner_steps : int, default=10
        With ``init="meta"``: Adam steps (at ``lr``) each sampled image is
        fitted for in each outer step.
    meta_batch_size : int, default=16
        With ``init="meta"``: images sampled per outer step.
    warm_start_by_class : bool, default=False
        The paper's "weight transfer": in :meth:`fit_transform` (and
        :meth:`fit`), the training images of each class are fitted in the
        given order, each starting from the previous image of its class.
        This leaks the label into theta; see the Notes.
    image_shape : tuple of int, default=None
        ``(H, W)`` or ``(H, W, C)`` of the images when ``X`` is 2-D; one
        entry may be -1 (inferred). ``None``: square single-channel images.
        Ignored for 3-D / 4-D ``X``.
    batch_size : int or "auto", default="auto"
        Images trained together; ``"auto"`` fits a memory budget
        (:func:`fit_inrs`).
    device : {"auto", "cpu", "cuda"}, default="auto"
        ``"auto"`` uses the GPU when there is one.
    memory : None, str, path or joblib.Memory, default=None
        Cache folder for each image's theta. A grid search over classifier
        parameters, and the test folds of a cross-validation, then reuse
        fitted INRs instead of fitting them again, and an interrupted run
        resumes where it stopped.
    n_jobs : int, default=None
        Number of joblib workers fitting chunks of images in parallel.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation.
    verbose : int, default=0
        Show a progress bar when > 0.

    Attributes
    ----------
    spec_ : INRSpec
        The fitted architecture (with ``out_features`` = channels).
    n_params_ : int
        Number of output features (length of theta; with
        ``features="shift"``, ``hidden_layers * hidden_features``).
    image_shape_ : tuple of int
        ``(H, W)`` or ``(H, W, C)``.
    init_params_ : ndarray of shape (n_params,) or None
        The shared initialisation (``None`` with ``init="random"``); the
        learned one with ``init="meta"``, and the fixed base network with
        ``features="shift"``.
    class_init_ : ndarray of shape (n_classes, n_params)
        With ``warm_start_by_class``: the last theta of each class chain.
    classes_ : ndarray of shape (n_classes,)
        With ``warm_start_by_class``: the labels of the chains.
    loss_history_ : ndarray of shape (n_train_images, n_records)
        Training loss of each training image at ``history_steps_``.
    history_steps_ : ndarray of shape (n_records,)
    train_mse_ : ndarray of shape (n_train_images,)
        Reconstruction mean squared error of each training image.
    train_psnr_ : ndarray of shape (n_train_images,)
        Reconstruction PSNR of each training image (dB).
    n_features_in_ : int
        Number of pixels times channels.
    feature_names_in_ : ndarray of shape (n_features,)
        Defined only when ``X`` has string column names.

    See Also
    --------
    fit_inrs : The engine, as a function of image arrays.
    render_inrs : Render theta at any resolution.
    MLPClassifier : A classifier for theta.

    Notes
    -----
    **Weight transfer leaks the label.** With ``warm_start_by_class=True``
    the training features depend on the labels through their starting
    points: images of one class start near each other, so theta separates
    the classes even for pure-noise images. :meth:`transform` never sees
    labels, so new images start from ``init_params_`` instead: train and
    test features then come from different distributions, much like
    :class:`~sklearn.preprocessing.TargetEncoder`, whose ``fit_transform``
    differs from ``fit().transform()`` on purpose. Scores computed on
    features that were all produced by ``fit_transform`` with labels (the
    paper's protocol) measure the labels, not the images. Use the default
    ``init="shared"`` for honest features, and evaluate a chained
    featurizer only inside a Pipeline, where test folds go through
    :meth:`transform`.

    **Meta-learned initialisation.** With ``init="meta"``, :meth:`fit`
    learns ``init_params_`` from the training images alone; labels are
    never read. Its cost is ``meta_steps * meta_batch_size * inner_steps``
    engine image-steps (16,000 with the defaults: the cost of fitting 16
    images for 1000 steps), paid once per :meth:`fit` and cached in
    ``memory`` (keyed by the training images and the settings), then
    amortised over every image transformed with far fewer ``n_steps``.
    Inside a Pipeline under cross-validation it is learned on each training
    fold only, so test images never shape it. The meta-learning runs in
    this process (``n_jobs`` applies to the per-image fits of
    ``features="weights"``). See the user guide's meta-learning section.

    Input: ``X`` is ``(n_images, H, W)``, ``(n_images, H, W, C)`` or 2-D
    ``(n_images, H * W * C)`` with ``image_shape``. Channels become output
    features of one network per image. Coordinates are pixel centres scaled
    to [-1, 1] per axis.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRFeaturizer
    >>> images = np.random.default_rng(0).uniform(size=(4, 8, 8))
    >>> featurizer = INRFeaturizer(hidden_features=16, hidden_layers=1,
    ...                            lr=1e-3, n_steps=50, random_state=0)
    >>> theta = featurizer.fit_transform(images)
    >>> theta.shape
    (4, 337)
    >>> featurizer.get_feature_names_out()[:2]
    array(['l0.w[0,0]', 'l0.w[0,1]'], dtype=object)
    >>> featurizer.inverse_transform(theta).shape
    (4, 8, 8)
    """

    _parameter_constraints: dict = {
        "model": [StrOptions({"siren", "relu"})],
        "hidden_features": [Interval(Integral, 1, None, closed="left")],
        "hidden_layers": [Interval(Integral, 0, None, closed="left")],
        "omega_0": [Interval(Real, 0, None, closed="neither")],
        "loss": [StrOptions({"bce", "mse"})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "n_steps": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"shared", "random", "meta"})],
        "features": [StrOptions({"weights", "shift"})],
        "meta_steps": [Interval(Integral, 1, None, closed="left")],
        "meta_lr": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "inner_steps": [Interval(Integral, 1, None, closed="left")],
        "meta_batch_size": [Interval(Integral, 1, None, closed="left")],
        "warm_start_by_class": ["boolean"],
        "image_shape": [tuple, list, None],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "device": [str, torch.device],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        model="siren",
        *,
        hidden_features=256,
        hidden_layers=4,
        omega_0=30.0,
        loss="bce",
        lr=1e-4,
        n_steps=1000,
        init="shared",
        features="weights",
        meta_steps=100,
        meta_lr="auto",
        inner_steps=10,
        meta_batch_size=16,
        warm_start_by_class=False,
        image_shape=None,
        batch_size="auto",
        device="auto",
        memory=None,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.hidden_features = hidden_features
        self.hidden_layers = hidden_layers
        self.omega_0 = omega_0
        self.loss = loss
        self.lr = lr
        self.n_steps = n_steps
        self.init = init
        self.features = features
        self.meta_steps = meta_steps
        self.meta_lr = meta_lr
        self.inner_steps = inner_steps
        self.meta_batch_size = meta_batch_size
        self.warm_start_by_class = warm_start_by_class
        self.image_shape = image_shape
        self.batch_size = batch_size
        self.device = device
        self.memory = memory
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ input
    def _validate_images(self, X, *, reset):
        """Check X and return ``(images (n, H, W[, C]), was_2d)``."""
        if isinstance(X, list | tuple) and np.ndim(X) > 2:  # a list of images
            X = np.asarray(X)
        if isinstance(X, np.ndarray) and X.ndim > 2:
            X = check_array(
                X,
                allow_nd=True,
                dtype=FLOAT_DTYPES,
                ensure_min_features=1,
                input_name="X",
            )
            if X.ndim > 4:
                raise ValueError(
                    f"X must be 2-D (n_images, n_pixels), 3-D (n_images, H, W) or "
                    f"4-D (n_images, H, W, C); got shape {X.shape}."
                )
            shape, was_2d = X.shape[1:], False
            if not reset and tuple(shape) != self.image_shape_:
                raise ValueError(
                    f"X holds images of shape {tuple(shape)}, but "
                    f"{type(self).__name__} was fitted on images of shape "
                    f"{self.image_shape_}."
                )
            validate_data(
                self, X.reshape(len(X), -1), reset=reset, skip_check_array=True
            )
        else:
            X = validate_data(self, X, reset=reset, dtype=FLOAT_DTYPES)
            shape = self._flat_image_shape(X.shape[1]) if reset else self.image_shape_
            was_2d = True
        if reset:
            self.image_shape_ = tuple(int(n) for n in shape)
            self._input_was_2d = was_2d
        images = X.reshape(len(X), *self.image_shape_)
        if self.loss == "bce" and (images.min() < 0 or images.max() > 1):
            raise ValueError(
                f"loss='bce' needs intensities in [0, 1], got values in "
                f"[{images.min():g}, {images.max():g}]. Rescale the images (e.g. "
                "divide by their maximum) or use loss='mse'."
            )
        return images

    def _flat_image_shape(self, n_features):
        if self.image_shape is None:
            side = int(round(np.sqrt(n_features)))
            if side * side != n_features:
                raise ValueError(
                    f"X has {n_features} features, which is not a square "
                    "single-channel image; pass image_shape=(H, W) or (H, W, C), "
                    "or give X as an array of shape (n_images, H, W[, C])."
                )
            return (side, side)
        shape = [int(n) for n in self.image_shape]
        if (
            len(shape) not in (2, 3)
            or shape.count(-1) > 1
            or any(n < 1 and n != -1 for n in shape)
        ):
            raise ValueError(
                f"image_shape must be (H, W) or (H, W, C) with positive sizes and "
                f"at most one -1, got {self.image_shape!r}."
            )
        known = int(np.prod([n for n in shape if n != -1]))
        if -1 in shape:
            if n_features % known:
                raise ValueError(
                    f"X has {n_features} features, which image_shape="
                    f"{tuple(self.image_shape)} cannot hold."
                )
            shape[shape.index(-1)] = n_features // known
        if int(np.prod(shape)) != n_features:
            raise ValueError(
                f"X has {n_features} features but image_shape={tuple(shape)} holds "
                f"{int(np.prod(shape))}; fix image_shape or X."
            )
        return tuple(shape)

    # -------------------------------------------------------------- fitting
    def _fit_settings(self):
        return {
            "model": self.model,
            "hidden_features": self.hidden_features,
            "hidden_layers": self.hidden_layers,
            "omega_0": self.omega_0,
            "loss": self.loss,
            "lr": self.lr,
            "n_steps": self.n_steps,
            "batch_size": self.batch_size,
            "device": self.device,
            "memory": self.memory,
            "n_jobs": self.n_jobs,
            "verbose": self.verbose,
            "record_every": max(1, self.n_steps // 100),
        }

    def _fit_images(self, images, init=None):
        """Run the engine from the label-free init (or ``init``)."""
        if self.features == "shift":
            settings = self._fit_settings()
            return fit_shifts(
                images,
                self.init_params_,
                self.spec_,
                **{
                    key: settings[key]
                    for key in ("n_steps", "lr", "loss", "batch_size", "device")
                },
                record_every=settings["record_every"],
                memory=self.memory,
                verbose=self.verbose,
            )
        if init is None:
            init = self.init_params_ if self.init in ("shared", "meta") else "random"
        return fit_inrs(
            images, init=init, random_state=self._seed, **self._fit_settings()
        )

    def _fit_chains(self, images, y):
        """The paper's weight transfer: chain each class's images in order."""
        self.classes_, y_index = np.unique(y, return_inverse=True)
        members = [np.flatnonzero(y_index == c) for c in range(len(self.classes_))]
        n_params = self.spec_.n_params
        if self.init in ("shared", "meta"):
            current = np.tile(self.init_params_, (len(members), 1))
        else:
            firsts = [m[0] for m in members]
            seeds = image_seeds(images[firsts], self._seed)
            current = np.stack([self.spec_.init_theta(s) for s in seeds])
        theta = np.empty((len(images), n_params), dtype=np.float32)
        loss_history = [None] * len(images)
        train_mse, train_psnr = np.empty(len(images)), np.empty(len(images))
        settings = {**self._fit_settings(), "verbose": 0}
        positions = range(max(len(m) for m in members))
        if self.verbose > 0:
            from tqdm.auto import tqdm

            positions = tqdm(positions, desc="Weight transfer by class", unit="step")
        for position in positions:
            active = [c for c, m in enumerate(members) if position < len(m)]
            rows = [members[c][position] for c in active]
            result = fit_inrs(images[rows], init=current[active], **settings)
            current[active] = result.theta
            theta[rows] = result.theta
            train_mse[rows], train_psnr[rows] = result.mse, result.psnr
            for row, history in zip(rows, result.loss_history):
                loss_history[row] = history
        self.class_init_ = current
        steps = result.history_steps
        return theta, np.stack(loss_history), steps, train_mse, train_psnr

    def _check_features(self):
        if self.features != "shift":
            return
        if self.init == "random":
            raise ValueError(
                "features='shift' fits per-image shifts of one base network shared "
                "by all images, which init='random' does not have; use "
                "init='meta' (learned base) or init='shared'."
            )
        if self.warm_start_by_class:
            raise ValueError(
                "warm_start_by_class=True chains full networks and does not apply "
                "to features='shift'; set warm_start_by_class=False."
            )
        if self.hidden_layers < 1:
            raise ValueError(
                "features='shift' offsets the biases of the hidden width -> width "
                "layers, and hidden_layers=0 has none; use hidden_layers >= 1."
            )

    def _meta_learn(self, images):
        """Learn ``init_params_`` from the training images (cached in memory)."""
        shift = self.features == "shift"
        meta_lr = self.meta_lr
        if meta_lr == "auto":
            meta_lr = 1e-3 if shift else 1.0
        memory = self.memory
        if isinstance(memory, os.PathLike):
            memory = os.fspath(memory)
        learn = check_memory(memory).cache(_learn_init, ignore=["device", "verbose"])
        return learn(
            images,
            self.spec_,
            shift=shift,
            init_theta=self.init_params_,
            meta_steps=self.meta_steps,
            meta_lr=float(meta_lr),
            inner_steps=self.inner_steps,
            inner_lr=float(self.lr),
            meta_batch_size=self.meta_batch_size,
            loss=self.loss,
            random_state=self._seed,
            device=str(self.device),
            verbose=self.verbose,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit the INRs of the training images and return their theta.

        With ``warm_start_by_class=True`` the images of each class are
        chained in the given order (the paper's weight transfer), which
        needs ``y`` and makes theta depend on the labels (see the Notes of
        the class). Otherwise this equals ``fit(X).transform(X)``.

        Parameters
        ----------
        X : array-like of shape (n_images, n_features) or (n_images, H, W[, C])
        y : array-like of shape (n_images,), default=None
            Only used with ``warm_start_by_class=True``.

        Returns
        -------
        theta : ndarray of shape (n_images, n_params)
        """
        # Every check before any fitted attribute is set or any work starts.
        self._check_features()
        if self.warm_start_by_class and y is None:
            raise ValueError(
                "warm_start_by_class=True chains the training images by class and "
                "needs y: call fit(X, y) / fit_transform(X, y), or set "
                "warm_start_by_class=False."
            )
        images = self._validate_images(X, reset=True)
        if self.warm_start_by_class:
            y = column_or_1d(y, warn=True)
            check_consistent_length(images, y)
        channels = self.image_shape_[2] if len(self.image_shape_) == 3 else 1
        self.spec_ = INRSpec(
            self.model,
            hidden_features=self.hidden_features,
            hidden_layers=self.hidden_layers,
            out_features=channels,
            omega_0=float(self.omega_0),
        )
        self.n_params_ = self.spec_.n_params
        rng = check_random_state(self.random_state)
        # One concrete seed, so transform() reproduces the inits of fit().
        self._seed = int(rng.randint(np.iinfo(np.int32).max))
        self.init_params_ = (
            self.spec_.init_theta(self._seed)
            if self.init in ("shared", "meta")
            else None
        )
        if self.features == "shift":
            self.n_params_ = self.hidden_layers * self.hidden_features
        if self.init == "meta":
            self.init_params_ = self._meta_learn(images)
        if self.warm_start_by_class:
            warnings.warn(
                "warm_start_by_class=True: each training image's INR starts from "
                "the previous image of its class, so the training theta encodes "
                "the label (even for pure noise). transform() has no labels and "
                "starts new images from init_params_, so train and test features "
                "differ. Evaluate only with test folds passed through transform() "
                "(e.g. inside a Pipeline), never on fit_transform output.",
                LabelLeakWarning,
                stacklevel=3,
            )
            theta, history, steps, train_mse, train_psnr = self._fit_chains(images, y)
        else:
            result = self._fit_images(images)
            theta, history, steps = (
                result.theta,
                result.loss_history,
                result.history_steps,
            )
            train_mse, train_psnr = result.mse, result.psnr
        self.loss_history_ = history
        self.history_steps_ = steps
        self.train_mse_ = train_mse
        self.train_psnr_ = train_psnr
        return theta

    def fit(self, X, y=None):
        """Fit the INRs of the training images (see :meth:`fit_transform`).

        Parameters
        ----------
        X : array-like of shape (n_images, n_features) or (n_images, H, W[, C])
        y : array-like of shape (n_images,), default=None
            Only used with ``warm_start_by_class=True``.

        Returns
        -------
        self : INRFeaturizer
        """
        self.fit_transform(X, y)
        return self

    def transform(self, X):
        """Fit one INR per image, from the label-free initialisation.

        Parameters
        ----------
        X : array-like of shape (n_images, n_features) or (n_images, H, W[, C])

        Returns
        -------
        theta : ndarray of shape (n_images, n_params)
        """
        check_is_fitted(self)
        return self._fit_images(self._validate_images(X, reset=False)).theta

    def inverse_transform(self, X):
        """Render theta back to images on the training grid.

        Parameters
        ----------
        X : array-like of shape (n_images, n_params)
            Theta, e.g. from :meth:`transform`.

        Returns
        -------
        images : ndarray
            ``(n_images, H * W * C)`` if the featurizer was fitted on 2-D X,
            else ``(n_images, H, W[, C])``.
        """
        check_is_fitted(self)
        theta = check_array(X, dtype=np.float32, input_name="theta")
        if theta.shape[1] != self.n_params_:
            raise ValueError(
                f"theta has {theta.shape[1]} features but this featurizer outputs "
                f"{self.n_params_}."
            )
        if self.features == "shift":
            theta = shifts_to_theta(theta, self.init_params_, self.spec_)
        images = render_inrs(
            theta,
            self.image_shape_[:2],
            model=self.model,
            hidden_features=self.hidden_features,
            hidden_layers=self.hidden_layers,
            omega_0=self.omega_0,
            out_features=self.spec_.out_features,
            loss=self.loss,
            device=self.device,
        )
        if self._input_was_2d:
            return images.reshape(len(images), -1)
        return images.reshape(len(images), *self.image_shape_)

    def score(self, X, y=None):
        """Mean reconstruction PSNR (dB) of the INRs fitted to X.

        Lets an unsupervised :class:`~sklearn.model_selection.GridSearchCV`
        choose ``omega_0`` or ``lr`` by reconstruction quality. Each image's
        PSNR is capped at 200 dB, so one perfect reconstruction does not make
        the mean infinite.

        Parameters
        ----------
        X : array-like of shape (n_images, n_features) or (n_images, H, W[, C])
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        result = self._fit_images(self._validate_images(X, reset=False))
        return float(np.mean(np.minimum(result.psnr, 200.0)))

    def get_feature_names_out(self, input_features=None):
        """Names of the theta entries, e.g. ``l2.w[17,3]`` and ``l2.b[17]``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored (theta does not map to input pixels).

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        if self.features == "shift":
            return shift_feature_names(self.spec_)
        return self.spec_.feature_names()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.positive_only = self.loss == "bce"
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.target_tags.required = bool(self.warm_start_by_class)
        return tags


def _learn_init(images, spec, *, shift, device, verbose, **settings):
    """The meta-learning behind ``init="meta"``.

    A module-level function, so that :class:`joblib.Memory` keys it by the
    training images and the settings (not the device or verbosity).
    """
    learn = meta_learn_shift_base if shift else meta_learn_init
    return learn(images, spec, device=device, verbose=verbose, **settings)
