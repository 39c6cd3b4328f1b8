"""Shared parameter documentation, written once and filled into docstrings.

As in nilearn: a docstring writes ``%(lr)s`` where the shared text of a
parameter goes, and :func:`fill_doc` fills it in, so one parameter reads the
same in :func:`~sklearn_inr.fit_inrs`, :func:`~sklearn_inr.fit_shifts` and
:class:`~sklearn_inr.INRFeaturizer`.
"""

from __future__ import annotations

__all__ = ["docdict", "fill_doc"]

docdict = {
    "model": """model : {"siren", "relu", "gauss", "fourier"}, default="siren"
    The INR family, from the model table (``sklearn_inr.core.model_names()``):
    sine activations ``sin(omega_0 (W x + b))`` (SIREN, Sitzmann et al.
    2020), ReLU, Gaussian activations ``exp(-(s u)^2 / 2)`` with
    ``s = omega_0 / 2`` (Ramasinghe and Lucey 2022), or a ReLU MLP on random
    Fourier features of the coordinates with scale ``sigma = omega_0 / 10``
    (Tancik et al. 2020), on every layer but the linear output.""",
    "hidden_features": """hidden_features : int, default=256
    Width of the hidden layers.""",
    "hidden_layers": """hidden_layers : int, default=4
    Number of ``width -> width`` layers; the network has
    ``hidden_layers + 2`` Linear layers (the SIREN convention).""",
    "omega_0": """omega_0 : float, default=30.0
    SIREN frequency factor, in [1e-3, 1e4] (1 to 100 in practice). The
    other families read their own scale from it (``"gauss"``: ``omega_0 / 2``,
    ``"fourier"``: ``omega_0 / 10``); ``model="relu"`` ignores it.""",
    "loss": """loss : {"bce", "mse"}, default="bce"
    ``"bce"``: binary cross-entropy on the logit output, the reconstruction
    being its sigmoid (the paper's BCEWithLogitsLoss; intensities must be in
    [0, 1]). ``"mse"``: squared error on the output itself.""",
    "lr": """lr : float, default=1e-4
    Adam learning rate.""",
    "n_steps": """n_steps : int, default=1000
    Full-batch Adam steps per image.""",
    "batch_size": """batch_size : int or "auto", default="auto"
    Images trained together. ``"auto"`` fits a memory budget: 512 MiB on
    CPU shared by the batches in flight (and at most 16,384 pixels a batch),
    half the free memory on a GPU; on CPU it also cuts enough batches to
    keep every thread busy. A batch of B images needs about
    ``itemsize * (B * (4 n_params + 4 n_pixels C') + G * a * P * width)``
    bytes, where a step works on chunks of ``G`` images times ``P`` pixels
    (``P = min(n_pixels, 1024)`` and ``G = 4096 // P`` on CPU for images
    of up to 4,096 pixels, ``G = 1`` and ``P = 4096`` for larger ones),
    ``C' = max(2, C)`` and ``a = 2 (hidden_layers + 1) + 2`` for SIREN,
    ``hidden_layers + 3.25`` for ReLU. Results do not depend on it.""",
    "device": """device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
    ``"auto"`` takes the (first visible) GPU when there is one. On CPU each
    batch trains on one thread and as many batches as torch has threads
    (``torch.get_num_threads()``) train at once.""",
    "dtype": """dtype : torch.dtype, default=torch.float32""",
    "precision": """precision : {"auto", "fp32", "bf16"}, default="auto"
    What the width x width matrix products compute in. ``"fp32"``: float32
    throughout. ``"bf16"``: bfloat16 operands (float32 accumulation inside
    each product, one rounding of its result), with float32 parameters,
    gradients, Adam state, loss, output layer and first layer (2 inputs:
    bfloat16 would merge nearby pixel coordinates, and a SIREN's argument
    spans tens of radians). For the paper's width 256 on a CPU
    with AVX512-BF16/AMX, 1.4x (32 x 32) to 2.4x (240 x 240) faster per
    step with the same steps to 30-40 dB; no faster for width 64; a lower
    PSNR ceiling (about 48 dB where float32 reaches 52; see the
    performance guide).
    ``"auto"``: TF32 products on CUDA, float32 on CPU. ``"fp32"`` on CUDA
    turns TF32 off for the fit. Results with ``"bf16"`` are cached apart;
    ``"auto"`` and ``"fp32"`` share entries (on a GPU they differ by
    rounding, as devices do).""",
    "optimizer": """optimizer : {"adam", "kfac"}, default="adam"
    What steps each image's parameters. ``"adam"``: full-batch Adam,
    ``lr`` its learning rate. ``"kfac"``: K-FAC, a per-image
    Kronecker-factored natural gradient (Gauss-Newton) for every dense
    layer, with momentum and a bounded step (:class:`~sklearn_inr.core.KFAC`);
    ``lr`` is its step size, about 0.1 to 1 (not Adam's 1e-4 to 1e-3).
    Each image's steps read only its own numbers, so its theta does not
    depend on its batch either way. Results are cached per optimizer. From
    the shared init K-FAC reached 35 dB in a fifth of Adam's wall time on
    the paper's network; from a meta-learned init Adam is faster (see the
    performance guide).""",
    "record_every": """record_every : int, default=10
    Stride of the loss history, in steps.""",
    "memory": """memory : None, str, path or joblib.Memory, default=None
    Folder caching each image's result (arrays only, never pickles); a
    later call with the same image and settings loads it instead of
    fitting, and an interrupted run resumes where it stopped.""",
    "n_jobs": """n_jobs : int or None, default=None
    Chunks of images dispatched in parallel through the active joblib
    backend (``None`` means 1 unless in a :func:`joblib.parallel_config`
    context, e.g. ``backend="dask"``, which then uses every Dask worker).
    Results do not depend on it.""",
    "random_state": """random_state : int, RandomState instance or None, default=None
    Seeds the initialisation.""",
    "verbose": """verbose : int, default=0
    Show a progress bar of images done when > 0.""",
    "target_psnr": """target_psnr : float or None, default=None
    Fit to a fidelity: each image stops when its reconstruction reaches this
    PSNR (dB, data range 1), checked every ``check_every`` steps, or after
    ``n_steps``.
    Finished images leave their batch, so they cost nothing more, and an
    image's result does not depend on when the others finish. The steps
    each image took are reported (``n_steps`` of the result).""",
    "check_every": """check_every : int, default=10
    With ``target_psnr``: the steps between two checks of the target. A
    check costs one reduction beside the loss, which the step computes
    anyway; the default of 10 keeps the results of earlier versions, and 1
    stops each image at its first step at the target (fewer steps when
    each step is expensive). Part of the cache key with ``target_psnr``.""",
    "stop_unreachable": """stop_unreachable : bool, default=False
    With ``target_psnr``: from step 10 on, also stop, at a check, each image
    whose PSNR would end below the target at ``n_steps`` if it kept growing
    at its mean gain per step since step 5 (the first check from there; the
    first steps set the output's level, not its detail). Such fits would hit
    the cap below the target anyway where the PSNR grows fastest early, as
    fits from a learned init do; from a random init, whose PSNR can start
    slowly, it may give up on fits that would have made it. They are
    flagged as not converged, like any fit below the target. Saves the
    capped steps of images no fit can represent, such as pure-noise
    controls.""",
    "on_divergence": """on_divergence : {"raise", "warn", "ignore"}, default="raise"
    What to do when some fits diverged (the loss became NaN or infinite, or
    ended far above its start with a reconstruction worse than the image's
    mean): raise :class:`~sklearn_inr.INRDivergenceError`, warn with a
    :class:`~sklearn_inr.DivergenceWarning` and return the results, or
    return them silently. Diverged fits are never cached.""",
    "checkpoint_every": """checkpoint_every : float, default=60.0
    With ``batch_size="auto"``: ``"auto"`` batches are cut to finish within
    this many seconds (at the speed measured on the batches before), and
    each finished batch is written to ``memory`` at once, so a killed run
    (even ``kill -9``) loses at most about that much work. Results do not
    depend on it.""",
}


