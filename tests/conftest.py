import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

import sklearn_inr._cli_reproduce as cli_reproduce
import sklearn_inr.fitting._runner as runner


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # The test networks are tiny: intra-op threads gain nothing there, and on
    # a shared 2-core machine their spin-waiting made tests up to 20x slower
    # (and the loky / Dask workers of some tests need the cores).
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def allocator_calls(monkeypatch):
    """``reproduce`` tunes glibc's allocator for its whole process: in the
    test process, its calls are counted instead (tests/test_cli.py runs the
    real one in a subprocess)."""
    calls = []
    monkeypatch.setattr(cli_reproduce, "reuse_freed_memory", lambda: calls.append(1))
    return calls


def make_smooth_images():
    """Six smooth 12x12 images in [0, 1], all different."""
    y, x = np.mgrid[0:12, 0:12] / 11.0
    return np.stack(
        [
            0.5
            + 0.3 * np.sin(2 * np.pi * (x + k / 6)) * np.cos(np.pi * y)
            + 0.1 * k / 6
            for k in range(6)
        ]
    ).astype(np.float32)


def make_smooth_volumes(shape=(4, 6, 5), n=4):
    """``n`` smooth volumes in [0, 1] of ``shape`` (D, H, W), all different."""
    z, y, x = np.meshgrid(*[np.linspace(0, 1, m) for m in shape], indexing="ij")
    return np.stack(
        [
            0.5
            + 0.3 * np.sin(2 * np.pi * (x + k / n)) * np.cos(np.pi * y) * (1 - z / 2)
            for k in range(n)
        ]
    ).astype(np.float32)


@pytest.fixture
def smooth_volumes():
    return make_smooth_volumes()


def make_toy_cohort(n_patients=6, size=8, seed=0):
    """Bright-blob "tumour" slices and plain ones, two per patient, tumour
    first: images, target and groups."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.2, 0.4, size=(2 * n_patients, size, size))
    images[::2, 2:5, 2:5] = 0.9
    target = np.tile([1, 0], n_patients)
    groups = np.repeat(np.arange(n_patients), 2)
    return images.astype(np.float32), target, groups


@pytest.fixture
def smooth_images():
    return make_smooth_images()


@pytest.fixture
def fit_counter(monkeypatch):
    """Count the images the runner trains, whatever the trainer (weights or
    shifts); cache hits never reach it. Counts in this process only."""
    counter = {"images": 0}
    original = runner._train_batch

    def counting(chunk, local, *args):
        counter["images"] += len(local)
        return original(chunk, local, *args)

    monkeypatch.setattr(runner, "_train_batch", counting)
    return counter


@pytest.fixture(
    params=[
        "cpu",
        pytest.param(
            "cuda",
            marks=pytest.mark.skipif(
                not torch.cuda.is_available(), reason="no CUDA device"
            ),
        ),
    ]
)
def device(request):
    """Each device the code paths must run on unchanged (ids: cpu, cuda).

    ``benchmarks/gpu_check.py`` runs the ``cuda`` ones (``pytest -k cuda``).
    """
    return request.param
