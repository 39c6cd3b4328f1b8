"""
==========================================
Quickstart: images to INR weights to class
==========================================

This example walks through the whole toolkit on small synthetic images:

1. :class:`~sklearn_inr.INRFeaturizer` fits one small SIREN per image and
   returns its flattened weights, *theta*, as the image's features;
2. :class:`~sklearn_inr.MLPClassifier` classifies theta;
3. both go in one scikit-learn :class:`~sklearn.pipeline.Pipeline`, evaluated
   with :class:`~sklearn.model_selection.StratifiedGroupKFold` so that the two
   images of one "patient" never sit on both sides of a split;
4. :meth:`~sklearn_inr.INRFeaturizer.inverse_transform` renders theta back to
   images, to check what the features hold.

The images are 20 x 20 and the networks tiny, so the whole example runs in
seconds on a laptop CPU. Real MRI slices would use the defaults (the paper's
264,193-parameter TinySIREN) on a GPU.
"""

# %%
# Synthetic "patients"
# --------------------
# Each patient contributes two images of a smooth, blobby "brain": one with a
# small bright disk (label 1, "tumour") and one without (label 0). ``groups``
# holds the patient id, as :func:`~sklearn_inr.datasets.load_brats_slices`
# returns it for real data.
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_inr import INRFeaturizer, MLPClassifier

rng = np.random.default_rng(0)
n_patients, size = 20, 20
yy, xx = np.mgrid[0:size, 0:size] / (size - 1) * 2 - 1


def brain(rng):
    """A smooth ellipse with some texture, intensities in [0, 1]."""
    a, b = rng.uniform(0.6, 0.85, size=2)
    inside = (xx / a) ** 2 + (yy / b) ** 2 <= 1
    phase = rng.uniform(0, 2 * np.pi, size=2)
    texture = 0.5 + 0.15 * np.sin(3 * xx + phase[0]) * np.cos(2 * yy + phase[1])
    return inside * texture


def with_tumour(image, rng):
    cx, cy = rng.uniform(-0.4, 0.4, size=2)
    radius = rng.uniform(0.15, 0.25)
    disk = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
    return np.where(disk, 0.95, image)


images, y, groups = [], [], []
for patient in range(n_patients):
    healthy = brain(rng)
    images += [with_tumour(brain(rng), rng), healthy]
    y += [1, 0]
    groups += [patient, patient]
images = np.clip(np.stack(images), 0, 1).astype(np.float32)
y, groups = np.array(y), np.array(groups)
print(f"images {images.shape}, labels {np.bincount(y)}, {n_patients} patients")

# %%
# Featurize: one INR per image
# ----------------------------
# A SIREN with 2 hidden layers of width 32 (``hidden_layers=2`` means
# ``2 + 2 = 4`` Linear layers in all), trained for 150 Adam steps. With the
# default ``init="shared"``, every image starts from the same initialisation,
# so all thetas live in one coordinate system.
#
# ``memory=`` caches each image's theta on disk, keyed by the image and every
# setting that changes the fit. We reuse the cache in the cross-validation
# below.
cache = tempfile.TemporaryDirectory()
settings = dict(
    hidden_features=32, hidden_layers=2, lr=1e-3, n_steps=150, random_state=0
)
featurizer = INRFeaturizer(memory=cache.name, **settings)
start = time.perf_counter()
theta = featurizer.fit_transform(images)
print(f"theta {theta.shape} in {time.perf_counter() - start:.1f} s")
print("first features:", featurizer.get_feature_names_out()[:3])
print(f"mean training PSNR: {featurizer.train_psnr_.mean():.1f} dB")

# %%
# Classify under grouped cross-validation
# ---------------------------------------
# The featurizer goes *inside* the pipeline, so each fold fits it on its own
# training images only. That would normally fit every image once per fold;
# with the cache, it is fitted once in all. A shared initialisation depends
# only on ``random_state``, and an image's theta does not depend on which
# other images are in the call, so every fold finds the thetas computed above
# and the cross-validation costs little more than the classifiers.
model = make_pipeline(
    INRFeaturizer(memory=cache.name, **settings),
    StandardScaler(),
    MLPClassifier(hidden_layer_sizes=(64,), max_epochs=50, random_state=0),
)
cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
start = time.perf_counter()
scores = cross_val_score(model, images, y, groups=groups, cv=cv)
print(f"accuracy {scores.mean():.2f} +/- {scores.std():.2f} per fold: {scores}")
print(f"5-fold CV in {time.perf_counter() - start:.1f} s")

# %%
# What theta holds: render it back
# --------------------------------
# ``inverse_transform`` evaluates each fitted network on the training grid;
# the reconstructions should be close to the originals. Their PSNR is the
# reconstruction quality that the features carry.
from sklearn_inr import psnr  # noqa: E402

reconstructions = featurizer.inverse_transform(theta)
scores_db = psnr(images, reconstructions)

fig, axes = plt.subplots(2, 4, figsize=(8, 5))
for column, index in enumerate([0, 1, 2, 3]):
    axes[0, column].imshow(images[index], cmap="gray", vmin=0, vmax=1)
    axes[0, column].set_title(f"original, y={y[index]}")
    axes[1, column].imshow(reconstructions[index], cmap="gray", vmin=0, vmax=1)
    axes[1, column].set_title(f"INR, {scores_db[index]:.1f} dB")
for ax in axes.flat:
    ax.set_axis_off()
fig.suptitle("Originals (top) and their INR reconstructions (bottom)")
fig.tight_layout()
plt.show()

cache.cleanup()
