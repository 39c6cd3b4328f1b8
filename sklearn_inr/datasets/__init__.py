"""Data: the BraTS2021 slice loader and a synthetic cohort in the same layout."""

from ._brats import load_brats_slices
from ._synthetic import make_brats_like

__all__ = ["load_brats_slices", "make_brats_like"]
