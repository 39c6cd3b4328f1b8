"""A scikit-learn multilayer-perceptron classifier built on skorch.

The estimator is the scikit-learn face; the training loop is skorch's
(``NeuralNetBinaryClassifier`` for two classes, ``NeuralNetClassifier``
otherwise), created afresh in every :meth:`MLPClassifier.fit`.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from .core import resolve_device
from .estimators._mlp_network import (
    MLP_ACTIVATIONS,
    make_net,
    training_callbacks,
    training_threads,
)
from .estimators._skorch_classifier import SkorchClassifier

__all__ = ["MLPClassifier"]


class MLPClassifier(SkorchClassifier):
    """Multilayer-perceptron classifier trained with Adam, built on skorch.

    Meant for flattened INR weights ("theta", from
    :class:`~sklearn_inr.INRFeaturizer`) but works on any numeric table.
    Binary tasks use one output logit and ``BCEWithLogitsLoss`` (as in the
    paper); tasks with more classes use one logit per class and
    cross-entropy. Labels may be of any type: they are encoded internally and
    :meth:`predict` returns the original labels.

    Parameters
    ----------
    hidden_layer_sizes : int or array-like of int, default=(256,)
        Width of each hidden layer. An empty tuple gives a linear model
        (logistic / softmax regression trained with Adam).

    activation : {"relu", "tanh", "logistic", "gelu", "identity"}, \
            default="relu"
        Activation after each hidden layer.

    dropout : float in [0, 1), default=0.0
        Dropout probability after each hidden activation (training only).

    lr : float, default=1e-3
        Adam learning rate.

    batch_size : int or "auto", default=32
        Mini-batch size. ``"auto"`` uses ``min(200, n_samples)``, as
        :class:`sklearn.neural_network.MLPClassifier` does.

    weight_decay : float, default=0.0
        L2 penalty passed to Adam's ``weight_decay``.

    max_epochs : int, default=100
        Number of passes over the training data (the paper's 100).

    early_stopping : bool, default=False
        If True, hold out a stratified ``validation_fraction`` of the training
        data and stop when the validation loss has not improved for
        ``n_iter_no_change`` epochs; the weights of the best epoch are kept.
        Off by default: in a cross-validation the outer folds validate, and
        an inner split only costs training data.

    validation_fraction : float in (0, 1), default=0.1
        Fraction of the training data held out when ``early_stopping=True``.

    n_iter_no_change : int, default=10
        Patience (in epochs) of early stopping.

    device : str or torch.device, default="auto"
        Torch device for training and inference; ``"auto"`` picks ``"cuda"``
        when available, else ``"cpu"``. Outputs are always NumPy arrays.

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the batch shuffling, dropout and the
        early-stopping split, so that ``fit`` is reproducible for an int. The
        global torch random state is left as it was.

    verbose : int, default=0
        If positive, skorch prints a line per epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``.

    n_features_in_ : int
        Number of features seen in ``fit``.

    feature_names_in_ : ndarray of shape (n_features,)
        Names of the features seen in ``fit``, when ``X`` has string column
        names.

    net_ : skorch.NeuralNetBinaryClassifier or skorch.NeuralNetClassifier
        The fitted skorch net; ``net_.module_`` is the torch module.

    history_ : skorch.History
        Per-epoch training log (losses, durations).

    n_iter_ : int
        Number of epochs run (fewer than ``max_epochs`` after early stopping).

    See Also
    --------
    sklearn.neural_network.MLPClassifier : scikit-learn's own MLP (NumPy, CPU).
    sklearn_inr.WeightStatistics : Per-layer statistics of theta, a small
        input for a cheap baseline.
    sklearn.decomposition.PCA : Reduces theta before the classifier.

    Notes
    -----
    Memory: the first layer holds ``n_features * hidden_layer_sizes[0]``
    weights. On theta of the paper's INR (264,193 features) a first hidden
    layer of 256 is 67.6 million weights, about 270 MB in float32; Adam keeps
    a gradient and two moment estimates of the same size, so training needs
    about 1 GB for that layer alone. Reducing theta first, e.g.
    ``make_pipeline(INRFeaturizer(), StandardScaler(), PCA(n_components=64),
    MLPClassifier())`` or ``SelectKBest(k=1000)``, makes the classifier tiny
    and fast, and often generalises better on small cohorts.

    Training shuffles the mini-batches every epoch. Inputs are cast to
    float32.

    Persistence: pickle, joblib and ``skops.io`` store the network's weights
    as NumPy arrays and rebuild the skorch net on load (on the CPU when CUDA
    is not available there); the optimizer state is not kept. A fitted
    classifier saved with ``skops.io`` therefore loads without pickle, with
    ``trusted=["sklearn_inr.classifier.MLPClassifier"]`` as its only
    non-default trusted type.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn_inr.classifier import MLPClassifier
    >>> X, y = make_classification(n_samples=60, n_features=5, random_state=0)
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=10,
    ...                     random_state=0).fit(X, ["no" if t else "yes" for t in y])
    >>> clf.classes_
    array(['no', 'yes'], dtype='<U3')
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    >>> clf.decision_function(X[:3]).shape
    (3,)
    >>> clf.n_iter_
    10
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(set(MLP_ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(256,),
        activation="relu",
        dropout=0.0,
        lr=1e-3,
        batch_size=32,
        weight_decay=0.0,
        max_epochs=100,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _hidden_sizes(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, Integral):
            sizes = (sizes,)
        sizes = tuple(sizes)
        if not all(isinstance(s, Integral) and s >= 1 for s in sizes):
            raise ValueError(
                "hidden_layer_sizes must be positive integers, got "
                f"{self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y) -> MLPClassifier:
        """Fit the network on ``(X, y)`` with Adam.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, cast to float32.

        y : array-like of shape (n_samples,)
            Class labels of any type; at least two classes.

        Returns
        -------
        self : MLPClassifier
            The fitted classifier.
        """
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        hidden = self._hidden_sizes()

        y_net = self._encode_labels(y)
        n_classes = len(self.classes_)
        seed = self._training_seed()
        device = str(resolve_device(self.device))
        batch_size = (
            min(200, X.shape[0]) if self.batch_size == "auto" else self.batch_size
        )

        train_split, callbacks = training_callbacks(
            self.early_stopping, self.validation_fraction, self.n_iter_no_change, seed
        )

        # Plain values only: kept with the fitted estimator so that the net can
        # be rebuilt on unpickling (see __getstate__).
        self._net_config = {
            "input_dim": int(X.shape[1]),
            "hidden_layer_sizes": hidden,
            "activation": self.activation,
            "dropout": float(self.dropout),
            "n_classes": n_classes,
            "lr": float(self.lr),
            "weight_decay": float(self.weight_decay),
            "max_epochs": int(self.max_epochs),
            "batch_size": int(batch_size),
            "device": device,
            "verbose": int(self.verbose),
        }
        self._train_net(X, y_net, seed, train_split=train_split, callbacks=callbacks)
        return self

    def _make_net(self, config: dict, train_split=None, callbacks=()):
        # The one place that builds the skorch net, in fit and on unpickling:
        # a subclass that trains another torch module with the same loop
        # (labels, seeds, loss, persistence) overrides only this.
        return make_net(config, train_split=train_split, callbacks=callbacks)

    def _training_threads(self, config: dict):
        return training_threads(config)

    def _net_input(self, X) -> np.ndarray:
        return validate_data(self, X, dtype=np.float32, reset=False)
