"""A small convolutional network on the pixels, as a scikit-learn classifier.

The pixel baseline a reviewer asks for first: no INR, the images themselves.
Labels, seeds, losses, the training loop and persistence are those of
:class:`~sklearn_inr.MLPClassifier` (the shared ``SkorchClassifier`` base);
the torch module lives in ``_convnet_module.py``.
"""

from __future__ import annotations

from contextlib import nullcontext
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, validate_data

from ..core import resolve_device, torch_threads
from ._convnet_module import ConvNetModule, conv_macs
from ._image_input import flat_image_shape
from ._mlp_network import SINGLE_THREAD_MACS, make_skorch_net
from ._skorch_classifier import SkorchClassifier

__all__ = ["ConvNetClassifier"]


class ConvNetClassifier(SkorchClassifier):
    """Small convolutional network on images, trained with Adam (skorch).

    A pixel baseline for the INR features: it sees the images themselves.
    Each channel is standardised by its mean and standard deviation over
    the training images (two numbers per channel, fitted in :meth:`fit`,
    so absolute intensities still count); then 3x3 convolutions (zero
    padding, ReLU), with a 2x2 max-pool after each but the last; the mean
    and the maximum of each last feature map over space (global average and
    max pooling), dropout and a linear layer to the logits. With the
    default ``channels=(8, 16, 32)`` and one channel::

        conv3x3(1->8) ReLU maxpool2 -> conv3x3(8->16) ReLU maxpool2
        -> conv3x3(16->32) ReLU -> [mean, max] over space (64 values)
        -> dropout -> linear

    which is 5,953 parameters for two classes whatever the image size.
    Binary tasks use one logit and ``BCEWithLogitsLoss``, others one logit
    per class and cross-entropy, as :class:`~sklearn_inr.MLPClassifier`.

    Parameters
    ----------
    channels : array-like of int, default=(8, 16, 32)
        Feature maps of each convolution block (one block per entry).

    dropout : float in [0, 1), default=0.0
        Dropout probability before the linear layer (training only).

    lr : float, default=3e-3
        Adam learning rate.

    batch_size : int or "auto", default=16
        Mini-batch size; ``"auto"`` uses ``min(200, n_samples)``.

    weight_decay : float, default=0.0
        L2 penalty passed to Adam's ``weight_decay``.

    max_epochs : int, default=60
        Number of passes over the training data (no early stopping: in a
        cross-validation the outer folds validate).

    precision : {"fp32", "bf16"}, default="fp32"
        What the convolutions compute in. ``"bf16"`` runs them (and the
        max-pools between them) under bfloat16 autocast; the weights, their
        gradients, the standardisation, the final pooling and the linear
        head stay float32. On a CPU with
        AVX512-BF16 (or AMX) and on GPUs it about halves a step's time;
        elsewhere it can be slower. Predictions use the precision of ``fit``.

    image_shape : tuple of int or None, default=None
        ``(H, W)`` or ``(H, W, C)`` of the images when ``X`` is 2-D (one
        flattened image per row); one entry may be -1. Ignored for 3-D or
        4-D ``X``.

    device : str or torch.device, default="auto"
        Torch device for training and inference; ``"auto"`` picks ``"cuda"``
        when available, else ``"cpu"``. Outputs are always NumPy arrays.

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the batch shuffling and dropout, so
        that ``fit`` is reproducible for an int (bit for bit on the CPU). The
        global torch random state is left as it was.

    verbose : int, default=0
        If positive, skorch prints a line per epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``.

    image_shape_ : tuple of int
        ``(H, W)`` or ``(H, W, C)`` of the training images; ``predict``
        takes images of this shape only.

    channel_mean_ : ndarray of shape (n_channels,)
        Mean of each channel over the training images.

    channel_scale_ : ndarray of shape (n_channels,)
        Their standard deviations (1 where a channel is constant).

    n_features_in_ : int
        Number of values per image (``H * W * C``).

    feature_names_in_ : ndarray of shape (n_features,)
        Names of the features seen in ``fit``, when ``X`` is 2-D with string
        column names.

    net_ : skorch.NeuralNetBinaryClassifier or skorch.NeuralNetClassifier
        The fitted skorch net; ``net_.module_`` is the torch module.

    history_ : skorch.History
        Per-epoch training log (losses, durations).

    n_iter_ : int
        Number of epochs run.

    See Also
    --------
    sklearn_inr.MLPClassifier : The same training on a table (e.g. theta).
    sklearn_inr.INRFeaturizer : INR weights as features of the images.

    Notes
    -----
    Input: ``(n, H, W)`` or ``(n, H, W, C)`` image arrays (channels last),
    or 2-D rows of flattened images with ``image_shape``. Inputs are cast to
    float32; the network takes them as ``(n, C, H, W)``.

    Training budget: the defaults are sized for the reproduction's 64 x 64
    slices on two CPU cores, where small networks train on one torch thread
    (faster beside other work). The convolutions cost 2.65 million
    multiply-adds per 64 x 64 slice and forward pass; training time grows
    with ``n_samples * max_epochs`` and the number of pixels. On 80
    synthetic slices (``make_brats_like(root, 40, (96, 96, 60),
    random_state=0)``, ``load_brats_slices(root, size=64)``), one fit on a
    training fold of 64 slices took about 3 s (2.6 to 3.1 s of CPU) on the
    development machine, so the 15 fits of the reproduction's CNN row (5
    folds x 3 conditions) took 44 s; the 5-fold StratifiedGroupKFold
    accuracy was 0.86 on average over ``random_state`` 0 to 4 (0.83 to
    0.91; logistic regression on the pixels: 0.81 on the same folds).

    Training shuffles the mini-batches every epoch. On the CPU, two fits
    with the same integer ``random_state`` give the same weights.

    Persistence is that of :class:`~sklearn_inr.MLPClassifier`: a fitted
    classifier saved with ``skops.io`` loads without pickle, with
    ``trusted=["sklearn_inr.estimators._convnet.ConvNetClassifier"]`` as
    its only non-default trusted type.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import ConvNetClassifier
    >>> rng = np.random.default_rng(0)
    >>> images = rng.uniform(0.0, 0.3, size=(40, 8, 8))
    >>> images[20:, 2:5, 2:5] = 1.0  # class 1: a bright square
    >>> y = np.repeat([0, 1], 20)
    >>> clf = ConvNetClassifier(max_epochs=20, lr=1e-2, random_state=0)
    >>> clf.fit(images, y).score(images, y)
    1.0
    >>> clf.predict_proba(images[:2]).shape
    (2, 2)
    """

    _parameter_constraints: dict = {
        "channels": ["array-like"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "precision": [StrOptions({"fp32", "bf16"})],
        "image_shape": [tuple, list, None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        channels=(8, 16, 32),
        dropout=0.0,
        lr=3e-3,
        batch_size=16,
        weight_decay=0.0,
        max_epochs=60,
        precision="fp32",
        image_shape=None,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.channels = channels
        self.dropout = dropout
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.precision = precision
        self.image_shape = image_shape
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _channels(self) -> tuple[int, ...]:
        channels = tuple(self.channels)
        if not channels or not all(
            isinstance(c, Integral) and not isinstance(c, bool) and c >= 1
            for c in channels
        ):
            raise ValueError(
                "channels must be a non-empty sequence of positive integers "
                f"(feature maps of each convolution block), got {self.channels!r}."
            )
        return tuple(int(c) for c in channels)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y) -> ConvNetClassifier:
        """Standardise each channel, and train the network with Adam.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W), (n_samples, H, W, C) \
                or (n_samples, H * W * C)
            Training images; 2-D rows need ``image_shape``.

        y : array-like of shape (n_samples,)
            Class labels of any type; at least two classes.

        Returns
        -------
        self : ConvNetClassifier
            The fitted classifier.
        """
        channels = self._channels()
        images, y = self._images(X, y, reset=True)
        y_net = self._encode_labels(y)
        seed = self._training_seed()
        # Statistics in float64: a float32 sum over many pixels drifts.
        values = images.transpose(1, 0, 2, 3).reshape(images.shape[1], -1)
        self.channel_mean_ = values.mean(axis=1, dtype=np.float64)
        std = values.std(axis=1, dtype=np.float64)
        self.channel_scale_ = np.where(std > 0, std, 1.0)
        batch_size = (
            min(200, len(images)) if self.batch_size == "auto" else self.batch_size
        )
        # Plain values only: kept with the fitted estimator so that the net can
        # be rebuilt on unpickling (see SkorchClassifier.__getstate__).
        self._net_config = {
            "in_channels": int(images.shape[1]),
            "channels": channels,
            "dropout": float(self.dropout),
            "precision": str(self.precision),
            "n_classes": len(self.classes_),
            "lr": float(self.lr),
            "weight_decay": float(self.weight_decay),
            "max_epochs": int(self.max_epochs),
            "batch_size": int(batch_size),
            "device": str(resolve_device(self.device)),
            "verbose": int(self.verbose),
        }
        self._train_net(images, y_net, seed)
        return self

    def _make_net(self, config: dict, train_split=None, callbacks=()):
        module_params = {
            "in_channels": config["in_channels"],
            "channels": config["channels"],
            "dropout": config["dropout"],
            # Configs pickled before the option: float32.
            "precision": config.get("precision", "fp32"),
            # Restored from the module's state_dict on unpickling too.
            "mean": self.channel_mean_,
            "scale": self.channel_scale_,
        }
        return make_skorch_net(
            ConvNetModule,
            module_params,
            config,
            train_split=train_split,
            callbacks=callbacks,
        )

    def _training_threads(self, config: dict):
        # As for MLPClassifier: a small network's CPU steps run faster on one
        # thread (the 64 x 64 slices of the reproduction, batches of 16: 2x
        # to 30x faster beside other work on 2 cores); large ones use all.
        step_macs = (
            3 * config["batch_size"] * conv_macs(self.image_shape_, config["channels"])
        )
        if torch.device(config["device"]).type == "cpu" and (
            step_macs < SINGLE_THREAD_MACS
        ):
            return torch_threads(1)
        return nullcontext()

    def _net_input(self, X) -> np.ndarray:
        return self._images(X, reset=False)[0]

    def _images(self, X, y=None, *, reset: bool):
        """X checked (and, with ``reset``, its image shape recorded) as
        float32 ``(n, C, H, W)``, and y checked against it."""
        if isinstance(X, list | tuple):
            X = np.asarray(X)
        if isinstance(X, np.ndarray) and X.ndim > 2:
            X = check_array(X, allow_nd=True, dtype=np.float32, input_name="X")
            if X.ndim > 4:
                raise ValueError(
                    "X must be 2-D (n_images, n_pixels) with image_shape, 3-D "
                    f"(n_images, H, W) or 4-D (n_images, H, W, C); got shape "
                    f"{X.shape}."
                )
            shape = tuple(int(n) for n in X.shape[1:])
            if not reset and shape != self.image_shape_:
                raise ValueError(
                    f"X holds images of shape {shape}, but {type(self).__name__} "
                    f"was fitted on images of shape {self.image_shape_}."
                )
            # The flat view (no copy) records n_features_in_, and y is checked
            # as for any scikit-learn estimator.
            flat = X.reshape(len(X), -1)
            if y is None:
                validate_data(self, flat, reset=reset, skip_check_array=True)
            else:
                _, y = validate_data(self, flat, y, reset=reset, dtype=np.float32)
        else:
            if y is None:
                X = validate_data(self, X, reset=reset, dtype=np.float32)
            else:
                X, y = validate_data(self, X, y, reset=reset, dtype=np.float32)
            shape = (
                flat_image_shape(self.image_shape, X.shape[1])
                if reset
                else self.image_shape_
            )
        if reset:
            self.image_shape_ = shape
        images = X.reshape(len(X), *shape)
        if images.ndim == 3:
            images = images[..., None]
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2)), y