docdict["inr"] = "\n".join(
    docdict[name]
    for name in ("model", "hidden_features", "hidden_layers", "omega_0", "loss",
                 "lr", "n_steps")
)  # fmt: skip
docdict.update(
    {
        "meta_images": """images : array-like of shape (n_images, H, W) or (n_images, H, W, C)
    Training images; in [0, 1] for ``loss="bce"``.""",
        "meta_spec": """spec : INRSpec
    Architecture (``out_features`` must equal the number of channels).""",
        "init_theta": """init_theta : array-like of shape (n_params,), default=None
    Starting point; ``None`` draws ``spec.init_theta(random_state)``.""",
        "meta_steps": """meta_steps : int, default=100
    Outer steps of the meta-learning.""",
        "inner_steps": """inner_steps : int, default=10
    Adam steps each sampled image is fitted for in each outer step.""",
        "meta_batch_size": """meta_batch_size : int, default=16
    Images sampled per outer step (all of them if there are fewer).""",
        "meta_random_state": """random_state : int, RandomState instance or None, default=None
    Seeds the starting point and the batch sampling.""",
        "meta_device": """device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
    ``"auto"`` takes the (first visible) GPU when there is one. The
    meta-learning runs in the calling thread, on torch's threads.""",
        "meta_verbose": """verbose : int, default=0
    Progress bar of outer steps when > 0.""",
        "X_images": """X : array-like of shape (n_images, n_features) or (n_images, H, W[, C])
    Images: 2-D rows of ``image_shape``, or image arrays.""",
        "y_chains": """y : array-like of shape (n_images,), default=None
    Only used with ``warm_start_by_class=True`` (the class chains) and
    ``init="task"`` (the learned initialisation).""",
    }
)

