"""
======================================================
Loading tumour and no-tumour slices from BraTS folders
======================================================

:func:`~sklearn_inr.datasets.load_brats_slices` reads BraTS2021 case folders and
returns one tumour and one no-tumour axial slice per patient, ready for a
scikit-learn pipeline. Here we write a small synthetic cohort in the same layout
with :func:`~sklearn_inr.datasets.make_brats_like`, load it, and look at what
came back. Point ``root`` at your own BraTS2021 download to do the same with
real scans.
"""

# %%
# Write a synthetic cohort
# ------------------------
# Eight patients at a quarter of the real in-plane resolution, in a temporary
# folder. Each case folder holds the four modalities and the segmentation,
# named exactly as in BraTS2021.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sklearn_inr.datasets import load_brats_slices, make_brats_like

tmp = tempfile.TemporaryDirectory()
root = make_brats_like(tmp.name, n_patients=8, shape=(64, 64, 40), random_state=0)
for path in sorted((root / "BraTS2021_00000").iterdir()):
    print(Path(path).relative_to(root))

# %%
# Load one tumour and one no-tumour slice per patient
# ---------------------------------------------------
# The tumour slice is the brain slice with the most tumour; the no-tumour slice
# is the tumour-free brain slice whose brain area is closest, so that the size of
# the head does not give the label away.
data = load_brats_slices(root, modality="flair")
print(data.images.shape, data.images.dtype, data.images.min(), data.images.max())
print(data.DESCR)

# %%
# The Bunch fields, one row per slice
# -----------------------------------
# Two rows per patient, tumour slice first. ``groups`` is the patient id: pass it
# to :class:`~sklearn.model_selection.StratifiedGroupKFold` so the two slices of
# a patient never end up on both sides of a split.
header = f"{'patient_id':<17}{'target':>7}{'slice_index':>12}"
header += f"{'brain_area':>11}{'tumor_pixels':>13}"
print(header)
for i in range(len(data.target)):
    print(
        f"{data.patient_id[i]:<17}{data.target[i]:>7}{data.slice_index[i]:>12}"
        f"{data.brain_area[i]:>11}{data.tumor_pixels[i]:>13}"
    )

# %%
# Tumour and no-tumour slices side by side
# ----------------------------------------
# Top row: the tumour slices (the bright FLAIR region is the oedema around the
# tumour). Bottom row: the matched no-tumour slice of the same patient. The
# slices are transposed so that anterior is up.
fig, axes = plt.subplots(2, 8, figsize=(12, 3.4))
for col in range(8):
    for row, label in enumerate((1, 0)):
        index = np.flatnonzero(
            (data.groups == data.groups[2 * col]) & (data.target == label)
        )[0]
        ax = axes[row, col]
        ax.imshow(data.images[index].T, cmap="gray", origin="lower", vmin=0, vmax=1)
        ax.set_axis_off()
        ax.set_title(
            f"{data.patient_id[index][-2:]} z={data.slice_index[index]}", fontsize=8
        )
axes[0, 0].text(-8, 32, "tumour", rotation=90, va="center", ha="right")
axes[1, 0].text(-8, 32, "no tumour", rotation=90, va="center", ha="right")
fig.tight_layout()
plt.show()

# %%
# Several modalities and a smaller size
# -------------------------------------
# A list of modalities stacks them as channels; ``size`` resizes with
# anti-aliasing.
multi = load_brats_slices(root, modality=["flair", "t1", "t1ce", "t2"], size=32)
print(multi.images.shape)

fig, axes = plt.subplots(1, 4, figsize=(8, 2.3))
for ax, name, channel in zip(axes, multi.modality, multi.images[0].transpose(2, 0, 1)):
    ax.imshow(channel.T, cmap="gray", origin="lower")
    ax.set_title(name)
    ax.set_axis_off()
fig.tight_layout()
plt.show()

tmp.cleanup()
