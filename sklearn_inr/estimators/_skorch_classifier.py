"""What the package's skorch classifiers share: labels, seeds, training, outputs.

:class:`SkorchClassifier` is the base of :class:`~sklearn_inr.MLPClassifier`
(and through it :class:`~sklearn_inr.PermutationInvariantClassifier`) and of
:class:`~sklearn_inr.ConvNetClassifier`. A subclass checks its input, sets
``_net_config`` (plain values) and builds its skorch net in ``_make_net``;
the base encodes the labels (one logit and ``BCEWithLogitsLoss`` for two
classes, cross-entropy otherwise), seeds the training without touching the
global torch RNG, turns logits into probabilities and labels, and persists
the fitted net as plain arrays (see ``_net_state.py``).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._mlp_network import cuda_indices
from ._net_state import net_from_state, net_to_state

__all__ = ["SkorchClassifier"]


class SkorchClassifier(ClassifierMixin, BaseEstimator):
    """Base of the skorch classifiers; not meant to be used directly.

    Subclasses implement ``fit`` (with :meth:`_encode_labels`,
    :meth:`_training_seed` and :meth:`_train_net`), ``_make_net`` and
    ``_net_input``, and may override ``_training_threads``.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = False
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags

    def _encode_labels(self, y) -> np.ndarray:
        """Set ``classes_``; ``y`` as the net's targets (float32 0/1 for two
        classes, int64 class indices otherwise)."""
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes; got "
                f"1 class ({self.classes_[0]!r})."
            )
        y_enc = encoder.transform(y)
        if len(self.classes_) == 2:
            return y_enc.astype(np.float32)
        return y_enc.astype(np.int64)

    def _training_seed(self) -> int:
        # One seed for everything random in training (init, shuffling,
        # dropout, validation split); drawn from the global NumPy RNG when
        # random_state is None, as scikit-learn estimators do.
        return int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )

    def _train_net(self, X, y_net, seed: int, train_split=None, callbacks=()):
        """Build the net from ``_net_config`` and train it on ``(X, y_net)``.

        Sets ``net_``, ``history_`` and ``n_iter_``.
        """
        config = self._net_config
        net = self._make_net(config, train_split=train_split, callbacks=callbacks)
        # fork_rng restores torch's global RNG state afterwards, so seeding
        # here makes this fit reproducible without side effects on the caller.
        with torch.random.fork_rng(devices=cuda_indices(config["device"])):
            torch.manual_seed(seed)
            with self._training_threads(config):
                net.fit(X, y_net)
        self.net_ = net
        self.history_ = net.history
        self.n_iter_ = len(net.history)

    def _make_net(self, config: dict, train_split=None, callbacks=()):
        # The one place that builds the skorch net, in fit and on unpickling.
        raise NotImplementedError

    def _training_threads(self, config: dict):
        """A context for the CPU threads of training; none by default."""
        return contextlib.nullcontext()

    def _net_input(self, X) -> np.ndarray:
        """``X`` checked against the fit, as the net's float32 input."""
        raise NotImplementedError

    def __getstate__(self) -> dict:
        # Persist the weights as NumPy arrays and the history as plain lists,
        # not the skorch net, which skops.io could not audit (see
        # _net_state.py). The net is rebuilt in __setstate__.
        state = dict(super().__getstate__())
        net = state.pop("net_", None)
        if net is not None:
            state["_module_state"], state["history_"] = net_to_state(
                net, state["history_"]
            )
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        module_state = state.pop("_module_state", None)
        super().__setstate__(state)
        if module_state is None:
            return
        self.net_ = net_from_state(
            self._make_net, self._net_config, module_state, self.history_
        )
        self.history_ = self.net_.history_

    def decision_function(self, X) -> np.ndarray:
        """Raw output logits.

        Parameters
        ----------
        X : array-like
            Input data, in a form that ``fit`` accepts.

        Returns
        -------
        logits : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, the logit of ``classes_[1]`` (positive means
            ``classes_[1]``); otherwise one logit per class.
        """
        check_is_fitted(self)
        X = self._net_input(X)
        logits = self.net_.forward(X, training=False, device="cpu")
        return logits.detach().numpy().astype(np.float64)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        X : array-like
            Input data, in a form that ``fit`` accepts.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities in the order of ``classes_``; rows sum to 1.
        """
        logits = self.decision_function(X)
        # Computed in float64 from the logits so that rows sum to 1 and the
        # ranking matches decision_function exactly.
        if logits.ndim == 1:
            p1 = expit(logits)
            return np.column_stack([1.0 - p1, p1])
        return softmax(logits, axis=1)

    def predict(self, X) -> np.ndarray:
        """Predicted class labels.

        Parameters
        ----------
        X : array-like
            Input data, in a form that ``fit`` accepts.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        logits = self.decision_function(X)
        if logits.ndim == 1:
            return self.classes_[(logits > 0).astype(int)]
        return self.classes_[np.argmax(logits, axis=1)]