# The training parameters of the classifiers of INR weights
# (PermutationInvariantClassifier, GraphMetanetClassifier): skorch and Adam.
docdict.update(
    {
        "classifier_lr": """lr : float, default=1e-3
    Adam learning rate.""",
        "classifier_batch_size": """batch_size : int or "auto", default=32
    Mini-batch size; ``"auto"`` uses ``min(200, n_samples)``.""",
        "classifier_weight_decay": """weight_decay : float, default=0.0
    L2 penalty passed to Adam's ``weight_decay``.""",
        "classifier_max_epochs": """max_epochs : int, default=100
    Number of passes over the training data.""",
        "classifier_early_stopping": """early_stopping : bool, default=False
    Hold out a stratified ``validation_fraction`` and stop when its loss
    has not improved for ``n_iter_no_change`` epochs (best weights kept).""",
        "classifier_validation_fraction": """validation_fraction : float in (0, 1), default=0.1
    Fraction held out when ``early_stopping=True``.""",
        "classifier_n_iter_no_change": """n_iter_no_change : int, default=10
    Patience (in epochs) of early stopping.""",
        "classifier_device": """device : str or torch.device, default="auto"
    Torch device; ``"auto"`` picks ``"cuda"`` when available.""",
        "classifier_random_state": """random_state : int, RandomState instance or None, default=None
    Seeds the initialisation, shuffling, dropout and early-stopping split.""",
        "classifier_verbose": """verbose : int, default=0
    If positive, skorch prints a line per epoch.""",
    }
)

docdict["meta_settings"] = "\n".join(
    docdict[name]
    for name in ("meta_batch_size", "loss", "meta_random_state", "meta_device",
                 "dtype", "meta_verbose")
)  # fmt: skip


def fill_doc(obj):
    """Fill each line ``%(name)s`` of ``obj.__doc__`` from :data:`docdict`.

    The entry takes the indentation of the line it replaces. Without a
    docstring (``python -OO``), nothing to fill.
    """
    if obj.__doc__ is None:
        return obj
    lines = []
    for line in obj.__doc__.splitlines():
        stripped = line.strip()
        if stripped.startswith("%(") and stripped.endswith(")s"):
            indent = line[: len(line) - len(line.lstrip())]
            entry = docdict[stripped[2:-2]]
            lines.extend(indent + text if text else text for text in entry.splitlines())
        else:
            lines.append(line)
    obj.__doc__ = "\n".join(lines)
    return obj
