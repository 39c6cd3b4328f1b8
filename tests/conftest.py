import numpy as np
import pytest
import torch

import sklearn_inr._engine as engine


@pytest.fixture(autouse=True)
def _few_threads():
    # The CI machine has 2 cores; keep torch from oversubscribing them when
    # pytest-xdist or helper processes run beside a test.
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def smooth_images():
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


@pytest.fixture
def fit_counter(monkeypatch):
    """Count the images the engine trains (cache hits do not reach it)."""
    counter = {"images": 0}
    original = engine.train_batch

    def counting(spec, theta, *args, **kwargs):
        counter["images"] += theta.shape[0]
        return original(spec, theta, *args, **kwargs)

    monkeypatch.setattr("sklearn_inr._fitting.train_batch", counting)
    return counter
