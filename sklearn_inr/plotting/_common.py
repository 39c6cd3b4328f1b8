"""What every figure module needs: matplotlib, imported when a figure is drawn."""

from __future__ import annotations

__all__ = ["import_pyplot"]


def import_pyplot():
    """``matplotlib.pyplot``, or an ImportError saying how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "Plotting needs matplotlib: pip install 'sklearn-inr[plots]'."
        ) from exc
    return plt
