"""Figures for INR fits and their evaluation (matplotlib).

Each function draws on a given :class:`matplotlib.axes.Axes` or
:class:`matplotlib.figure.Figure` (or a new one when None) and returns what
it drew on, so the figures of :func:`sklearn_inr.experiments.run_reproduction`
can be rebuilt, restyled or combined by hand. Every figure explains itself:
panels say what they show, shaded bands and missing values are named in the
legend, and images share one colour scale with a colour bar. matplotlib is
an optional dependency (the ``plots`` extra); it is imported when a function
is called.
"""

from ._accuracy import plot_accuracy_comparison
from ._curves import plot_loss_curves
from ._images import plot_reconstructions, radiological_view
from ._weight_space import plot_weight_space, weight_space_pca

__all__ = [
    "plot_accuracy_comparison",
    "plot_loss_curves",
    "plot_reconstructions",
    "plot_weight_space",
    "radiological_view",
    "weight_space_pca",
]
