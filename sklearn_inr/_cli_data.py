"""``sklearn-inr reproduce --dataset``: what each dataset writes, loads and assumes.

The command line's part of a dataset (its loader's and writer's calls, the
layout a dry run assumes); what the report says about it is
:data:`sklearn_inr.experiments.DATASETS`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DATA", "assumed_layout", "load_data", "write_cohort"]


#: What the command line does for each ``--dataset``: the layout it names,
#: the native frame it assumes for a dry run on --data, and its loader's and
#: writer's names in sklearn_inr.datasets.
DATA = {
    "brats": {
        "layout": "BraTS",
        "folder": "the BraTS2021_XXXXX case folders",
        "native": (240, 240, 155),
    },
    "acdc": {
        "layout": "ACDC",
        "folder": "the patientNNN folders",
        # Frames only are read: about 256 x 216 x 10 voxels in ACDC.
        "native": (256, 256, 10),
    },
}


def assumed_layout(dataset: str, n_patients: int):
    """``(target, groups)`` of ``n_patients`` as a dry run assumes them.

    BraTS: None (the plan's default, a tumour then a no-tumour slice per
    patient). ACDC: ED and ES of each patient, patient ``i`` in group
    ``i % 5``, as :func:`~sklearn_inr.datasets.make_acdc_like` writes them.
    """
    if dataset == "brats":
        return None, None
    return np.repeat(np.arange(n_patients) % 5, 2), np.repeat(np.arange(n_patients), 2)


def write_cohort(dataset, folder, n_patients, shape, seed):
    """A synthetic cohort of ``dataset``'s layout in ``folder``; its root."""
    from .datasets import make_acdc_like, make_brats_like

    if dataset == "acdc":
        return make_acdc_like(folder, n_patients, shape, random_state=seed)
    # Patients on all cores (threads; the same bytes as one at a time).
    return make_brats_like(folder, n_patients, shape, random_state=seed, n_jobs=-1)


def load_data(dataset, root, settings, n_patients, on_error):
    """The slices of ``dataset`` under ``root``: a Bunch with images, target, groups."""
    from .datasets import load_acdc, load_brats_slices

    size = settings["image_size"]
    if dataset == "acdc":
        # One mid-ventricular level (the middle of the LV cavity in the ED
        # mask), at ED and ES: two slices per patient, labelled by its group.
        return load_acdc(
            root, phases=("ED", "ES"), size=size, n_patients=n_patients,
            slice_policy="lv", on_error=on_error,
        )  # fmt: skip
    return load_brats_slices(
        root, "flair", size=size, n_patients=n_patients, on_error=on_error
    )
