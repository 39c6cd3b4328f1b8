"""
===============================================================
Tuning omega_0 and lr with GridSearchCV on grouped folds
===============================================================

The INR settings change the features: ``omega_0`` sets the frequencies a SIREN
represents easily and ``lr`` how far each image's network moves from the shared
initialisation. Here we tune both, together with the classifier, with
:class:`~sklearn.model_selection.GridSearchCV` on folds grouped by patient, and
use the featurizer's ``memory=`` cache so that every (image, setting) pair is
fitted exactly once.
"""

# %%
# A tiny synthetic cohort
# -----------------------
# Each "patient" gives two 16x16 images: one with a bright blob (the "tumour",
# class 1) and one without (class 0), over a smooth background that varies
# from patient to patient. Both images of a patient must stay in the same fold.
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_inr import INRFeaturizer, MLPClassifier


def make_patients(n_patients=12, size=16, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    images, labels, groups = [], [], []
    for patient in range(n_patients):
        background = 0.2 + 0.2 * rng.uniform() * xx + 0.1 * rng.uniform() * yy
        for label in (0, 1):
            image = background + 0.04 * rng.normal(size=xx.shape)
            if label:
                cy, cx = rng.uniform(0.25, 0.75, size=2)
                image += 0.5 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.01)
            images.append(np.clip(image, 0, 1))
            labels.append(label)
            groups.append(patient)
    return np.asarray(images, dtype=np.float32), np.array(labels), np.array(groups)


images, y, groups = make_patients()
fig, axes = plt.subplots(1, 4, figsize=(8, 2.2))
for ax, i in zip(axes, range(4)):
    ax.imshow(images[i], cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"patient {groups[i]}, y={y[i]}")
    ax.axis("off")
fig.tight_layout()

# %%
# The pipeline and the grid
# -------------------------
# The featurizer caches each image's theta in a folder. An integer
# ``random_state`` matters: it fixes the shared initialisation, so the same
# image with the same settings gives the same theta in every fold.
cache = tempfile.TemporaryDirectory()
pipe = Pipeline(
    [
        (
            "inr",
            INRFeaturizer(
                hidden_features=32,
                hidden_layers=1,
                n_steps=100,
                random_state=0,
                memory=cache.name,
            ),
        ),
        ("scale", StandardScaler()),
        ("clf", MLPClassifier(hidden_layer_sizes=(32,), max_epochs=50, random_state=0)),
    ]
)
omegas = [5.0, 15.0, 30.0, 60.0]
lrs = [1e-4, 1e-3, 1e-2]
grid = {"inr__omega_0": omegas, "inr__lr": lrs}
cv = StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=0)
search = GridSearchCV(pipe, grid, cv=cv)

start = time.perf_counter()
search.fit(images, y, groups=groups)
print(f"Search took {time.perf_counter() - start:.1f} s")
print("Best parameters:", search.best_params_)
print(f"Best mean test accuracy: {search.best_score_:.2f}")

# %%
# Each INR was fitted once
# ------------------------
# Without the cache, 12 candidates x 3 folds (each image once per fold, in the
# training or the test part) plus the refit would fit every image 37 times.
# The cache holds one file per (image, featurizer setting): the test folds
# and the refit were all hits.
n_files = len(list(Path(cache.name).rglob("*.npz")))
n_settings = len(omegas) * len(lrs)
print(f"{n_files} cached INRs = {len(images)} images x {n_settings} settings")

# A second search over the classifier alone costs no INR fit at all.
start = time.perf_counter()
GridSearchCV(
    search.best_estimator_, {"clf__hidden_layer_sizes": [(16,), (64,)]}, cv=cv
).fit(images, y, groups=groups)
print(f"Classifier-only search from the cache: {time.perf_counter() - start:.1f} s")

# %%
# Mean test accuracy over omega_0 and lr
# --------------------------------------
# ``cv_results_`` lists the candidates in grid order; we place each mean test
# score at its (lr, omega_0) cell.
results = search.cv_results_
scores = np.empty((len(lrs), len(omegas)))
for params, score in zip(results["params"], results["mean_test_score"]):
    scores[lrs.index(params["inr__lr"]), omegas.index(params["inr__omega_0"])] = score

fig, ax = plt.subplots(figsize=(5, 3.5))
im = ax.imshow(scores, cmap="viridis", vmin=0.5, vmax=1.0)
ax.set_xticks(range(len(omegas)), [f"{w:g}" for w in omegas])
ax.set_yticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
ax.set_xlabel("omega_0")
ax.set_ylabel("lr")
for i in range(len(lrs)):
    for j in range(len(omegas)):
        color = "k" if scores[i, j] > 0.8 else "w"  # readable on light cells
        ax.text(j, i, f"{scores[i, j]:.2f}", ha="center", va="center", color=color)
fig.colorbar(im, ax=ax, label="mean test accuracy")
ax.set_title("GridSearchCV, StratifiedGroupKFold(3)")
fig.tight_layout()
plt.show()

# %%
# The folder can be kept between sessions; here we remove it.
cache.cleanup()
