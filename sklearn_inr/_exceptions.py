"""The package's own errors and warnings."""

from __future__ import annotations

import numpy as np

__all__ = ["INRDivergenceError", "LabelLeakWarning"]


class INRDivergenceError(ValueError):
    """Raised when some images' loss became NaN or infinite.

    Attributes
    ----------
    indices : ndarray of int
        Positions of the diverged images in the input.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRDivergenceError, fit_inrs
    >>> images = np.zeros((3, 4, 4))
    >>> images[1] = 1e30  # its squared error overflows float32
    >>> try:
    ...     fit_inrs(images, loss="mse", hidden_features=4, hidden_layers=1,
    ...              n_steps=1)
    ... except INRDivergenceError as error:
    ...     print(error.indices)
    [1]
    """

    def __init__(self, indices, lr):
        self.indices = np.asarray(indices)
        shown = ", ".join(map(str, self.indices[:20]))
        more = "" if len(self.indices) <= 20 else f" and {len(self.indices) - 20} more"
        super().__init__(
            f"The INR fit diverged (NaN or infinite loss) for {len(self.indices)} "
            f"image(s) at positions [{shown}]{more} with lr={lr:g}. Lower the "
            "learning rate (e.g. by 10x); for SIREN, a smaller omega_0 also helps."
        )


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
