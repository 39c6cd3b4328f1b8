"""The parameters and notes that only :class:`~sklearn_inr.INRFeaturizer` documents.

As :mod:`sklearn_inr._docs` does for the shared parameters: the class
docstring writes ``%(init)s`` where an entry goes, and
:func:`fill_featurizer_doc` fills it in (then the shared entries, with
:func:`~sklearn_inr._docs.fill_doc`). Kept here so that ``featurizer.py``
holds the estimator, not pages of prose.
"""

# The entries keep the lines of the docstring they fill (numpydoc parameter
# lines whole), as sklearn_inr/_docs.py does.
# ruff: noqa: E501

from __future__ import annotations

from .._docs import fill_doc

__all__ = ["FEATURIZER_DOCS", "fill_featurizer_doc"]

FEATURIZER_DOCS = {
    "init": """init : {"shared", "random", "meta", "task"} or ndarray of shape (n_params,), \
            default="shared"
    ``"shared"``: every image starts from one initialisation drawn from
    ``random_state`` and stored as ``init_params_``, which puts all
    thetas in one coordinate system. ``"random"``: each image gets its
    own draw, seeded by ``random_state`` and the image's bytes.
    ``"meta"``: :meth:`fit` *learns* the shared initialisation from the
    training images, without labels (Reptile, or first-order MAML for
    ``features="shift"``; see ``meta_steps`` and the Notes), so that
    :meth:`transform` reaches a given PSNR in far fewer steps
    (``benchmarks/bench_meta.py`` measured 2 to 59 steps to match what the
    shared init reaches in 1000, on small SIRENs).
    ``"task"`` (``features="weights"`` only): :meth:`fit` learns the
    shared initialisation and a step size per parameter for each of the
    first ``inner_steps`` steps from the training images *and their
    labels*, as MWT does (:func:`task_learn_init`: a Transformer
    classifier's loss is backpropagated through those steps), so it needs
    ``y``; :meth:`transform` stays label-free: each image takes the
    learned steps, then Adam at ``lr`` up to ``n_steps`` (MWT's recipe
    is ``inner_steps=6`` and ``n_steps=6``).
    An array (``features="weights"`` only): every image starts from this
    one theta, for example the ``init_params_`` of a featurizer with
    ``init="meta"`` fitted on a separate set of images (an init learned
    once and reused, as the ``cpu-240`` reproduction preset does);
    :meth:`fit` learns nothing.""",
    "features": """features : {"weights", "shift", "latent"}, default="weights"
    ``"weights"``: the output is theta, all network parameters.
    ``"shift"``: a base network shared by all images (``init_params_``:
    meta-learned with ``init="meta"``, a random draw with
    ``init="shared"``) stays fixed and each image fits only its shift
    modulations, one bias offset per hidden unit of the
    ``hidden_layers`` ``width -> width`` layers (functa): the output has
    ``hidden_layers * hidden_features`` columns (1,024 for the default
    network instead of 264,193). Shifts start at zero and are fitted
    with Adam at ``lr``, which wants a larger value than weights do
    (e.g. ``lr=1e-2``).
    ``"latent"`` (needs ``init="meta"``): each image is a vector of
    ``latent_dim`` numbers that one linear map turns into those shifts
    (functa). :meth:`fit` meta-learns the base network, the map and one
    inner learning rate per latent dimension (second-order MAML with
    meta-SGD, starting the rates at ``lr``, e.g. ``lr=1e-2``); each
    image then takes ``inner_steps`` gradient steps on its latent from
    zero at the learned rates (``n_steps`` is not used). The output
    has ``latent_dim`` columns, ``latent[0]``, ...""",
    "meta_lr": """meta_lr : float or "auto", default="auto"
    With ``init="meta"``: outer step size. For ``features="weights"``
    (Reptile) the fraction of the way the init moves toward the mean
    adapted theta, ``"auto"`` = 1.0; for ``features="shift"`` and
    ``"latent"`` the Adam learning rate of the base network (and map),
    ``"auto"`` = 1e-3. With ``init="task"``: the peak AdamW learning
    rate of the init, ``"auto"`` = 1e-4 (MWT's).""",
    "warm_start_by_class": """warm_start_by_class : bool, default=False
    The paper's "weight transfer": in :meth:`fit_transform` (and
    :meth:`fit`), the training images of each class are fitted in the
    given order, each starting from the previous image of its class.
    This leaks the label into theta; see the Notes.""",
    "spatial_ndim": """spatial_ndim : {2, 3}, default=2
    How many leading axes of each image are space; every axis after them
    is channels. ``2``: ``X`` is ``(n_images, H, W)`` (one channel) or
    ``(n_images, H, W, C)``, and each INR maps ``(y, x)`` to the channels.
    ``3``: ``X`` holds volumes, ``(n_images, D, H, W)`` (one channel) or
    ``(n_images, D, H, W, C)``, and each INR maps ``(z, y, x)`` voxel
    centres (its first layer has 3 inputs) to the channels; 2-D ``X``
    then needs ``image_shape=(D, H, W)`` or ``(D, H, W, C)``. Nothing in
    an array says which it holds: with the default, a batch of volumes
    ``(n, D, H, W)`` reads as ``n`` images of ``D x H`` pixels with ``W``
    channels, so arrays whose channels are at least their smallest
    spatial side (that, or a channel-first ``(n, C, H, W)`` array) warn.
    Every setting works with volumes: ``features``, every ``init``,
    ``warm_start_by_class``, ``memory`` (volumes never share a cache
    entry with images).""",
    "image_shape": """image_shape : tuple of int, default=None
    ``(H, W)`` or ``(H, W, C)`` of the images when ``X`` is 2-D (rows of
    flattened images); ``(D, H, W)`` or ``(D, H, W, C)`` with
    ``spatial_ndim=3``. One entry may be -1 (inferred). Required for 2-D
    ``X``: a guess could read one ``(64, 64)`` image as 64 images of
    8 x 8. Ignored for image arrays.""",
    "weight_transfer_note": """**Weight transfer leaks the label.** With ``warm_start_by_class=True``
the training features depend on the labels through their starting
points: images of one class start near each other, so theta separates
the classes even for pure-noise images. :meth:`transform` never sees
labels, so new images start from ``init_params_`` instead: train and
test features then come from different distributions, much like
:class:`~sklearn.preprocessing.TargetEncoder`, whose ``fit_transform``
differs from ``fit().transform()`` on purpose. Scores computed on
features that were all produced by ``fit_transform`` with labels (the
paper's protocol) measure the labels, not the images. Use the default
``init="shared"`` for honest features, and evaluate a chained
featurizer only inside a Pipeline, where test folds go through
:meth:`transform`.""",
    "meta_init_note": """**Meta-learned initialisation.** With ``init="meta"``, :meth:`fit`
learns ``init_params_`` from the training images alone; labels are
never read. Its cost is ``meta_steps * meta_batch_size * inner_steps``
engine image-steps (16,000 with the defaults: the cost of fitting 16
images for 1000 steps), paid once per :meth:`fit` and cached in
``memory``'s array store (keyed by the training images and the
settings; never pickled), then
amortised over every image transformed with far fewer ``n_steps``.
Inside a Pipeline under cross-validation it is learned on each training
fold only, so test images never shape it. The meta-learning runs in
this process (``n_jobs`` applies to the per-image fits). See the user
guide's meta-learning section.""",
    "fitted_params_note": """**Parameters are read at fit.** :meth:`fit` takes a snapshot of every
parameter; :meth:`transform`, :meth:`inverse_transform`, :meth:`score`
and :meth:`get_feature_names_out` use that snapshot, so a parameter
changed with ``set_params`` after fit (valid or not) takes effect, and is
validated, at the next :meth:`fit`, as in scikit-learn. New images are
always fitted with the settings the training images were fitted with.""",
    "cost_note": """**Cost.** Every step of every fit costs about ``6 * n_params * n_pixels``
FLOPs, so the cost is ``n_images * n_steps`` times that. The defaults are
the paper's TinySIREN (264,193 parameters, 1000 steps), kept because this
package reproduces the paper and a grid search should start from the
paper's network; on a CPU they are slow. Measured on a shared 2-core CPU
(one 64 x 64 image, ``device="cpu"``): 18-24 s per 100 steps, i.e. 3-4
min per image at the default 1000 steps (two images took 147 s on an idle
one); ``hidden_features=64, hidden_layers=2`` (8,577 parameters): 1.7 s
per 100 steps, about 17 s per image per 1000 steps. On a GPU, images are
fitted many at once (``batch_size``). To pay less, stop each fit
at a fidelity (``target_psnr``), use a smaller network
(``hidden_features``), learn an init once (``init="meta"``) and fit with
far fewer ``n_steps``, and cache the fits with ``memory=`` so that a grid
search or a rerun never fits the same image twice; ``verbose=1`` shows
progress.""",
    "input_note": """Input: ``X`` is ``(n_images, H, W)``, ``(n_images, H, W, C)`` or 2-D
``(n_images, H * W * C)`` with ``image_shape``; with ``spatial_ndim=3``,
volumes ``(n_images, D, H, W[, C])`` or 2-D rows with ``image_shape=(D,
H, W[, C])``. Channels become output features of one network per image.
Coordinates are pixel (voxel) centres scaled to [-1, 1] per axis.""",
    "task_init_note": """**Task-aware initialisation.** With ``init="task"``, :meth:`fit` also
reads ``y``: the init and the step sizes of the first ``inner_steps``
steps are learned so that a Transformer classifies the images' networks
after those steps, while they still reconstruct the images (MWT,
:func:`task_learn_init`; the classifier is then discarded, and the
Pipeline's own is trained on theta). Every image, training or
new, is then fitted from that one init, so ``fit_transform(X, y)``
equals ``fit(X, y).transform(X)`` and there is no train/test mismatch;
but the init has seen the training labels, so evaluate it only inside a
Pipeline (each training fold learns its own), never after fitting it on
all images. With ``memory=`` the init is cached, keyed by the training
images, their labels and the settings.""",
}


def fill_featurizer_doc(obj):
    """Fill each line ``%(name)s`` of ``obj.__doc__`` from :data:`FEATURIZER_DOCS`.

    The entry takes the indentation of the line it replaces; the remaining
    placeholders are then filled by :func:`~sklearn_inr._docs.fill_doc`.
    """
    if obj.__doc__ is not None:
        lines = []
        for line in obj.__doc__.splitlines():
            name = line.strip()[2:-2]
            if line.strip() == f"%({name})s" and name in FEATURIZER_DOCS:
                indent = line[: len(line) - len(line.lstrip())]
                lines.extend(
                    indent + text if text else text
                    for text in FEATURIZER_DOCS[name].splitlines()
                )
            else:
                lines.append(line)
        obj.__doc__ = "\n".join(lines)
    return fill_doc(obj)
