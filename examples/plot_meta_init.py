"""
============================================================
A meta-learned initialisation, and shift-modulation features
============================================================

With ``init="meta"``, :class:`~sklearn_inr.INRFeaturizer` learns the starting
point of every image's INR from the training images (Reptile, without
labels), so that new images reach a given reconstruction quality in a few
steps instead of hundreds. With ``features="shift"``, a learned base network
stays fixed and each image is described only by offsets of its hidden biases
(functa), a few dozen numbers here.

We compare PSNR against steps on *held-out* images for the shared random
init and the learned one, then reconstruct held-out images from their shifts.
"""

# %%
# Images of one family
# --------------------
# Rings, waves and an edge at random places: one family, every image
# different. The first 48 images train the initialisation; the last 8 are
# held out.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_inr import INRFeaturizer, fit_inrs

rng = np.random.default_rng(0)
size = 24
yy, xx = np.mgrid[0:size, 0:size] / (size - 1) * 2 - 1
images = []
for _ in range(56):
    f1, f2 = rng.uniform(1, 4, size=2)
    cx, cy = rng.uniform(-0.3, 0.3, size=2)
    ring = np.cos(6 * np.hypot(xx - cx, yy - cy)) * 0.2
    waves = 0.15 * np.sin(f1 * xx) * np.cos(f2 * yy)
    edge = 0.2 * (xx + 0.3 * yy > rng.uniform(-0.5, 0.5))
    images.append(0.4 + ring + waves + edge)
images = np.clip(np.stack(images), 0, 1).astype(np.float32)
train, held_out = images[:48], images[48:]

# %%
# Learn the initialisation
# ------------------------
# ``fit`` learns ``init_params_``: 100 outer steps, each fitting 8 training
# images for 10 Adam steps from the current init and moving the init toward
# their mean result. We use the squared-error loss here so that the loss
# history is the MSE and gives the PSNR at every step directly.
network = dict(hidden_features=32, hidden_layers=2, loss="mse", lr=1e-3)
meta = INRFeaturizer(
    init="meta",
    meta_steps=100,
    inner_steps=10,
    meta_batch_size=8,
    n_steps=20,
    random_state=0,
    **network,
).fit(train)
shared = INRFeaturizer(init="shared", n_steps=20, random_state=0, **network).fit(
    train[:1]
)

# %%
# PSNR against steps on held-out images
# -------------------------------------
# Both start from their ``init_params_`` and train with the same Adam
# learning rate.
n_steps = 300
curves = {}
for name, featurizer in {"shared init": shared, "meta-learned init": meta}.items():
    result = fit_inrs(
        held_out,
        init=featurizer.init_params_,
        n_steps=n_steps,
        record_every=1,
        random_state=0,
        **network,
    )
    psnr = -10 * np.log10(result.loss_history)
    curves[name] = (result.history_steps, psnr.mean(axis=0))

target = curves["shared init"][1][-1]
reached = np.flatnonzero(curves["meta-learned init"][1] >= target)
fig, ax = plt.subplots(figsize=(6, 4))
for name, (steps, psnr) in curves.items():
    ax.plot(steps, psnr, label=name)
ax.axhline(target, color="grey", lw=0.8, ls="--")
ax.set_xlabel("Adam steps")
ax.set_ylabel("mean PSNR on held-out images (dB)")
ax.legend()
ax.set_title("Time to quality")
fig.tight_layout()
if len(reached):
    print(
        f"shared init: {target:.1f} dB after {n_steps} steps; meta-learned init "
        f"reaches it after {reached[0]} steps"
    )

# %%
# Shift features
# --------------
# With ``features="shift"`` the base network is meta-learned (first-order
# MAML) and each image fits only 2 x 32 = 64 bias offsets, from zero, for 10
# steps. ``inverse_transform`` renders the base network with each image's
# shifts.
shift = INRFeaturizer(
    init="meta",
    features="shift",
    hidden_features=32,
    hidden_layers=2,
    lr=1e-2,
    n_steps=10,
    meta_steps=100,
    inner_steps=10,
    meta_batch_size=8,
    random_state=0,
).fit(train)
shifts = shift.transform(held_out)
print("shift features:", shifts.shape, shift.get_feature_names_out()[:3])
reconstructions = shift.inverse_transform(shifts)

fig, axes = plt.subplots(2, 4, figsize=(7, 3.8))
for i in range(4):
    axes[0, i].imshow(held_out[i], cmap="gray", vmin=0, vmax=1)
    axes[1, i].imshow(reconstructions[i], cmap="gray", vmin=0, vmax=1)
    mse = np.mean((held_out[i] - reconstructions[i]) ** 2)
    axes[1, i].set_title(f"{-10 * np.log10(mse):.1f} dB", fontsize=9)
for ax in axes.ravel():
    ax.set_axis_off()
axes[0, 0].set_title("held-out", fontsize=9, loc="left")
fig.suptitle("Held-out images (top) and their 64-number shift reconstructions")
fig.tight_layout()
plt.show()
