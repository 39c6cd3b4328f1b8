"""
============================================================
Imbalanced classes: oversampling theta with imbalanced-learn
============================================================

When one class is rare, a classifier can score well by rarely predicting it.
Here an :class:`imblearn.pipeline.Pipeline` puts a
:class:`~imblearn.over_sampling.RandomOverSampler` after the
:class:`~sklearn_inr.INRFeaturizer`: the sampler duplicates theta rows of the
rare class while the classifier is trained, and is skipped at prediction time,
so the test folds keep their real class balance.
"""

# %%
# An imbalanced synthetic cohort
# ------------------------------
# 24 "patients", each with three 16x16 images without a lesion (class 0);
# only one patient in three also has an image with a small lesion (class 1).
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import Pipeline as ImbPipeline
from sklearn.metrics import ConfusionMatrixDisplay, balanced_accuracy_score
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_inr import INRFeaturizer, MLPClassifier


def make_patients(n_patients=24, size=16, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    images, labels, groups = [], [], []
    for patient in range(n_patients):
        background = 0.2 + 0.2 * rng.uniform() * xx + 0.1 * rng.uniform() * yy
        patient_labels = [0, 0, 0] + ([1] if patient % 3 == 0 else [])
        for label in patient_labels:
            image = background + 0.04 * rng.normal(size=xx.shape)
            if label:
                cy, cx = rng.uniform(0.25, 0.75, size=2)
                image += 0.5 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.01)
            images.append(np.clip(image, 0, 1))
            labels.append(label)
            groups.append(patient)
    return np.asarray(images, dtype=np.float32), np.array(labels), np.array(groups)


images, y, groups = make_patients()
print("images per class:", np.bincount(y))

# %%
# Two pipelines sharing one theta cache
# -------------------------------------
# The sampler comes after the featurizer, so it resamples theta, not images:
# every image is still fitted once. Both pipelines use the same featurizer
# settings and cache folder, so the second cross-validation fits no INR.
cache = tempfile.TemporaryDirectory()


def featurizer():
    return INRFeaturizer(
        hidden_features=32,
        hidden_layers=1,
        omega_0=15.0,
        lr=1e-3,
        n_steps=100,
        random_state=0,
        memory=cache.name,
    )


def classifier():
    return MLPClassifier(hidden_layer_sizes=(32,), max_epochs=50, random_state=0)


plain = Pipeline(
    [("inr", featurizer()), ("scale", StandardScaler()), ("clf", classifier())]
)
oversampled = ImbPipeline(
    [
        ("inr", featurizer()),
        ("scale", StandardScaler()),
        ("oversample", RandomOverSampler(random_state=0)),
        ("clf", classifier()),
    ]
)

# %%
# Grouped cross-validation
# ------------------------
# Folds are grouped by patient and stratified, so each test fold holds a few
# lesion images at the cohort's real prevalence.
cv = StratifiedGroupKFold(n_splits=4, shuffle=True, random_state=0)
predictions = {}
for name, pipe in [("no resampling", plain), ("RandomOverSampler", oversampled)]:
    predictions[name] = cross_val_predict(pipe, images, y, groups=groups, cv=cv)
    score = balanced_accuracy_score(y, predictions[name])
    print(f"{name:>18}: balanced accuracy {score:.2f}")

# Fitted on all images, the sampler adds lesion rows until the classes are
# balanced (``sampling_strategy_`` maps each class to the rows it adds).
oversampled.fit(images, y)
print("rows added by the sampler:", oversampled["oversample"].sampling_strategy_)

# %%
# Confusion matrices of the out-of-fold predictions
# -------------------------------------------------
# Trained on 1 lesion image for every 9 others, the plain pipeline misses
# lesions; trained on balanced rows it finds more of them at the cost of a few
# false alarms. How much oversampling helps depends on the classifier and the
# data: compare balanced accuracy (or another imbalance-aware score) across
# both pipelines in your own cross-validation rather than assuming a gain.
fig, axes = plt.subplots(1, 2, figsize=(7, 3.2))
for ax, (name, y_pred) in zip(axes, predictions.items()):
    ConfusionMatrixDisplay.from_predictions(
        y, y_pred, display_labels=["no lesion", "lesion"], ax=ax, colorbar=False
    )
    ax.set_title(name)
fig.tight_layout()
plt.show()

cache.cleanup()
