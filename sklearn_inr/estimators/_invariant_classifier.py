"""A classifier of INR weights that is invariant to permutations of hidden neurons.

Reordering the hidden neurons of an MLP (rows of a layer's weight and bias,
and the matching columns of the next layer's weight) changes theta but not the
function the network computes. Independently initialised INRs
(``INRFeaturizer(init="random")``) land in arbitrary such orders, which a plain
MLP on theta has to learn to undo. :class:`PermutationInvariantClassifier`
cannot see the order at all: it reads theta as sets of neurons (DeepSets over
neurons, with the weights between two hidden layers read as a set of edges).

The estimator is :class:`~sklearn_inr.MLPClassifier` with another torch module
(labels, seeds, losses, training loop and persistence are shared), which
lives in ``_invariant_module.py``.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_X_y

from .._docs import fill_doc
from ..classifier import MLPClassifier
from ..core import INRSpec, layer_slices
from ._invariant_module import InvariantWeightModule

__all__ = ["PermutationInvariantClassifier"]


@fill_doc
class PermutationInvariantClassifier(MLPClassifier):
    """Classifier of INR weights, invariant to permutations of hidden neurons.

    Permuting the hidden neurons of an INR (the rows of a layer's weight and
    bias, and the same columns of the next layer's weight) changes theta but
    not the image. This classifier's predictions do not change either (up to
    float rounding): it reads theta as sets of neurons, DeepSets-style, so it
    can compare INRs fitted from independent random initialisations
    (``INRFeaturizer(init="random")``), whose neurons come in arbitrary
    orders, which a plain :class:`~sklearn_inr.MLPClassifier` on theta has to
    learn from data.

    Each hidden neuron has a descriptor of what belongs to it alone: its
    bias, plus its raw incoming weights in the first hidden layer and its raw
    outgoing weights in the last one (coordinates and channels are not
    permuted, so these are read as they are). Between two hidden layers both
    ends are permuted, so every weight ``w_ij`` is embedded as an edge, with
    the descriptors of neurons ``i`` and ``j``, by a small shared network,
    and the embeddings are averaged over ``j`` (what comes into neuron ``i``)
    and over ``i`` (what goes out of neuron ``j``). A per-layer network
    embeds each neuron from its descriptor and these averages; the neurons
    of a layer are pooled (mean and max); the pooled vectors and the output
    bias go through an MLP of ``hidden_layer_sizes``. With
    ``hidden_layers=0`` (no weight between two hidden layers), the model is
    a DeepSets over the neurons, each an (incoming row, bias, outgoing
    column) triple: any linear functional of the INR's image is such a sum
    over its neurons.

    Training (labels, losses, Adam, seeds, early stopping, persistence) is
    that of :class:`~sklearn_inr.MLPClassifier`: binary tasks use one logit
    and ``BCEWithLogitsLoss``, others cross-entropy.

    Parameters
    ----------
    in_features : int, default=2
        Input size of the INR (2 for pixel coordinates of 2-D images).

    hidden_features : int, default=256
        Width of the INR's hidden layers.

    hidden_layers : int, default=4
        Number of hidden width -> width layers; the INR has
        ``hidden_layers + 2`` Linear layers (the paper's INR by default:
        264,193 features).

    out_features : int, default=1
        Output size of the INR (the number of image channels).

    edge_features : int, default=16
        Size of the embedding of each weight between two hidden layers.

    neuron_features : int, default=64
        Size of the embedding of each neuron.

    standardize : bool, default=True
        Standardise each layer's weights, and separately its biases, by their
        mean and standard deviation over the training data (two scalars per
        group). SIREN layers differ in scale by orders of magnitude, and one
        scalar per group keeps the invariance, which a per-feature
        :class:`~sklearn.preprocessing.StandardScaler` in front would break.

    hidden_layer_sizes : int or array-like of int, default=(64,)
        Widths of the classification MLP after the pooling.

    activation : {"relu", "tanh", "logistic", "gelu", "identity"}, \
            default="relu"
        Activation of the edge, neuron and classification networks.

    dropout : float in [0, 1), default=0.0
        Dropout probability in the classification MLP (training only).

    %(classifier_lr)s

    %(classifier_batch_size)s

    %(classifier_weight_decay)s

    %(classifier_max_epochs)s

    %(classifier_early_stopping)s

    %(classifier_validation_fraction)s

    %(classifier_n_iter_no_change)s

    %(classifier_device)s

    %(classifier_random_state)s

    %(classifier_verbose)s

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``.

    layer_shapes_ : list of (out, in) tuples
        Shape of each Linear layer's weight, in the order of theta.

    layer_mean_ : ndarray of shape (n_layers, 2)
        Mean of each layer's weights (column 0) and biases (column 1) over
        the training data; zeros with ``standardize=False``.

    layer_scale_ : ndarray of shape (n_layers, 2)
        Their standard deviations (1 where constant); ones with
        ``standardize=False``.

    n_features_in_ : int
        Number of features seen in ``fit``.

    feature_names_in_ : ndarray of shape (n_features,)
        Names of the features seen in ``fit``, when ``X`` has string column
        names.

    net_ : skorch.NeuralNetBinaryClassifier or skorch.NeuralNetClassifier
        The fitted skorch net; ``net_.module_`` is an
        ``InvariantWeightModule``.

    history_ : skorch.History
        Per-epoch training log.

    n_iter_ : int
        Number of epochs run.

    See Also
    --------
    sklearn_inr.MLPClassifier : The same training on the flat theta.
    sklearn_inr.WeightStatistics : Fixed permutation-invariant statistics of
        each layer, a cheaper invariant input.

    Notes
    -----
    Invariance: every operation is either applied to each neuron or edge on
    its own or a mean or max over a permuted axis, so predictions are
    unchanged by any permutation of hidden neurons applied consistently to
    theta (the tests check ``predict_proba`` to 1e-5). Only the float32
    summation order of the means changes. Other symmetries are not removed:
    a SIREN is also unchanged when a neuron's incoming weights, bias and
    outgoing weights all change sign (sine is odd), and a ReLU INR when they
    are rescaled by ``c`` and ``1 / c``.

    What is lost: an edge between two hidden layers knows its end neurons
    only through their descriptors, so anything that ties it to the rest of
    the network two or more layers away is not seen (neural functional
    networks, e.g. DWSNets or NFNs, and graph networks over the INR stack
    equivariant layers for that, at a higher cost). On INRs of random
    initialisations with a hidden-to-hidden layer this matters: see
    ``benchmarks/bench_invariant.py``.

    Memory: each weight matrix between two hidden layers becomes a
    ``(batch_size, width, width, edge_features)`` tensor; for the paper's INR
    (width 256, 4 such matrices), a batch of 32 holds about 0.5 GB of edge
    embeddings, and one training step (forward and backward) peaked at about
    0.9 GB and took 3.4 s on one CPU thread: use a GPU, or a smaller batch.

    Input: theta with ``features="weights"`` (the default of
    :class:`~sklearn_inr.INRFeaturizer`); the layout is checked in ``fit``.

    Persistence is that of :class:`~sklearn_inr.MLPClassifier`: a fitted
    classifier saved with ``skops.io`` loads without pickle, with
    ``trusted=["sklearn_inr.estimators._invariant_classifier.PermutationInvariantClassifier"]``
    as its only non-default trusted type.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRSpec, PermutationInvariantClassifier
    >>> spec = INRSpec(hidden_features=8, hidden_layers=1)
    >>> rng = np.random.default_rng(0)
    >>> theta = np.stack([spec.init_theta(rng) for _ in range(40)])
    >>> theta[20:] *= 2.0  # class 1: larger weights
    >>> y = np.repeat([0, 1], 20)
    >>> clf = PermutationInvariantClassifier(
    ...     hidden_features=8, hidden_layers=1, max_epochs=5, random_state=0
    ... ).fit(theta, y)
    >>> clf.layer_shapes_
    [(8, 2), (8, 8), (1, 8)]
    >>> clf.predict_proba(theta[:3]).shape
    (3, 2)
    """

    _parameter_constraints: dict = {
        **MLPClassifier._parameter_constraints,
        "in_features": [Interval(Integral, 1, None, closed="left")],
        "hidden_features": [Interval(Integral, 1, None, closed="left")],
        "hidden_layers": [Interval(Integral, 0, None, closed="left")],
        "out_features": [Interval(Integral, 1, None, closed="left")],
        "edge_features": [Interval(Integral, 1, None, closed="left")],
        "neuron_features": [Interval(Integral, 1, None, closed="left")],
        "standardize": ["boolean"],
    }

    def __init__(
        self,
        in_features=2,
        hidden_features=256,
        hidden_layers=4,
        out_features=1,
        edge_features=16,
        neuron_features=64,
        standardize=True,
        hidden_layer_sizes=(64,),
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
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            dropout=dropout,
            lr=lr,
            batch_size=batch_size,
            weight_decay=weight_decay,
            max_epochs=max_epochs,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            device=device,
            random_state=random_state,
            verbose=verbose,
        )
        self.in_features = in_features
        self.hidden_features = hidden_features
        self.hidden_layers = hidden_layers
        self.out_features = out_features
        self.edge_features = edge_features
        self.neuron_features = neuron_features
        self.standardize = standardize

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y) -> PermutationInvariantClassifier:
        """Check theta's layout, standardise per layer, and fit with Adam.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_params)
            Flattened INR weights (theta), one INR per row, in the layout of
            the architecture parameters.

        y : array-like of shape (n_samples,)
            Class labels of any type; at least two classes.

        Returns
        -------
        self : PermutationInvariantClassifier
            The fitted classifier.
        """
        shapes = list(
            INRSpec(
                in_features=self.in_features,
                hidden_features=self.hidden_features,
                hidden_layers=self.hidden_layers,
                out_features=self.out_features,
            ).layer_shapes
        )
        # The checks MLPClassifier.fit repeats, first here so that a bad y is
        # reported before the layout; the original X goes on so that its
        # column names are recorded there.
        theta, y_checked = check_X_y(X, y, dtype=np.float32)
        check_classification_targets(y_checked)
        slices = layer_slices(shapes)
        n_params = slices[-1][1].stop
        if theta.shape[1] != n_params:
            raise ValueError(
                f"X has {theta.shape[1]} features, but theta of an INR with "
                f"in_features={self.in_features}, hidden_features="
                f"{self.hidden_features}, hidden_layers={self.hidden_layers} and "
                f"out_features={self.out_features} has {n_params}. Set these "
                "four parameters to the architecture that produced theta (the "
                "INRFeaturizer's, with features='weights')."
            )
        mean = np.zeros((len(shapes), 2))
        scale = np.ones((len(shapes), 2))
        if self.standardize:
            for k, group in enumerate(slices):
                for g, where in enumerate(group):
                    values = theta[:, where].astype(np.float64)
                    mean[k, g] = values.mean()
                    std = values.std()
                    scale[k, g] = std if std > 0 else 1.0
        self.layer_shapes_ = shapes
        self.layer_mean_ = mean
        self.layer_scale_ = scale
        # Plain values, kept with the fitted estimator so that the same
        # module is rebuilt on unpickling whatever set_params did since.
        self._module_config = {
            "layer_shapes": tuple(shapes),
            "edge_features": int(self.edge_features),
            "neuron_features": int(self.neuron_features),
        }
        self._fit_statistics(theta)
        return super().fit(X, y)

    def _fit_statistics(self, theta: np.ndarray) -> None:
        """Fit what a subclass needs from theta, once its layout is checked.

        Called by ``fit`` after ``layer_mean_`` and ``layer_scale_``, before
        training, so that a bad X changes nothing. ``theta`` is the checked
        float32 array.
        """

    def _make_net(self, config: dict, train_split=None, callbacks=()):
        net = super()._make_net(config, train_split=train_split, callbacks=callbacks)
        module_params = {
            f"module__{name}": value for name, value in self._module_config.items()
        }
        # The standardisation is a pair of buffers of the module, restored
        # from its state_dict on unpickling.
        return net.set_params(
            module=InvariantWeightModule,
            module__layer_mean=self.layer_mean_,
            module__layer_scale=self.layer_scale_,
            **module_params,
        )
