"""Data: BraTS2021 slices and volumes, ACDC, and synthetic cohorts in their layouts."""

from ._acdc import load_acdc
from ._acdc_synthetic import make_acdc_like
from ._brats import load_brats_slices
from ._brats_volumes import load_brats_volumes
from ._synthetic import make_brats_like

__all__ = [
    "load_acdc",
    "load_brats_slices",
    "load_brats_volumes",
    "make_acdc_like",
    "make_brats_like",
]
