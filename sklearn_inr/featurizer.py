"""INRFeaturizer: one implicit neural representation per image, as features."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._docs import fill_doc
from ._exceptions import LabelLeakWarning
from .estimators._featurizer_doc import fill_featurizer_doc
from .estimators._featurizer_fit import (
    FEATURIZER_CONSTRAINTS,
    FittedView,
    chain_labels,
    featurizer_spec,
    fit_chains,
    fit_images,
    fitted_arrays,
    render_features,
)
from .estimators._image_input import validate_images
from .estimators._strategies import FEATURES, start_of
from .estimators._weight_transfer import warn_label_leak

__all__ = ["INRFeaturizer", "LabelLeakWarning"]


@fill_featurizer_doc
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
    whatever its batch, company, position or ``n_jobs``. On a CPU the
    defaults take minutes per image: see "Cost" in the Notes.

    Parameters
    ----------
    %(inr)s
    %(target_psnr)s
    %(check_every)s
    %(stop_unreachable)s
    %(precision)s
    %(optimizer)s
    %(init)s
    %(features)s
    latent_dim : int, default=64
        With ``features="latent"``: numbers per image.
    %(meta_steps)s
    %(meta_lr)s
    %(inner_steps)s
    %(meta_batch_size)s
    %(warm_start_by_class)s
    %(spatial_ndim)s
    %(image_shape)s
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
        ``(H, W)`` or ``(H, W, C)``; with ``spatial_ndim=3``, ``(D, H, W)``
        or ``(D, H, W, C)``.
    init_params_ : ndarray of shape (n_params,) or None
        The shared initialisation (``None`` with ``init="random"``); the
        learned one with ``init="meta"``, and the fixed base network with
        ``features="shift"``. With ``features="latent"``, the base network,
        latent map and inner learning rates packed in one vector. With
        ``init="task"``, the learned init followed by its ``inner_steps``
        rows of step sizes, ``n_params * (1 + inner_steps)`` values (split
        them with :func:`~sklearn_inr.unpack_task_init`).
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
    converged_ : ndarray of bool of shape (n_train_images,)
        Whether each training image's fit converged (see
        :class:`INRFitResult`: its final PSNR within 1 dB of
        ``target_psnr``, or at least 20 dB without one). When the median
        fit did not, fitting warns with a
        :class:`~sklearn.exceptions.ConvergenceWarning`.
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
    %(weight_transfer_note)s

    %(meta_init_note)s

    %(task_init_note)s

    %(fitted_params_note)s

    %(cost_note)s

    %(input_note)s

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

    _parameter_constraints: dict = FEATURIZER_CONSTRAINTS

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
        check_every=10,
        stop_unreachable=False,
        precision="auto",
        optimizer="adam",
        init="shared",
        features="weights",
        latent_dim=64,
        meta_steps=100,
        meta_lr="auto",
        inner_steps=10,
        meta_batch_size=16,
        warm_start_by_class=False,
        spatial_ndim=2,
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
        self.check_every = check_every
        self.stop_unreachable = stop_unreachable
        self.precision = precision
        self.optimizer = optimizer
        self.init = init
        self.features = features
        self.latent_dim = latent_dim
        self.meta_steps = meta_steps
        self.meta_lr = meta_lr
        self.inner_steps = inner_steps
        self.meta_batch_size = meta_batch_size
        self.warm_start_by_class = warm_start_by_class
        self.spatial_ndim = spatial_ndim
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
    def _fitted(self):
        """This featurizer with the parameters of its last fit (``FittedView``)."""
        # One pickled by a version without the snapshot: its live parameters.
        params = vars(self).get("_fit_params") or self.get_params(deep=False)
        # A fit of a version without volumes read 2-D images.
        return FittedView(self, {"spatial_ndim": 2, **params})

    def _fit_label_free(self, images):
        """Fit ``images`` from the label-free initialisation."""
        fitted = self._fitted()
        theta = FEATURES[fitted.features].start_theta(self.init_params_, self.spec_)
        start = start_of(fitted.init).start(theta, images, self.spec_, self._seed)
        return fit_images(fitted, images, start)

    def _images(self, X):
        """X's images, checked against the fit (image shape, loss's range)."""
        check_is_fitted(self)
        return validate_images(self, X, reset=False, loss=self._fitted().loss)

    def _forget_fit(self):
        """Remove every fitted attribute, so a failed fit leaves none behind."""
        for name in list(vars(self)):
            if (name.endswith("_") and not name.startswith("__")) or name in (
                "_seed",
                "_input_was_2d",
                "_fit_params",
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
        # The validated parameters, as this fit and every later transform
        # read them: set_params takes effect at the next fit.
        self._fit_params = self.get_params(deep=False)
        fitted = self._fitted()
        features, start = FEATURES[fitted.features], start_of(fitted.init)
        # Every check before any fitted attribute is set or any work starts.
        features.check(fitted)
        images, self.image_shape_, self._input_was_2d = validate_images(
            self, X, reset=True, spatial_ndim=fitted.spatial_ndim
        )
        start.check(fitted, images, y)
        # init="task" learns the init with the labels (checked just above);
        # y below is only the chains' (warm_start_by_class).
        labels, y = y, chain_labels(fitted, images, y)
        self.spec_ = featurizer_spec(fitted, self.image_shape_)
        self.n_params_ = features.n_features(self.spec_, fitted)
        # One concrete seed, so transform() reproduces the inits of fit().
        rng = check_random_state(fitted.random_state)
        self._seed = int(rng.randint(np.iinfo(np.int32).max))
        self.init_params_ = start.init_params(
            fitted, images, self.spec_, self._seed, y=labels
        )
        if y is None:
            out = fitted_arrays(self._fit_label_free(images))
        else:
            warn_label_leak()
            self.classes_, y_index = np.unique(y, return_inverse=True)
            out = fit_chains(
                fitted, images, y_index, len(self.classes_), start, self._seed
            )
            self.class_init_ = out["class_init"]
        self.loss_history_ = out["loss_history"]
        self.history_steps_ = out["history_steps"]
        self.train_mse_ = out["mse"]
        self.train_psnr_ = out["psnr"]
        self.n_steps_ = out["n_steps"]
        self.converged_ = out["converged"]
        return out["theta"]

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
        return self._fit_label_free(self._images(X).images).theta

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
        images = render_features(self._fitted(), X)
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
        result = self._fit_label_free(self._images(X).images)
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
        fitted = self._fitted()
        return FEATURES[fitted.features].names(self.spec_, fitted)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.positive_only = self.loss == "bce"
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.target_tags.required = bool(self.warm_start_by_class) or (
            isinstance(self.init, str) and self.init == "task"
        )
        return tags
