"""Per-layer statistics of flattened INR weights: a small, cheap theta summary."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)

from ..core import INRSpec, layer_slices

__all__ = ["WeightStatistics"]


def _quantile_name(q: float) -> str:
    # 0.25 -> "q25", 0.125 -> "q12.5", 1.0 -> "q100"
    return f"q{100 * q:g}"


class WeightStatistics(TransformerMixin, BaseEstimator):
    """Per-layer statistics of INR weights (theta).

    For each Linear layer of the INR, the mean, the standard deviation and
    the given quantiles of its weights and, separately, of its biases. These
    statistics do not change when the hidden units of a layer are permuted
    (a permutation that leaves the function unchanged but reorders theta), so
    they are a small, permutation-invariant summary: the paper's net gives
    6 layers x 2 x 7 = 84 features instead of 264,193. A cheap baseline for
    classifiers on theta.

    The layout of theta is that of :class:`~sklearn_inr.INRFeaturizer`: for
    each layer in order, its weight ``(out, in)`` row-major, then its bias
    ``(out,)``.

    Parameters
    ----------
    quantiles : array-like of float in [0, 1], default=(0.0, 0.25, 0.5, 0.75, 1.0)
        Quantiles computed for each weight matrix and each bias vector
        (0.0 is the minimum, 1.0 the maximum). May be empty.

    layer_shapes : list of (out, in) tuples, "flat" or None, default=None
        Shape of each Linear layer's weight, in the order of theta.

        - None: derived from ``in_features``, ``hidden_features``,
          ``hidden_layers`` and ``out_features`` (defaults: the paper's INR,
          264,193 parameters).
        - list of ``(out, in)``: any stack of Linear layers with biases; the
          four architecture parameters are then ignored.
        - ``"flat"``: no layer structure; the statistics are taken over all
          features of X together (works for any number of features).

    in_features : int, default=2
        Input size of the INR (2 for pixel coordinates of 2-D images).

    hidden_features : int, default=256
        Width of the hidden layers.

    hidden_layers : int, default=4
        Number of hidden width -> width layers; the INR has
        ``hidden_layers + 2`` Linear layers.

    out_features : int, default=1
        Output size of the INR (the number of image channels).

    Attributes
    ----------
    layer_shapes_ : list of (out, in) tuples or None
        The layer shapes used; None with ``layer_shapes="flat"``.

    n_features_in_ : int
        Number of features seen in ``fit``.

    feature_names_in_ : ndarray of shape (n_features,)
        Names of the features seen in ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    sklearn_inr.INRFeaturizer : Fits the INRs and returns theta.
    sklearn_inr.MLPClassifier : Classifier for theta or for these statistics.

    Notes
    -----
    ``fit`` only checks that the number of features matches the layer shapes
    and learns nothing from the data, so the transform of a sample never
    depends on other samples.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr.estimators._weight_statistics import WeightStatistics
    >>> stats = WeightStatistics(quantiles=(0.5,), layer_shapes=[(3, 2), (1, 3)])
    >>> theta = np.arange(2 * (3 * 2 + 3 + 1 * 3 + 1), dtype=float).reshape(2, -1)
    >>> stats.fit_transform(theta).shape
    (2, 12)
    >>> stats.get_feature_names_out()[:4]
    array(['l0.w.mean', 'l0.w.std', 'l0.w.q50', 'l0.b.mean'], dtype=object)
    """

    _parameter_constraints: dict = {
        "quantiles": ["array-like"],
        "layer_shapes": [None, StrOptions({"flat"}), "array-like"],
        "in_features": [Interval(Integral, 1, None, closed="left")],
        "hidden_features": [Interval(Integral, 1, None, closed="left")],
        "hidden_layers": [Interval(Integral, 0, None, closed="left")],
        "out_features": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        quantiles=(0.0, 0.25, 0.5, 0.75, 1.0),
        layer_shapes=None,
        in_features=2,
        hidden_features=256,
        hidden_layers=4,
        out_features=1,
    ):
        self.quantiles = quantiles
        self.layer_shapes = layer_shapes
        self.in_features = in_features
        self.hidden_features = hidden_features
        self.hidden_layers = hidden_layers
        self.out_features = out_features

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.allow_nan = False
        return tags

    def _check_quantiles(self) -> np.ndarray:
        q = np.asarray(self.quantiles, dtype=float).reshape(-1)
        if np.any(~np.isfinite(q)) or np.any((q < 0) | (q > 1)):
            raise ValueError(
                f"quantiles must lie in [0, 1], got {list(self.quantiles)!r}."
            )
        names = [_quantile_name(v) for v in q]
        if len(set(names)) != len(names):
            raise ValueError(
                f"quantiles must be distinct, got {list(self.quantiles)!r}."
            )
        return q

    def _resolve_layer_shapes(self) -> list[tuple[int, int]] | None:
        if isinstance(self.layer_shapes, str):  # "flat"
            return None
        if self.layer_shapes is None:
            spec = INRSpec(
                in_features=self.in_features,
                hidden_features=self.hidden_features,
                hidden_layers=self.hidden_layers,
                out_features=self.out_features,
            )
            return list(spec.layer_shapes)
        shapes = []
        for shape in self.layer_shapes:
            shape = tuple(shape)
            if len(shape) != 2 or not all(
                isinstance(s, Integral) and s >= 1 for s in shape
            ):
                raise ValueError(
                    "layer_shapes must be a list of (out, in) pairs of positive "
                    f"integers, got {self.layer_shapes!r}."
                )
            shapes.append((int(shape[0]), int(shape[1])))
        if not shapes:
            raise ValueError("layer_shapes must not be empty.")
        return shapes

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None) -> WeightStatistics:
        """Check the layer shapes against the number of features of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Flattened weights, one network per row.

        y : None
            Ignored.

        Returns
        -------
        self : WeightStatistics
            The fitted transformer.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        self._check_quantiles()
        shapes = self._resolve_layer_shapes()
        if shapes is not None:
            n_params = layer_slices(shapes)[-1][1].stop
            if X.shape[1] != n_params:
                raise ValueError(
                    f"X has {X.shape[1]} features, but the layer shapes {shapes} "
                    f"hold {n_params} parameters (weights and biases). Pass the "
                    "in_features, hidden_features, hidden_layers and out_features "
                    "of the INRs that produced X, or their layer_shapes, or "
                    "layer_shapes='flat' for statistics over all features."
                )
        self.layer_shapes_ = shapes
        return self

    def transform(self, X) -> np.ndarray:
        """Compute the statistics of each layer's weights and biases.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Flattened weights, one network per row.

        Returns
        -------
        X_stats : ndarray of shape (n_samples, n_features_out)
            For each layer: the mean, std and quantiles of its weights, then
            the same of its biases (see :meth:`get_feature_names_out`).
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        q = self._check_quantiles()
        blocks = []
        for start, stop in self._slices():
            part = X[:, start:stop]
            blocks.append(part.mean(axis=1, keepdims=True))
            blocks.append(part.std(axis=1, keepdims=True))
            if q.size:
                blocks.append(np.quantile(part, q, axis=1).T)
        return np.hstack(blocks).astype(X.dtype, copy=False)

    def _slices(self) -> list[tuple[int, int]]:
        if self.layer_shapes_ is None:
            return [(0, self.n_features_in_)]
        return [
            (part.start, part.stop)
            for pair in layer_slices(self.layer_shapes_)
            for part in pair
        ]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the statistics, e.g. ``l0.w.mean``, ``l0.w.q25``, ``l0.b.std``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored except for validation against ``feature_names_in_``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``"all.<stat>"`` with ``layer_shapes="flat"``.
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features, generate_names=False)
        stats = ["mean", "std"] + [_quantile_name(v) for v in self._check_quantiles()]
        if self.layer_shapes_ is None:
            groups = ["all"]
        else:
            groups = [
                f"l{i}.{kind}"
                for i in range(len(self.layer_shapes_))
                for kind in ("w", "b")
            ]
        return np.asarray([f"{g}.{s}" for g in groups for s in stats], dtype=object)
