"""The learned init of a calibration cohort, keyed on its recipe and seed."""

import numpy as np

from sklearn_inr import datasets
from sklearn_inr.experiments import get_preset
from sklearn_inr.experiments._protocols import cached_learned_init, learned_init

RECIPE = {"n_patients": 2, "cohort_shape": (32, 32, 12), "image_size": 8,
          "meta_steps": 2, "inner_steps": 2, "meta_batch_size": 2}  # fmt: skip


def _entry(**recipe):
    entry = get_preset("tiny")["models"]["siren"]
    entry["leak_free"]["learned_init"] = {**RECIPE, **recipe}
    return entry


def test_a_cached_learned_init_writes_no_cohort(tmp_path, monkeypatch):
    memory = str(tmp_path / "cache")
    calls = []
    writer = datasets.make_brats_like

    def counted(*args, **kwargs):
        calls.append(args)
        return writer(*args, **kwargs)

    monkeypatch.setattr(datasets, "make_brats_like", counted)
    first = learned_init(_entry(), random_state=0, memory=memory, device="cpu")
    assert len(calls) == 1
    again = learned_init(_entry(), random_state=0, memory=memory, device="cpu")
    assert len(calls) == 1  # read from the store: no cohort written
    np.testing.assert_array_equal(first, again)
    # Another recipe or seed misses (and writes its cohort).
    other = learned_init(_entry(meta_steps=3), random_state=0, memory=memory,
                         device="cpu")  # fmt: skip
    assert len(calls) == 2 and not np.array_equal(other, first)
    seeded = learned_init(_entry(), random_state=1, memory=memory, device="cpu")
    assert len(calls) == 3 and not np.array_equal(seeded, first)


def test_cached_learned_init_reads_what_a_run_stored_and_never_learns(tmp_path):
    memory = str(tmp_path / "cache")
    assert cached_learned_init(_entry(), random_state=0, memory=memory) is None
    assert not (tmp_path / "cache").exists()  # a lookup writes nothing
    stored = learned_init(_entry(), random_state=0, memory=memory, device="cpu")
    found = cached_learned_init(_entry(), random_state=0, memory=memory)
    np.testing.assert_array_equal(found, stored)
    # Another seed or recipe, no cache, or an entry without a recipe: None.
    assert cached_learned_init(_entry(), random_state=1, memory=memory) is None
    assert cached_learned_init(_entry(meta_steps=3), random_state=0,
                               memory=memory) is None  # fmt: skip
    assert cached_learned_init(_entry(), random_state=0, memory=None) is None
    plain = get_preset("tiny")["models"]["siren"]
    assert cached_learned_init(plain, random_state=0, memory=memory) is None
