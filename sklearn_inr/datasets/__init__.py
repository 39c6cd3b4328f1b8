"""Data: the BraTS2021 slice loader and a synthetic cohort in the same layout."""

from ._acdc import load_acdc
from ._acdc_synthetic import make_acdc_like
from ._brats import load_brats_slices
from ._synthetic import make_brats_like

__all__ = ["load_acdc", "load_brats_slices", "make_acdc_like", "make_brats_like"]
