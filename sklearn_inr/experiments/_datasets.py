"""What the report says about the data: BraTS slice pairs or ACDC groups.

A reproduction runs on any labelled slices; :data:`DATASETS` holds, as data,
what its report, figures and command line say about the two it knows: the
title, the class names in display order, what a slice is, and how a patient's
slices are named. :func:`data_summary` turns one of them and the labels into
``results["data"]``'s class entries, from which the verdict's chance level
(:func:`chance_rate`) and every class name of the report are read.
"""

from __future__ import annotations

import numpy as np

from ._evaluation import one_label_per_group

__all__ = [
    "DATASETS",
    "chance_rate",
    "class_names",
    "data_summary",
    "resolve_dataset",
]

#: The datasets a reproduction describes by name. ``class_names`` maps each
#: label to its name, in the order the figures show them; ``slice`` says
#: what one row is; ``slice_names`` names a patient's slices in load order
#: when every patient holds one class (the figure then shows them all).
DATASETS: dict[str, dict] = {
    "brats": {
        "name": "brats",
        "title": "INR-based tumour classification",
        "class_names": {1: "tumour", 0: "no tumour"},
        "slice": (
            "an axial FLAIR slice; every patient gives one slice with the most "
            "tumour and one without tumour of similar brain area (a slice pair)"
        ),
        "pair": "tumour/no-tumour slice pair",
        "slice_names": None,
    },
    "acdc": {
        "name": "acdc",
        "title": "INR-based cardiac diagnosis (five ACDC groups)",
        "class_names": {
            0: "NOR",
            1: "MINF",
            2: "DCM",
            3: "HCM",
            4: "RV",
        },
        "slice": (
            "a mid-ventricular short-axis cine MRI slice; every patient gives "
            "two, at end-diastole (ED) and end-systole (ES), both labelled with "
            "the patient's diagnostic group (NOR normal, MINF previous "
            "myocardial infarction, DCM dilated and HCM hypertrophic "
            "cardiomyopathy, RV abnormal right ventricle)"
        ),
        "pair": "ED/ES slice pair",
        "slice_names": ("end-diastole (ED)", "end-systole (ES)"),
    },
}


def resolve_dataset(dataset) -> dict:
    """The description of ``dataset``: a name of :data:`DATASETS` or a dict.

    A dict is read like an entry of :data:`DATASETS` (missing keys get
    neutral defaults), so arrays of other data can name their classes.
    """
    if isinstance(dataset, str):
        if dataset not in DATASETS:
            raise ValueError(
                f"Unknown dataset {dataset!r}; choose one of {sorted(DATASETS)}, "
                "or pass a dict like sklearn_inr.experiments._datasets."
                "DATASETS['acdc'] describing your data."
            )
        return dict(DATASETS[dataset])
    if not isinstance(dataset, dict):
        raise TypeError(
            f"dataset must be a name ({sorted(DATASETS)}) or a dict, got "
            f"{type(dataset).__name__}."
        )
    return {
        "name": "custom",
        "title": "INR-based slice classification",
        "class_names": {},
        "slice": "an image slice",
        "pair": "slices of one patient",
        "slice_names": None,
        **dataset,
    }


def data_summary(dataset: dict, target, groups) -> dict:
    """The class entries of ``results["data"]``.

    ``labels`` (sorted), their ``class_names`` and ``class_counts`` (slices
    per class), the ``chance`` rate (the majority class's share), and the
    ``permutation`` of the permuted-label control (``"within patients"`` or
    ``"across patients"``, see
    :func:`~sklearn_inr.experiments._evaluation.permute_labels`). BraTS keeps
    ``n_tumour`` and ``n_no_tumour`` for readers of older results.
    """
    target = np.asarray(target)
    labels, counts = np.unique(target, return_counts=True)
    names = dataset.get("class_names") or {}
    summary = {
        "dataset": dataset["name"],
        "title": dataset["title"],
        "slice": dataset["slice"],
        "labels": labels.tolist(),
        "class_names": [str(names.get(label.item(), label.item())) for label in labels],
        "class_counts": counts.tolist(),
        "chance": float(counts.max() / counts.sum()),
        "permutation": (
            "across patients"
            if one_label_per_group(target, groups)
            else "within patients"
        ),
        # The order the report and figures list the classes in.
        "display_order": [label.item() for label in sorted(labels, key=_order(names))],
        "slice_names": list(dataset["slice_names"] or []),
    }
    if dataset["name"] == "brats":
        summary["n_tumour"] = int(np.sum(target == 1))
        summary["n_no_tumour"] = int(np.sum(target == 0))
    return summary


def _order(names: dict):
    keys = list(names)
    return lambda label: (
        keys.index(label.item()) if label.item() in keys else len(keys),
        label.item(),
    )


def chance_rate(data: dict) -> float:
    """The majority rate of ``results["data"]``'s classes: the chance level.

    Read from ``class_counts``; results written before it existed have
    ``n_tumour`` and ``n_no_tumour`` instead.
    """
    counts = data.get("class_counts") or [data["n_tumour"], data["n_no_tumour"]]
    return max(counts) / sum(counts)


def class_names(data: dict) -> dict:
    """``{label: name}`` of ``results["data"]``, in display order.

    Results written before the class entries existed are BraTS's.
    """
    if "class_names" not in data:
        return dict(DATASETS["brats"]["class_names"])
    names = dict(zip(data["labels"], data["class_names"]))
    return {label: names[label] for label in data.get("display_order", names)}
