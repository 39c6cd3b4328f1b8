"""Learned initialisations kept in the ``memory=`` array store."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..core import INRSpec, chunk_key
from ..fitting import ArrayStore, content_digest

__all__ = ["network_key", "stored_init"]


def stored_init(
    memory,
    images: np.ndarray,
    *,
    spec: INRSpec,
    key: dict,
    size: int,
    learn: Callable[[], np.ndarray],
) -> np.ndarray:
    """A learned init from ``memory``'s array store, or ``learn()`` and store it.

    Keyed by the training images, the network and ``key`` (the learner's name
    and every setting of the learning), so a featurizer and the
    reproduction that learn the same init share one entry.

    Parameters
    ----------
    memory : None, str, path-like or joblib.Memory
        Where the store lives; ``None`` learns every time.
    images : ndarray
        The images the init is learned on.
    spec : INRSpec
    key : dict
        The learner (``{"learner": "meta_learn_init", ...}``) and its settings.
    size : int
        Length of the stored theta.
    learn : callable
        Learns the init when the store does not hold it.

    Returns
    -------
    theta : ndarray of shape (size,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRSpec
    >>> from sklearn_inr.learned import stored_init
    >>> spec = INRSpec(hidden_features=4, hidden_layers=1)
    >>> theta = stored_init(None, np.zeros((1, 2, 2)), spec=spec, key={},
    ...                     size=spec.n_params, learn=lambda: spec.init_theta(0))
    >>> theta.shape == (spec.n_params,)
    True
    """
    store = ArrayStore.from_memory(memory, kind="init")
    if store is None:
        return learn()
    store.check_location()  # a memory= that is a file fails before learning
    n_pixels = int(np.prod(np.shape(images)[1 : 1 + spec.in_features]))
    extra = {"spec": network_key(spec), **key, **chunk_key(n_pixels)}
    digest = content_digest(images, extra)
    hit = store.load(digest, {"theta": (size,)})
    store.warn_damaged()
    if hit is not None:
        return hit["theta"]
    theta = learn()
    store.save(digest, theta=theta)
    store.warn_failed_saves()
    return theta


def network_key(spec) -> tuple:
    """What of ``spec`` keys a learned init in the store: one tuple for all.

    Volumes (``in_features=3``) key apart; the 2-D keys stay as they were
    before volumes existed, so stored inits are still found.

    Examples
    --------
    >>> from sklearn_inr import INRSpec
    >>> from sklearn_inr.learned import network_key
    >>> network_key(INRSpec(hidden_features=4, hidden_layers=1))
    ('siren', 4, 1, 1, 30.0)
    """
    network = (spec.model, spec.hidden_features, spec.hidden_layers,
               spec.out_features, spec.omega_0)  # fmt: skip
    if spec.in_features != 2:
        network += (("in_features", int(spec.in_features)),)
    return network
