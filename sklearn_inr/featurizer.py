"""INRFeaturizer: one implicit neural representation per image, as features."""

from __future__ import annotations

from functools import partial
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
)

from ._docs import fill_doc
from ._exceptions import LabelLeakWarning
from .core._networks import INRSpec
from .estimators._image_input import validate_images
from .estimators._strategies import FEATURES, STARTS, start_of
from .estimators._weight_transfer import (
    check_chain_labels,
    fit_class_chains,
    warn_label_leak,
)
from .fitting._fit import FIT_PARAMETER_CONSTRAINTS
from .fitting._rendering import render_inrs
from .fitting._runner import FitSettings, run_fits

__all__ = ["INRFeaturizer", "LabelLeakWarning"]


@fill_doc
class INRFeaturizer(TransformerMixin, BaseEstimator):
    """Fit one implicit neural representation (INR) per image; output its weights.

    Each image becomes a small network mapping pixel coordinates to
    intensities (a SIREN or a ReLU MLP), fitted with Adam; the flattened
    network parameters, theta, are the image's features. The defaults are
    the paper's TinySIREN: 2 -> 256 -> 4 x (256 -> 256) -> 1, omega_0 = 30,
    BCE-with-logits loss, lr = 1e-4, 1000 full-batch steps, i.e. 264,193
    features per image.

    Fitting runs many images at once on the GPU when there is one (see
    :func:`fit_inrs`); on CPU each image's theta is the same to the bit
    whatever its batch, company, position or ``n_jobs``.

    Parameters
    ----------
    %(inr)s
    %(target_psnr)s
    %(precision)s
    init : {"shared", "random", "meta", "task"} or ndarray of shape (n_params,), \
            default="shared"
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
        ``"task"`` (``features="weights"`` only): :meth:`fit` learns the
        shared initialisation from the training images *and their labels*
        (:func:`task_learn_init`: a classifier head's loss is
        backpropagated through ``inner_steps`` differentiable Adam steps;
        ``meta_lr="auto"`` = ``lr * inner_steps``), so it needs ``y``;
        :meth:`transform` stays label-free, as with ``"meta"``.
        An array (``features="weights"`` only): every image starts from this
        one theta, for example the ``init_params_`` of a featurizer with
        ``init="meta"`` fitted on a separate set of images (an init learned
        once and reused, as the ``cpu-240`` reproduction preset does);
        :meth:`fit` learns nothing.
    features : {"weights", "shift", "latent"}, default="weights"
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
        ``"latent"`` (needs ``init="meta"``): each image is a vector of
        ``latent_dim`` numbers that one linear map turns into those shifts
        (functa). :meth:`fit` meta-learns the base network, the map and one
        inner learning rate per latent dimension (second-order MAML with
        meta-SGD, starting the rates at ``lr``, e.g. ``lr=1e-2``); each
        image then takes ``inner_steps`` gradient steps on its latent from
        zero at the learned rates (``n_steps`` is not used). The output
        has ``latent_dim`` columns, ``latent[0]``, ...
    latent_dim : int, default=64
        With ``features="latent"``: numbers per image.
    %(meta_steps)s
    meta_lr : float or "auto", default="auto"
        With ``init="meta"``: outer step size. For ``features="weights"``
        (Reptile) the fraction of the way the init moves toward the mean
        adapted theta, ``"auto"`` = 1.0; for ``features="shift"`` and
        ``"latent"`` the Adam learning rate of the base network (and map),
        ``"auto"`` = 1e-3.
    %(inner_steps)s
    %(meta_batch_size)s
    warm_start_by_class : bool, default=False
        The paper's "weight transfer": in :meth:`fit_transform` (and
        :meth:`fit`), the training images of each class are fitted in the
        given order, each starting from the previous image of its class.
        This leaks the label into theta; see the Notes.
    image_shape : tuple of int, default=None
        ``(H, W)`` or ``(H, W, C)`` of the images when ``X`` is 2-D (rows of
        flattened images); one entry may be -1 (inferred). Required for 2-D
        ``X``: a guess could read one ``(64, 64)`` image as 64 images of
        8 x 8. Ignored for 3-D / 4-D ``X``.
    %(batch_size)s
    %(device)s
    %(memory)s
    %(n_jobs)s
    %(checkpoint_every)s
    %(on_divergence)s
    %(random_state)s
    %(verbose)s

    Attributes
    ----------
    spec_ : INRSpec
        The fitted architecture (with ``out_features`` = channels).
    n_params_ : int
        Number of output features (length of theta; with
        ``features="shift"``, ``hidden_layers * hidden_features``; with
        ``features="latent"``, ``latent_dim``).
    image_shape_ : tuple of int
        ``(H, W)`` or ``(H, W, C)``.
    init_params_ : ndarray of shape (n_params,) or None
        The shared initialisation (``None`` with ``init="random"``); the
        learned one with ``init="meta"``, and the fixed base network with
        ``features="shift"``. With ``features="latent"``, the base network,
        latent map and inner learning rates packed in one vector.
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
    n_steps_ : ndarray of int of shape (n_train_images,)
        Adam steps each training image took (fewer than ``n_steps`` where
        it reached ``target_psnr``).
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
    ``memory``'s array store (keyed by the training images and the
    settings; never pickled), then
    amortised over every image transformed with far fewer ``n_steps``.
    Inside a Pipeline under cross-validation it is learned on each training
    fold only, so test images never shape it. The meta-learning runs in
    this process (``n_jobs`` applies to the per-image fits). See the user
    guide's meta-learning section.

    **Task-aware initialisation.** With ``init="task"``, :meth:`fit` also
    reads ``y``: the init is learned so that a linear head classifies the
    images' thetas after ``inner_steps`` steps. Every image, training or
    new, is then fitted from that one init, so ``fit_transform(X, y)``
    equals ``fit(X, y).transform(X)`` and there is no train/test mismatch;
    but the init has seen the training labels, so evaluate it only inside a
    Pipeline (each training fold learns its own), never after fitting it on
    all images. With ``memory=`` the init is cached, keyed by the training
    images, their labels and the settings.

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
        **{
            name: FIT_PARAMETER_CONSTRAINTS[name]
            for name in (
                "model", "hidden_features", "hidden_layers", "omega_0", "loss",
                "lr", "n_steps", "target_psnr", "precision", "batch_size", "device",
                "memory",
                "n_jobs", "checkpoint_every", "on_divergence", "random_state",
                "verbose",
            )
        },
        "init": [StrOptions(set(STARTS)), "array-like"],
        "features": [StrOptions(set(FEATURES))],
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "meta_steps": [Interval(Integral, 1, None, closed="left")],
        "meta_lr": [StrOptions({"auto"}), Interval(Real, 0, 1e6, closed="right")],
        "inner_steps": [Interval(Integral, 1, None, closed="left")],
        "meta_batch_size": [Interval(Integral, 1, None, closed="left")],
        "warm_start_by_class": ["boolean"],
        "image_shape": [tuple, list, None],
    }  # fmt: skip

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
        target_psnr=None,
        precision="auto",
        init="shared",
        features="weights",
        latent_dim=64,
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
        checkpoint_every=60.0,
        on_divergence="raise",
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
        self.target_psnr = target_psnr
        self.precision = precision
        self.init = init
        self.features = features
        self.latent_dim = latent_dim
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
        self.checkpoint_every = checkpoint_every
        self.on_divergence = on_divergence
        self.random_state = random_state
        self.verbose = verbose

    # -------------------------------------------------------------- fitting
    def _run(self, images, start, verbose=None):
        """Fit ``images`` (n, H, W[, C]) from an initialisation object."""
        features = FEATURES[self.features]
        n_steps = int(features.fit_steps(self))
        settings = FitSettings(
            loss=self.loss,
            lr=float(self.lr),
            n_steps=n_steps,
            record_every=max(1, n_steps // 100),
            target_psnr=self.target_psnr,
            precision=self.precision,
        )
        return run_fits(
            images.reshape(*images.shape[:3], -1),
            self.spec_,
            settings,
            start,
            features.trainer(self.init_params_),
            batch_size=self.batch_size,
            device=self.device,
            memory=self.memory,
            n_jobs=self.n_jobs,
            checkpoint_every=self.checkpoint_every,
            on_divergence=self.on_divergence,
            verbose=self.verbose if verbose is None else verbose,
        )

    def _fit_label_free(self, images):
        """Fit ``images`` from the label-free initialisation."""
        theta = FEATURES[self.features].start_theta(self.init_params_, self.spec_)
        start = start_of(self.init).start(theta, images, self.spec_, self._seed)
        return self._run(images, start)

    def _check_labels(self, images, y):
        if not self.warm_start_by_class:
            return None
        if y is None:
            raise ValueError(
                "warm_start_by_class=True chains the training images by class and "
                "needs y: call fit(X, y) / fit_transform(X, y), or set "
                "warm_start_by_class=False."
            )
        return check_chain_labels(images, y)

    def _forget_fit(self):
        """Remove every fitted attribute, so a failed fit leaves none behind."""
        for name in list(vars(self)):
            if (name.endswith("_") and not name.startswith("__")) or name in (
                "_seed",
                "_input_was_2d",
            ):
                delattr(self, name)

    @fill_doc
    def fit_transform(self, X, y=None):
        """Fit the INRs of the training images and return their theta.

        With ``warm_start_by_class=True`` the images of each class are
        chained in the given order (the paper's weight transfer), which
        needs ``y`` and makes theta depend on the labels (see the Notes of
        the class). Otherwise this equals ``fit(X, y).transform(X)`` (with
        ``init="task"``, which reads ``y`` in fit too, as well).

        Parameters
        ----------
        %(X_images)s
        %(y_chains)s

        Returns
        -------
        theta : ndarray of shape (n_images, n_params)
        """
        try:
            return self._fit_transform(X, y)
        except BaseException:
            # A fit that fails (bad input, divergence, Ctrl-C) leaves the
            # estimator unfitted, never half-fitted.
            self._forget_fit()
            raise

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit_transform(self, X, y):
        features, start = FEATURES[self.features], start_of(self.init)
        # Every check before any fitted attribute is set or any work starts.
        features.check(self)
        images = validate_images(self, X, reset=True)
        start.check(self, images, y)
        # init="task" learns the init with the labels (checked just above);
        # y below is only the chains' (warm_start_by_class).
        labels, y = y, self._check_labels(images, y)
        channels = self.image_shape_[2] if len(self.image_shape_) == 3 else 1
        self.spec_ = INRSpec(
            self.model,
            hidden_features=self.hidden_features,
            hidden_layers=self.hidden_layers,
            out_features=channels,
            omega_0=float(self.omega_0),
        )
        self.n_params_ = features.n_features(self.spec_, self)
        # One concrete seed, so transform() reproduces the inits of fit().
        rng = check_random_state(self.random_state)
        self._seed = int(rng.randint(np.iinfo(np.int32).max))
        self.init_params_ = start.init_params(
            self, images, self.spec_, self._seed, y=labels
        )
        if y is None:
            result = self._fit_label_free(images)
            fitted = {
                "theta": result.theta, "loss_history": result.loss_history,
                "history_steps": result.history_steps, "mse": result.mse,
                "psnr": result.psnr, "n_steps": result.n_steps,
            }  # fmt: skip
        else:
            warn_label_leak(stacklevel=4)
            self.classes_, y_index = np.unique(y, return_inverse=True)
            fitted = fit_class_chains(
                # The chain's bar counts its steps; a bar per step is noise.
                partial(self._run, verbose=0),
                images,
                y_index,
                len(self.classes_),
                lambda firsts: start.thetas(
                    self.init_params_, firsts, self.spec_, self._seed
                ),
                verbose=self.verbose,
            )
            self.class_init_ = fitted["class_init"]
        self.loss_history_ = fitted["loss_history"]
        self.history_steps_ = fitted["history_steps"]
        self.train_mse_ = fitted["mse"]
        self.train_psnr_ = fitted["psnr"]
        self.n_steps_ = fitted["n_steps"]
        return fitted["theta"]

    @fill_doc
    def fit(self, X, y=None):
        """Fit the INRs of the training images (see :meth:`fit_transform`).

        Parameters
        ----------
        %(X_images)s
        %(y_chains)s

        Returns
        -------
        self : INRFeaturizer
        """
        self.fit_transform(X, y)
        return self

    @fill_doc
    def transform(self, X):
        """Fit one INR per image, from the label-free initialisation.

        Parameters
        ----------
        %(X_images)s

        Returns
        -------
        theta : ndarray of shape (n_images, n_params)
        """
        check_is_fitted(self)
        return self._fit_label_free(validate_images(self, X, reset=False)).theta

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
        features = check_array(X, dtype=np.float32, input_name="theta")
        if features.shape[1] != self.n_params_:
            raise ValueError(
                f"theta has {features.shape[1]} features but this featurizer outputs "
                f"{self.n_params_}."
            )
        theta = FEATURES[self.features].to_theta(
            features, self.init_params_, self.spec_
        )
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

    @fill_doc
    def score(self, X, y=None):
        """Mean reconstruction PSNR (dB) of the INRs fitted to X.

        Lets an unsupervised :class:`~sklearn.model_selection.GridSearchCV`
        choose ``omega_0`` or ``lr`` by reconstruction quality. Each image's
        PSNR is capped at 200 dB, so one perfect reconstruction does not make
        the mean infinite.

        Parameters
        ----------
        %(X_images)s
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        result = self._fit_label_free(validate_images(self, X, reset=False))
        return float(np.mean(np.minimum(result.psnr, 200.0)))

    def get_feature_names_out(self, input_features=None):
        """Names of the theta entries, e.g. ``l2.w[17,3]`` and ``l2.b[17]``.

        With ``features="shift"``: ``l1.shift[0]``, ...; with
        ``features="latent"``: ``latent[0]``, ...

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored (theta does not map to input pixels).

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        return FEATURES[self.features].names(self.spec_, self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.positive_only = self.loss == "bce"
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.target_tags.required = bool(self.warm_start_by_class) or (
            isinstance(self.init, str) and self.init == "task"
        )
        return tags
