"""A graph metanetwork: a classifier of INR weights by message passing.

:class:`GraphMetanetClassifier` reads theta as the INR's graph (neurons as
nodes, biases as node features, weights as edge features) and passes
messages over it, equivariantly to permutations of hidden neurons and, for
SIRENs, to the sign flip of a hidden neuron, in the manner of ScaleGMN
(Kalogeropoulos et al., NeurIPS 2024). Its layout check, per-layer
standardisation (per weight with ``aligned=True``), training loop and
persistence are those of
:class:`~sklearn_inr.PermutationInvariantClassifier`; the torch module lives
in ``_graph_metanet_module.py``.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from .._docs import fill_doc
from ._graph_metanet_module import GraphMetanetModule
from ._invariant_classifier import PermutationInvariantClassifier

__all__ = ["GraphMetanetClassifier"]


@fill_doc
class GraphMetanetClassifier(PermutationInvariantClassifier):
    """Classifier of INR weights by message passing over the INR's graph.

    Each neuron of the INR is a node (the input coordinates, every hidden
    neuron, the output channels); a bias is the feature of its neuron's
    node, with the neuron's activations at a grid of probe inputs
    (``probe_grid``), and the weight ``w_ij`` the feature of the edge from
    neuron ``j`` to neuron ``i`` of the next layer. ``message_passing_layers`` rounds
    each send every node the mean over its incoming edges of
    ``e_ij * B(h_j)`` and the mean over its outgoing edges likewise, update
    every node by a residual MLP and then every edge from its own features
    and the product of its end nodes' features. The readout is the input and
    output nodes' features, the mean and max over each hidden layer of an
    invariant embedding of its nodes, and the output bias, through an MLP of
    ``hidden_layer_sizes``.

    Two symmetries of an INR change theta but not its image, and neither
    changes the predictions (up to float rounding; unless ``aligned=True``,
    which gives them up for theta of one shared init):

    - permutations of the hidden neurons of a layer (their rows of the
      layer's weight and bias and their columns of the next layer's
      weight): every network is shared by the nodes (edges) of a layer and
      every aggregation is a mean or max over neurons;
    - with ``symmetry="sign"`` (SIRENs), a hidden neuron's sign flip: its
      incoming weights, bias and outgoing weights all negated. Sine is
      odd, so the image is unchanged. Every feature of a hidden node
      changes sign with its neuron, an edge's with the product of its
      ends' signs; node and edge updates are odd functions and the readout
      of hidden nodes is even, as in ScaleGMN's sign-equivariant layers.

    Unlike :class:`~sklearn_inr.PermutationInvariantClassifier`, which
    sees each weight between two hidden layers only with its two end
    neurons, the rounds of messages carry information along paths across
    the whole network.

    Training (labels, losses, Adam, seeds, early stopping, persistence) is
    that of :class:`~sklearn_inr.MLPClassifier`.

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

    model : {"siren", "relu", "gauss"}, default="siren"
        The INR family that produced theta (the featurizer's ``model``): it
        sets the activation of the probe features and the default
        ``symmetry``. ``"fourier"`` is not supported (its first layer reads
        encoded coordinates).

    omega_0 : float, default=30.0
        The INRs' ``omega_0`` (the featurizer's), for the probe features.

    symmetry : {"auto", "sign", "none"}, default="auto"
        ``"sign"``: the network is also invariant to a hidden neuron's sign
        flip, a symmetry of INRs whose activation is odd
        (``model="siren"``). ``"none"``: permutations only, for INRs where a
        flip changes the image (``"relu"``, ``"gauss"``; ReLU INRs have a
        positive rescaling symmetry instead, which is not removed).
        ``"auto"``: ``"sign"`` for ``model="siren"`` (unless ``aligned``),
        ``"none"`` otherwise.

    aligned : bool, default=False
        For theta fitted from one shared init (the featurizer's default
        ``init="shared"``, or ``"meta"``), where hidden neuron ``i`` of
        every INR started from the same weights and keeps a like role. Each
        hidden neuron gets a learned embedding, added to its node's first
        features; theta is standardised per weight, as a ``StandardScaler``
        would (see ``standardize``); and the readout keeps
        ``node_readout_features`` channels of every hidden node instead of
        their mean and max, and every weight and bias as well (an MLP's view
        of theta beside the message passing's). The network then sees
        which neuron is which, as an MLP on theta does, and is no longer
        invariant to permutations or sign flips of hidden neurons (a shared
        init leaves none to undo). Needs ``symmetry="none"`` or ``"auto"``.
        The head then reads every weight and bias besides the nodes (about
        274,600 inputs for the paper's INR with the defaults: size
        ``hidden_layer_sizes`` for it). Leave it off for
        INRs of independent inits (a model zoo). On FashionMNIST's shared
        theta it scored level with an MLP on theta, and about 5 points
        above the invariant network (the "Choosing features" page).

    node_readout_features : int, default=8
        With ``aligned=True``, the channels of each hidden node that the
        readout keeps (a small network maps the node's
        ``neuron_features`` to them); unused otherwise. The head reads
        ``node_readout_features`` times the number of hidden neurons from
        them. Few channels overfit less: on FashionMNIST, 8 scored 0.5
        points above all 64 (the "Choosing features" page).

    probe_grid : int, default=8
        Probe features, as in NG-GNN (Kofinas et al., ICLR 2024): every INR
        is run on a ``probe_grid ** in_features`` grid of input points
        (pixel centres in [-1, 1]), and each neuron's node starts with its
        activations there besides its bias (the outputs' are the image at
        the probes). They are functions of the network, so they keep both
        symmetries, and they give the message passing what the weights
        alone make it learn slowly. ``0``: none, theta's numbers only.

    edge_features : int, default=16
        Channels of each edge (weight).

    neuron_features : int, default=64
        Channels of each node (neuron).

    message_passing_layers : int, default=2
        Rounds of message passing; information travels one layer of the INR
        per round.

    edge_updates : bool, default=False
        Update the edges' features in each round, from their end nodes
        (ScaleGMN's edge updates). The dearest part: each round runs an MLP
        on every weight, two to three times the cost of a round without;
        on FashionMNIST at 3,000 images it did not help (see the "Choosing
        features" page).

    standardize : bool, default=True
        Scale each layer's weights, and separately its biases, by statistics
        over the training data (one scalar per group, which keeps both
        symmetries): with ``symmetry="sign"`` divide by their root mean
        square (subtracting a mean would not commute with a sign flip), with
        ``"none"`` subtract the mean and divide by the standard deviation.
        With ``aligned=True``, each weight and bias by its own mean and
        standard deviation instead: theta of one shared init is the init's
        value plus a small change per fit, which a per-layer scale keeps
        tiny.

    hidden_layer_sizes : int or array-like of int, default=(64,)
        Widths of the classification MLP after the readout.

    activation : {"relu", "tanh", "logistic", "gelu", "identity"}, \
            default="relu"
        Activation of the message-passing and classification networks.

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
        ``standardize=False``. With ``symmetry="sign"`` the module divides
        by ``sqrt(layer_mean_**2 + layer_scale_**2)``, the root mean square.

    feature_mean_ : ndarray of shape (n_params,) or None
        With ``aligned=True``, the mean of each weight and bias over the
        training data (zeros with ``standardize=False``), which the module
        uses instead of ``layer_mean_``; None otherwise.

    feature_scale_ : ndarray of shape (n_params,) or None
        Their standard deviations (1 where constant; ones with
        ``standardize=False``), or None. With ``aligned=True``,
        ``layer_mean_`` and ``layer_scale_`` are still fitted but unused.

    n_features_in_ : int
        Number of features seen in ``fit``.

    feature_names_in_ : ndarray of shape (n_features,)
        Names of the features seen in ``fit``, when ``X`` has string column
        names.

    net_ : skorch.NeuralNetBinaryClassifier or skorch.NeuralNetClassifier
        The fitted skorch net; ``net_.module_`` is a ``GraphMetanetModule``.

    history_ : skorch.History
        Per-epoch training log.

    n_iter_ : int
        Number of epochs run.

    See Also
    --------
    sklearn_inr.PermutationInvariantClassifier : Permutation invariance only,
        one edge at a time (DeepSets over neurons), no probes.
    sklearn_inr.MLPClassifier : The same training on the flat theta.

    Notes
    -----
    Cost: every Linear layer's edges are a
    ``(batch_size, n_out, n_in, edge_features)`` float32 tensor, which each
    round reads twice (the messages each way) and, with ``edge_updates``,
    rewrites through an MLP. For the weight-space benchmark's INR
    (2 -> 32 -> 32 -> 1) an epoch over 3,000 INRs took about 7 s on one CPU
    thread (probes on, no edge updates). For the paper's INR (256 x 256
    matrices) one such tensor holds 134 MB at a batch of 32 and 16
    channels, and autograd keeps several per layer and round: use a GPU or
    a smaller batch. The probes cost one forward pass of each INR at
    ``probe_grid ** in_features`` points.

    Input: theta with ``features="weights"`` (the default of
    :class:`~sklearn_inr.INRFeaturizer`); the layout is checked in ``fit``.

    Persistence is that of :class:`~sklearn_inr.MLPClassifier`: a fitted
    classifier saved with ``skops.io`` loads without pickle, with
    ``trusted=["sklearn_inr.estimators._graph_metanet.GraphMetanetClassifier"]``
    as its only non-default trusted type.

    References
    ----------
    Kalogeropoulos, Bouritsas and Panagakis, "Scale Equivariant Graph
    Metanetworks", NeurIPS 2024.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import GraphMetanetClassifier, INRSpec
    >>> spec = INRSpec(hidden_features=8, hidden_layers=1)
    >>> rng = np.random.default_rng(0)
    >>> theta = np.stack([spec.init_theta(rng) for _ in range(40)])
    >>> theta[20:] *= 2.0  # class 1: larger weights
    >>> y = np.repeat([0, 1], 20)
    >>> clf = GraphMetanetClassifier(
    ...     hidden_features=8, hidden_layers=1, max_epochs=5, random_state=0
    ... ).fit(theta, y)
    >>> clf.layer_shapes_
    [(8, 2), (8, 8), (1, 8)]
    >>> clf.predict_proba(theta[:3]).shape
    (3, 2)
    """

    _parameter_constraints: dict = {
        **PermutationInvariantClassifier._parameter_constraints,
        "model": [StrOptions({"siren", "relu", "gauss"})],
        "omega_0": [Interval(Real, 0, None, closed="neither")],
        "symmetry": [StrOptions({"auto", "sign", "none"})],
        "probe_grid": [Interval(Integral, 0, None, closed="left")],
        "message_passing_layers": [Interval(Integral, 0, None, closed="left")],
        "edge_updates": ["boolean"],
        "aligned": ["boolean"],
        "node_readout_features": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        in_features=2,
        hidden_features=256,
        hidden_layers=4,
        out_features=1,
        model="siren",
        omega_0=30.0,
        symmetry="auto",
        probe_grid=8,
        edge_features=16,
        neuron_features=64,
        message_passing_layers=2,
        edge_updates=False,
        aligned=False,
        node_readout_features=8,
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
            in_features=in_features,
            hidden_features=hidden_features,
            hidden_layers=hidden_layers,
            out_features=out_features,
            edge_features=edge_features,
            neuron_features=neuron_features,
            standardize=standardize,
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
        self.model = model
        self.omega_0 = omega_0
        self.symmetry = symmetry
        self.probe_grid = probe_grid
        self.message_passing_layers = message_passing_layers
        self.edge_updates = edge_updates
        self.aligned = aligned
        self.node_readout_features = node_readout_features

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y) -> GraphMetanetClassifier:
        """Check theta's layout, standardise it, and fit with Adam.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_params)
            Flattened INR weights (theta), one INR per row, in the layout of
            the architecture parameters.

        y : array-like of shape (n_samples,)
            Class labels of any type; at least two classes.

        Returns
        -------
        self : GraphMetanetClassifier
            The fitted classifier.
        """
        self._resolved_symmetry()  # its errors before any other check
        return super().fit(X, y)

    def _resolved_symmetry(self) -> str:
        """``symmetry`` with ``"auto"`` resolved, or why it cannot hold."""
        symmetry = self.symmetry
        if symmetry == "auto":
            odd = self.model == "siren" and not self.aligned
            return "sign" if odd else "none"
        if symmetry == "sign" and self.aligned:
            raise ValueError(
                "aligned=True gives each hidden neuron an identity, which "
                "symmetry='sign' would have to ignore. Pass symmetry='none' "
                "(or 'auto'), or aligned=False for INRs of independent inits."
            )
        if symmetry == "sign" and self.model != "siren":
            raise ValueError(
                f"symmetry='sign' assumes an odd activation, but model="
                f"{self.model!r}: flipping a neuron's signs changes such an "
                "INR's image. Pass symmetry='none' (or 'auto')."
            )
        return symmetry

    def _fit_statistics(self, theta: np.ndarray) -> None:
        # Plain values, kept with the fitted estimator so that the same
        # module is rebuilt on unpickling whatever set_params did since. Set
        # here, once X is checked, so that a failed fit leaves them as they
        # were.
        self._graph_config = {
            "symmetry": self._resolved_symmetry(),
            "model": str(self.model),
            "omega_0": float(self.omega_0),
            "probe_grid": int(self.probe_grid),
            "message_passing_layers": int(self.message_passing_layers),
            "edge_updates": bool(self.edge_updates),
            "aligned": bool(self.aligned),
            "node_readout_features": int(self.node_readout_features),
        }
        self.feature_mean_ = self.feature_scale_ = None
        if self.aligned:
            n_params = theta.shape[1]
            self.feature_mean_ = np.zeros(n_params)
            self.feature_scale_ = np.ones(n_params)
            if self.standardize:
                # Accumulated in float64, without a float64 copy of theta.
                self.feature_mean_ = theta.mean(axis=0, dtype=np.float64)
                std = theta.std(axis=0, dtype=np.float64)
                self.feature_scale_ = np.where(std > 0, std, 1.0)

    def _make_net(self, config: dict, train_split=None, callbacks=()):
        net = super()._make_net(config, train_split=train_split, callbacks=callbacks)
        params = {
            f"module__{name}": value for name, value in self._graph_config.items()
        }
        # Like the per-layer statistics: buffers of the module, restored from
        # its state_dict on unpickling.
        return net.set_params(
            module=GraphMetanetModule,
            module__feature_mean=self.feature_mean_,
            module__feature_scale=self.feature_scale_,
            **params,
        )
