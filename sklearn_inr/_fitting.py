"""The fitting engine: many INRs at once, on CPU or GPU, in chunks and batches.

This module knows nothing of scikit-learn: it takes image arrays and returns
arrays. :class:`~sklearn_inr.INRFeaturizer` is its scikit-learn face.

Work is cut twice. Images are split into *chunks* dispatched through the
active joblib backend (``n_jobs``); each chunk is fitted in *batches* of
``batch_size`` images by the kernel in :mod:`sklearn_inr._engine`. A fitted
image's result never depends on either cut (see :func:`fit_inrs`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from numbers import Integral, Real

import joblib
import numpy as np
import torch

from ._cache import ThetaCache
from ._engine import bytes_per_batch, render_batch, train_batch
from ._networks import INRSpec, make_coordinates
from .metrics import mean_squared_error_per_image, psnr

__all__ = ["INRDivergenceError", "INRFitResult", "fit_inrs", "render_inrs"]

LOSSES = ("bce", "mse")
INITS = ("shared", "random")
# Training-memory budget of a batch on CPU.
CPU_MEMORY_BUDGET = 512 * 2**20
# On CPU a batch also stops at this many pixels in all: batching pays for
# small images (it amortises the per-step overhead), but once a step holds
# this much work, more images only add memory traffic (measured with
# benchmarks/bench_fit.py: 64 x 64 paper-net images ran about 20 % slower in
# batches of 72 than of 4).
CPU_BATCH_PIXELS = 16384
# Fraction of the free GPU memory a batch may take.
GPU_MEMORY_FRACTION = 0.5


class INRDivergenceError(ValueError):
    """Raised when some images' loss became NaN or infinite.

    Attributes
    ----------
    indices : ndarray of int
        Positions of the diverged images in the input.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import INRDivergenceError, fit_inrs
    >>> images = np.zeros((3, 4, 4))
    >>> images[1] = 1e30  # its squared error overflows float32
    >>> try:
    ...     fit_inrs(images, loss="mse", hidden_features=4, hidden_layers=1,
    ...              n_steps=1)
    ... except INRDivergenceError as error:
    ...     print(error.indices)
    [1]
    """

    def __init__(self, indices, lr):
        self.indices = np.asarray(indices)
        shown = ", ".join(map(str, self.indices[:20]))
        more = "" if len(self.indices) <= 20 else f" and {len(self.indices) - 20} more"
        super().__init__(
            f"The INR fit diverged (NaN or infinite loss) for {len(self.indices)} "
            f"image(s) at positions [{shown}]{more} with lr={lr:g}. Lower the "
            "learning rate (e.g. by 10x); for SIREN, a smaller omega_0 also helps."
        )


@dataclass
class INRFitResult:
    """What :func:`fit_inrs` returns.

    Attributes
    ----------
    theta : ndarray of shape (n_images, n_params)
        Fitted parameters, in the theta layout of :class:`INRSpec`.
    loss : ndarray of shape (n_images,)
        Final training loss of the fitted parameters.
    loss_history : ndarray of shape (n_images, n_records)
        Training loss at ``history_steps`` (before that step's update; the
        last column is the final loss, after the last update).
    history_steps : ndarray of shape (n_records,)
    reconstructions : ndarray of shape (n_images, H, W[, C])
        The fitted networks rendered on the training grid (sigmoid of the
        logits for ``loss="bce"``).
    mse : ndarray of shape (n_images,)
        Mean squared error of the reconstructions.
    psnr : ndarray of shape (n_images,)
        PSNR of the reconstructions in dB, for data range 1.
    spec : INRSpec

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import fit_inrs
    >>> result = fit_inrs(np.full((2, 4, 4), 0.5), hidden_features=4,
    ...                   hidden_layers=1, n_steps=3, random_state=0)
    >>> result.theta.shape, result.loss_history.shape, result.history_steps
    ((2, 37), (2, 2), array([0, 3]))
    """

    theta: np.ndarray
    loss: np.ndarray
    loss_history: np.ndarray
    history_steps: np.ndarray
    reconstructions: np.ndarray
    mse: np.ndarray
    psnr: np.ndarray
    spec: INRSpec


def parse_device(device) -> str:
    """Check a device name without requiring the device to be here.

    The machine that dispatches work (e.g. a Dask client) may have no GPU
    while its workers do, so availability is checked where the work runs
    (:func:`resolve_device`).
    """
    if device is None or device == "auto":
        return "auto"
    try:
        return str(torch.device(device))
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}."
        ) from exc


def resolve_device(device) -> torch.device:
    """``"auto"`` -> the first visible CUDA device if any, else the CPU.

    Inside a worker started with ``CUDA_VISIBLE_DEVICES=i``, the first
    visible device is that worker's GPU.
    """
    device = parse_device(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was requested but CUDA is not available; use "
            "device='auto' or 'cpu'."
        )
    return device


def check_images(images, loss: str = "bce") -> np.ndarray:
    """Validate images and return them as ``(n, H, W, C)`` float arrays."""
    images = np.asarray(images)
    if images.dtype == object or not (
        np.issubdtype(images.dtype, np.floating)
        or np.issubdtype(images.dtype, np.integer)
        or images.dtype == bool
    ):
        raise ValueError(f"images must be numeric, got dtype {images.dtype}.")
    if images.ndim not in (3, 4):
        raise ValueError(
            "images must have shape (n_images, H, W) or (n_images, H, W, C), got "
            f"shape {images.shape}."
        )
    if images.size == 0:
        raise ValueError(f"Got no pixels to fit: images have shape {images.shape}.")
    if not np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float32)
    bad = ~np.isfinite(images).reshape(len(images), -1).all(axis=1)
    if bad.any():
        raise ValueError(
            f"images contain NaN or infinite values (image positions "
            f"{np.flatnonzero(bad)[:20].tolist()}); fill or drop them first."
        )
    if loss == "bce" and (images.min() < 0 or images.max() > 1):
        raise ValueError(
            f"loss='bce' needs intensities in [0, 1], got values in "
            f"[{images.min():g}, {images.max():g}]. Rescale the images (e.g. "
            "sklearn.preprocessing.minmax_scale per image) or use loss='mse'."
        )
    if images.ndim == 3:
        images = images[..., np.newaxis]
    return images


def image_seeds(images: np.ndarray, random_state) -> np.ndarray:
    """One seed per image from ``random_state`` and the image's own bytes.

    Deriving seeds from content, not position, keeps every image's random
    initialisation the same whatever order or company it comes in.
    """
    base = (
        np.random.RandomState(random_state)
        if not isinstance(random_state, np.random.RandomState)
        else random_state
    )
    salt = int(base.randint(np.iinfo(np.int32).max))
    if images.ndim == 3:  # hash (n, H, W) and (n, H, W, 1) alike
        images = images[..., np.newaxis]
    return np.array(
        [int(ThetaCache.key(image, {"salt": salt})[:15], 16) for image in images],
        dtype=np.int64,
    )


def resolve_init(init, spec: INRSpec, images: np.ndarray, random_state):
    """Per-image initialisation as ``(kind, data)``.

    ``("shared", theta)``, ``("random", seeds)`` or ``("given", thetas)``;
    thetas are built lazily per chunk (random inits of thousands of large
    networks need not all sit in memory at once).
    """
    n_images = len(images)
    if isinstance(init, str):
        if init == "shared":
            return "shared", spec.init_theta(_numpy_seed(random_state))
        if init == "random":
            return "random", image_seeds(images, random_state)
        raise ValueError(
            f"init must be 'shared', 'random' or an array of shape "
            f"({spec.n_params},) or ({n_images}, {spec.n_params}); got {init!r}."
        )
    init = np.asarray(init)
    if not np.issubdtype(init.dtype, np.floating):
        init = init.astype(np.float32)
    if init.shape == (spec.n_params,):
        return "shared", init
    if init.shape == (n_images, spec.n_params):
        return "given", init
    raise ValueError(
        f"An init array must have shape ({spec.n_params},) or "
        f"({n_images}, {spec.n_params}) for this network, got {init.shape}."
    )


def _numpy_seed(random_state):
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    return random_state


def _init_rows(init_kind, init_data, spec, rows) -> np.ndarray:
    """Per-image starting thetas of ``rows`` (``"random"`` or ``"given"``)."""
    if init_kind == "random":
        return np.stack([spec.init_theta(int(init_data[i])) for i in rows])
    return init_data[rows]


def _init_key(init_kind, init_data, row, shared_digest):
    if init_kind == "shared":
        return shared_digest
    if init_kind == "random":
        return ("random", int(init_data[row]))
    return joblib.hash(np.ascontiguousarray(init_data[row]))


def auto_batch_size(spec: INRSpec, n_pixels: int, device, itemsize: int = 4) -> int:
    """Largest batch whose training memory fits the budget (at least 1).

    The budget is :data:`CPU_MEMORY_BUDGET` on CPU and
    :data:`GPU_MEMORY_FRACTION` of the free memory on a GPU; a batch needs
    :func:`sklearn_inr._engine.bytes_per_batch`, which grows with the batch.
    On CPU the batch holds at most :data:`CPU_BATCH_PIXELS` pixels (and at
    least one image).
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = GPU_MEMORY_FRACTION * free
        high = 2**20
    else:
        budget = CPU_MEMORY_BUDGET
        high = max(1, CPU_BATCH_PIXELS // n_pixels)
    low = 1  # bisect for the largest batch that fits
    while low < high:
        middle = (low + high + 1) // 2
        if bytes_per_batch(spec, middle, n_pixels, itemsize, device.type) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def fit_key_settings(spec: INRSpec, *, loss, lr, n_steps, record_every, dtype):
    """What a cache key holds besides the image: everything that changes a fit.

    The dtype is in; the device and the batching are not (they change results
    by rounding only). omega_0 only matters for SIREN.
    """
    omega_0 = spec.omega_0 if spec.model == "siren" else None
    return {
        "spec": (spec.model, spec.hidden_features, spec.hidden_layers, omega_0),
        "loss": loss,
        "lr": float(lr),
        "n_steps": int(n_steps),
        "record_every": int(record_every),
        "dtype": str(dtype),
    }


def load_cached(cache: ThetaCache | None, keys: list):
    """Cached entries by row, and the rows still to fit."""
    results = {}
    if cache is not None:
        for row, key in enumerate(keys):
            hit = cache.load(key)
            if hit is not None:
                results[row] = hit
    todo = np.array([row for row in range(len(keys)) if row not in results], dtype=int)
    return results, todo


def store_batch(results, rows, theta, output, history, *, loss, image_shape, cache,
                keys):  # fmt: skip
    """Keep a trained batch in ``results`` (numpy) and in the cache.

    ``keys`` holds the cache key of each of ``rows``. Diverged images are not
    cached, so a rerun with a lower lr refits them.
    """
    if loss == "bce":
        output = torch.sigmoid(output)
    theta = theta.cpu().numpy()
    output = output.cpu().numpy().reshape(len(rows), *image_shape)
    history = history.cpu().numpy()
    for i, row in enumerate(rows):
        entry = {"theta": theta[i], "loss_history": history[i], "output": output[i]}
        results[int(row)] = entry
        if cache is not None and np.isfinite(history[i, -1]):
            cache.save(keys[i], **entry)


def collect_results(results, images, history_steps, spec, lr) -> INRFitResult:
    """Order per-row entries into an :class:`INRFitResult`; check divergence."""
    ordered = [results[row] for row in range(len(images))]
    loss_history = np.stack([r["loss_history"] for r in ordered]).astype(np.float64)
    diverged = np.flatnonzero(~np.isfinite(loss_history[:, -1]))
    if len(diverged):
        raise INRDivergenceError(diverged, lr)
    reconstructions = np.stack([r["output"] for r in ordered])
    targets = images
    if images.shape[-1] == 1:
        reconstructions, targets = reconstructions[..., 0], images[..., 0]
    return INRFitResult(
        theta=np.stack([r["theta"] for r in ordered]),
        loss=loss_history[:, -1].copy(),
        loss_history=loss_history,
        history_steps=history_steps,
        reconstructions=reconstructions,
        mse=mean_squared_error_per_image(targets, reconstructions),
        psnr=psnr(targets, reconstructions),
        spec=spec,
    )


def _fit_chunk(
    images,
    rows,
    init_kind,
    init_data,
    keys,
    spec,
    *,
    loss,
    lr,
    n_steps,
    record_steps,
    batch_size,
    device,
    dtype,
    cache_location,
    n_threads,
    progress=None,
):
    """Fit one chunk: ``images``, ``init_data`` and ``keys`` are the chunk's own.

    ``rows`` are the images' positions in the whole call, used as the keys
    of the returned results. Runs in a joblib worker; each finished batch
    goes to the cache at once, so a worker that dies loses at most its
    current batch.
    """
    if n_threads is not None:
        # A local process worker: share the cores with the other workers
        # instead of each one starting a thread per core.
        torch.set_num_threads(n_threads)
    device = resolve_device(device)
    cache = None if cache_location is None else ThetaCache(cache_location)
    coords = make_coordinates(images.shape[1:3], dtype=dtype, device=device)
    if batch_size == "auto":
        batch_size = auto_batch_size(
            spec, coords.shape[0], device, torch.finfo(dtype).bits // 8
        )
    record = torch.as_tensor(record_steps)
    results = {}
    for start in range(0, len(rows), batch_size):
        local = np.arange(start, min(start + batch_size, len(rows)))
        targets = torch.as_tensor(
            images[local].reshape(len(local), -1, spec.out_features), dtype=dtype
        ).to(device)
        if init_kind == "shared":  # one copy, not one per image (BatchedINR copies)
            theta0 = torch.as_tensor(init_data, dtype=dtype).to(device)
            theta0 = theta0.expand(len(local), -1)
        else:
            theta0 = torch.as_tensor(
                np.array(_init_rows(init_kind, init_data, spec, local)), dtype=dtype
            ).to(device)
        theta, output, history = train_batch(
            spec,
            theta0,
            targets,
            coords,
            loss=loss,
            lr=lr,
            n_steps=n_steps,
            record_steps=record,
        )
        store_batch(
            results, rows[local], theta, output, history,
            loss=loss, image_shape=images.shape[1:], cache=cache,
            keys=[keys[i] for i in local],
        )  # fmt: skip
        if progress is not None:
            progress.update(len(local))
    return results


def fit_inrs(
    images,
    *,
    model: str = "siren",
    hidden_features: int = 256,
    hidden_layers: int = 4,
    omega_0: float = 30.0,
    loss: str = "bce",
    lr: float = 1e-4,
    n_steps: int = 1000,
    init="shared",
    random_state=None,
    batch_size="auto",
    device="auto",
    dtype=torch.float32,
    record_every: int = 10,
    memory=None,
    n_jobs: int | None = None,
    chunk_size: int | None = None,
    verbose: int = 0,
) -> INRFitResult:
    """Fit one INR per image, many at once, and return their parameters.

    Each image gets its own network mapping pixel coordinates (pixel centres
    scaled to [-1, 1]) to intensities, trained full-batch with Adam for
    ``n_steps`` steps. Images are trained in batches with stacked weights;
    every image follows exactly the trajectory it would follow alone, so the
    result does not depend on ``batch_size``, ``n_jobs``, the order of the
    images or which other images are in the call (up to float32 GEMM
    rounding).

    Parameters
    ----------
    images : array-like of shape (n_images, H, W) or (n_images, H, W, C)
        Intensities; in [0, 1] for ``loss="bce"``. Channels become output
        features of the network.
    model : {"siren", "relu"}, default="siren"
    hidden_features : int, default=256
    hidden_layers : int, default=4
        ``hidden_layers + 2`` Linear layers in all (the SIREN convention).
    omega_0 : float, default=30.0
        SIREN frequency (ignored by ``"relu"``).
    loss : {"bce", "mse"}, default="bce"
        ``"bce"``: the network outputs a logit and the reconstruction is its
        sigmoid (the paper's BCEWithLogitsLoss). ``"mse"``: the output is the
        intensity.
    lr : float, default=1e-4
        Adam learning rate.
    n_steps : int, default=1000
        Full-batch Adam steps per image.
    init : {"shared", "random"} or ndarray, default="shared"
        ``"shared"``: every image starts from one draw from
        ``random_state``. ``"random"``: each image gets its own draw, seeded
        by ``random_state`` and the image's bytes. An array of shape
        ``(n_params,)`` or ``(n_images, n_params)``: explicit starting points.
    random_state : int, RandomState instance or None, default=None
    batch_size : int or "auto", default="auto"
        Images trained together. ``"auto"`` fits a memory budget: 512 MiB on
        CPU (and at most 16,384 pixels in all), half the free memory on a
        GPU. A batch of B images needs
        ``itemsize * B * (4 n_params + 4 n_pixels C + a chunk width)`` bytes,
        where a step works on ``chunk = min(n_pixels, max(256, R // B))``
        pixels at a time (``R`` = 4096 rows on CPU, 2**18 on GPU) and
        ``a = 2 (hidden_layers + 1) + 2`` for SIREN, ``hidden_layers + 3.25``
        for ReLU.
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
        ``"auto"`` takes the (first visible) GPU when there is one.
    dtype : torch.dtype, default=torch.float32
    record_every : int, default=10
        Stride of the loss history, in steps.
    memory : None, str, path or joblib.Memory, default=None
        Folder caching each image's result; a later call with the same image
        and settings loads it instead of fitting.
    n_jobs : int or None, default=None
        Chunks dispatched in parallel through the active joblib backend
        (``None`` means 1 unless in a :func:`joblib.parallel_config` context,
        e.g. ``backend="dask"``, which then uses every Dask worker).
    chunk_size : int or None, default=None
        Most images per dispatched chunk (chunks are cut evenly); ``None``
        cuts the images into two chunks per worker. Each chunk is fitted in
        batches of ``batch_size``, and every finished batch is written to
        ``memory`` at once.
    verbose : int, default=0
        Show a progress bar of images done when > 0.

    Returns
    -------
    result : INRFitResult

    Raises
    ------
    INRDivergenceError
        A ``ValueError`` naming the images whose loss became NaN or infinite.

    See Also
    --------
    INRFeaturizer : The scikit-learn transformer built on this function.
    render_inrs : Render fitted theta at any resolution.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import fit_inrs
    >>> images = np.random.default_rng(0).uniform(size=(3, 8, 8))
    >>> result = fit_inrs(images, hidden_features=16, hidden_layers=1,
    ...                   lr=1e-3, n_steps=20, random_state=0)
    >>> result.theta.shape
    (3, 337)
    >>> bool(result.loss_history[:, -1].mean() < result.loss_history[:, 0].mean())
    True
    """
    check_fit_params(loss=loss, n_steps=n_steps, lr=lr, record_every=record_every)
    images = check_images(images, loss)
    spec = INRSpec(
        model,
        in_features=2,
        hidden_features=hidden_features,
        hidden_layers=hidden_layers,
        out_features=images.shape[-1],
        omega_0=float(omega_0),
    )
    check_batch_size(batch_size)
    device = parse_device(device)
    if chunk_size is not None and not (
        isinstance(chunk_size, Integral) and chunk_size >= 1
    ):
        raise ValueError(f"chunk_size must be None or an int >= 1, got {chunk_size!r}.")
    init_kind, init_data = resolve_init(init, spec, images, random_state)
    record_steps = np.arange(0, n_steps, record_every)
    history_steps = np.append(record_steps, n_steps)

    settings = fit_key_settings(
        spec, loss=loss, lr=lr, n_steps=n_steps, record_every=record_every, dtype=dtype
    )
    cache = ThetaCache.from_memory(memory)
    shared_digest = (
        joblib.hash(np.ascontiguousarray(init_data)) if init_kind == "shared" else None
    )
    keys = [
        None
        if cache is None
        else ThetaCache.key(
            image,
            {**settings, "init": _init_key(init_kind, init_data, row, shared_digest)},
        )
        for row, image in enumerate(images)
    ]
    results, todo = load_cached(cache, keys)
    results.update(
        _dispatch(
            images,
            todo,
            init_kind,
            init_data,
            keys,
            spec,
            loss=loss,
            lr=float(lr),
            n_steps=int(n_steps),
            record_steps=record_steps,
            batch_size=batch_size,
            device=device,
            dtype=dtype,
            cache_location=None if cache is None else cache.root.parent.parent,
            n_jobs=n_jobs,
            chunk_size=chunk_size,
            verbose=verbose,
            n_done=len(images) - len(todo),
        )
    )
    return collect_results(results, images, history_steps, spec, lr)


def check_batch_size(batch_size) -> None:
    if batch_size != "auto" and not (
        isinstance(batch_size, Integral) and batch_size >= 1
    ):
        raise ValueError(
            f"batch_size must be 'auto' or an int >= 1, got {batch_size!r}."
        )


def check_fit_params(*, loss, n_steps, lr, record_every):
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")
    if not isinstance(n_steps, Integral) or n_steps < 1:
        raise ValueError(f"n_steps must be an int >= 1, got {n_steps!r}.")
    if not isinstance(lr, Real) or not lr > 0:
        raise ValueError(f"lr must be a float > 0, got {lr!r}.")
    if not isinstance(record_every, Integral) or record_every < 1:
        raise ValueError(f"record_every must be an int >= 1, got {record_every!r}.")


# joblib backends whose workers are processes on this machine: their torch
# threads must share its cores. Dask, Ray and other backends manage their own
# workers (e.g. ``dask worker --nthreads 1``) and may run elsewhere.
_LOCAL_PROCESS_BACKENDS = ("LokyBackend", "MultiprocessingBackend")
_IN_PROCESS_BACKENDS = ("SequentialBackend", "ThreadingBackend")


def _chunk_args(images, rows, init_kind, init_data, keys):
    """The part of the call one chunk needs, so workers get only their images."""
    if init_kind != "shared":  # per-image seeds or thetas
        init_data = init_data[rows]
    return images[rows], rows, init_kind, init_data, [keys[row] for row in rows]


def _dispatch(
    images, todo, init_kind, init_data, keys, spec, *, n_jobs, chunk_size, verbose,
    n_done, **kwargs,
):  # fmt: skip
    """Fit the rows ``todo``: in-process, or in chunks over joblib workers."""
    if len(todo) == 0:
        return {}
    backend, _ = joblib.parallel.get_active_backend()
    backend_name = type(backend).__name__
    n_workers = joblib.effective_n_jobs(n_jobs)
    progress = None
    if verbose > 0:
        from tqdm.auto import tqdm

        progress = tqdm(
            total=len(todo) + n_done, initial=n_done, unit="image", desc="Fitting INRs"
        )
    try:
        if (
            n_workers == 1
            and chunk_size is None
            and backend_name in (_IN_PROCESS_BACKENDS + _LOCAL_PROCESS_BACKENDS)
        ):
            return _fit_chunk(
                *_chunk_args(images, todo, init_kind, init_data, keys),
                spec,
                n_threads=None,
                progress=progress,
                **kwargs,
            )
        # A few chunks per worker balance the load without starving batching.
        if chunk_size is None:
            n_chunks = min(len(todo), 2 * n_workers)
        else:
            n_chunks = -(-len(todo) // chunk_size)
        n_threads = None
        if backend_name in _LOCAL_PROCESS_BACKENDS and n_workers > 1:
            n_threads = max(1, (os.cpu_count() or 1) // n_workers)
        parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator")
        results = {}
        for chunk in parallel(
            joblib.delayed(_fit_chunk)(
                *_chunk_args(images, rows, init_kind, init_data, keys),
                spec,
                n_threads=n_threads,
                **kwargs,
            )
            for rows in np.array_split(todo, n_chunks)
        ):
            results.update(chunk)
            if progress is not None:
                progress.update(len(chunk))
        return results
    finally:
        if progress is not None:
            progress.close()


def render_inrs(
    theta,
    shape,
    *,
    model: str = "siren",
    hidden_features: int = 256,
    hidden_layers: int = 4,
    omega_0: float = 30.0,
    out_features: int = 1,
    loss: str = "bce",
    device="auto",
    batch_size: int = 16,
) -> np.ndarray:
    """Render fitted INRs on a pixel grid of any resolution.

    Parameters
    ----------
    theta : array-like of shape (n_images, n_params) or (n_params,)
    shape : tuple of int
        ``(H, W)`` of the rendered images. The networks are continuous, so a
        larger shape than the training images' super-samples them.
    model, hidden_features, hidden_layers, omega_0, out_features
        The architecture theta came from.
    loss : {"bce", "mse"}, default="bce"
        ``"bce"`` applies the sigmoid to the outputs.
    device : {"auto", "cpu", "cuda"}, default="auto"
    batch_size : int, default=16
        Networks rendered together.

    Returns
    -------
    images : ndarray of shape (n_images, H, W) or (n_images, H, W, C)
        float32; a 1-D theta gives a single image without the leading axis.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_inr import fit_inrs, render_inrs
    >>> images = np.random.default_rng(0).uniform(size=(2, 8, 8))
    >>> theta = fit_inrs(images, hidden_features=16, hidden_layers=1,
    ...                  n_steps=5, random_state=0).theta
    >>> render_inrs(theta, (32, 32), hidden_features=16, hidden_layers=1).shape
    (2, 32, 32)
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")
    spec = INRSpec(
        model,
        in_features=len(shape),
        hidden_features=hidden_features,
        hidden_layers=hidden_layers,
        out_features=out_features,
        omega_0=float(omega_0),
    )
    theta = np.asarray(theta, dtype=np.float32)
    single = theta.ndim == 1
    theta = np.atleast_2d(theta)
    if theta.shape[1] != spec.n_params:
        raise ValueError(
            f"theta has {theta.shape[1]} features but this architecture ({spec}) "
            f"has {spec.n_params} parameters; pass the settings it was fitted with."
        )
    device = resolve_device(device)
    coords = make_coordinates(shape, device=device)
    images = []
    for start in range(0, len(theta), batch_size):
        batch = torch.as_tensor(theta[start : start + batch_size]).to(device)
        output = render_batch(spec, batch, coords)
        if loss == "bce":
            output = torch.sigmoid(output)
        images.append(output.cpu().numpy())
    images = np.concatenate(images).reshape(len(theta), *shape, out_features)
    if out_features == 1:
        images = images[..., 0]
    return images[0] if single else images
