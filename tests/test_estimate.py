"""The plan and duration estimate printed before a reproduction runs."""

import contextlib

import numpy as np
import pytest

from sklearn_inr.experiments import _reproduce, get_preset, run_reproduction
from sklearn_inr.experiments._estimate import (
    STAGES,
    Throughput,
    estimate,
    flops_per_fit,
    format_duration,
    format_plan,
    plan,
    probe_throughput,
)


def _toy_cohort(n_patients, size=8, seed=0):
    """Two slices per patient, tumour first: the layout plan() assumes."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.2, 0.4, size=(2 * n_patients, size, size))
    images[::2, 2:5, 2:5] = 0.9
    target = np.tile([1, 0], n_patients)
    groups = np.repeat(np.arange(n_patients), 2)
    return images.astype(np.float32), target, groups


def test_plan_counts_the_fits_a_tiny_run_really_runs(
    tmp_path, fit_counter, monkeypatch
):
    # Per stage, the images the runner trains (cache hits never reach it)
    # must be what the plan counts, cache included: the shared-init fits
    # serving the grouped CV, the chain heads and the chain prefixes already
    # fitted, the permuted labels' reuse of the slices' random-init fits.
    images, target, groups = _toy_cohort(7)
    per_stage = {}
    stage = _reproduce._Timer.stage

    @contextlib.contextmanager
    def counted(self, name):
        before = fit_counter["images"]
        with stage(self, name):
            yield
        per_stage[name] = per_stage.get(name, 0) + fit_counter["images"] - before

    monkeypatch.setattr(_reproduce._Timer, "stage", counted)
    settings = get_preset("tiny")
    results = run_reproduction(
        images,
        target,
        groups,
        settings=settings,
        out_dir=tmp_path / "out",
        cache_dir=tmp_path / "cache",
        n_splits=3,
        random_state=1,
        device="cpu",
        verbose=0,
    )
    stages = plan(settings, len(images), (8, 8), n_splits=3, random_state=1)
    assert [s.name for s in stages] == list(STAGES)
    assert set(STAGES) <= set(results["timings"])
    assert {s.name: s.fits for s in stages} == {
        name: per_stage[name] for name in STAGES
    }
    assert sum(s.fits for s in stages) == fit_counter["images"]
    # Given explicitly, the same labels and patients give the same plan.
    explicit = plan(
        settings, len(images), (8, 8), n_splits=3, random_state=1,
        target=target, groups=groups,
    )  # fmt: skip
    assert [s.fits for s in explicit] == [s.fits for s in stages]
    # The cache did serve fits: without it the run would fit far more.
    assert stages[2].fits < 3 * 2 * 3 * 3 * len(images)
    assert stages[3].fits == 0


def test_plan_of_the_paper_preset():
    settings = get_preset("paper")
    stages = {s.name: s for s in plan(settings, 150, (240, 240))}
    per_fit = flops_per_fit(settings["models"]["siren"], (240, 240))
    assert per_fit == 6.0 * 264_193 * 240 * 240 * 1000
    shared = stages["shared-init INRs"]
    assert (shared.fits, shared.chained_fits) == (600, 0)
    assert shared.flops == 600 * per_fit
    # SmallMLP_INR: slices and noise; TinySIREN: three chains, less the
    # prefixes the permuted labels share with the true ones.
    paper = stages["paper protocol"]
    assert 2 * 150 + 2 * 150 < paper.fits <= 2 * 150 + 3 * 150
    assert paper.chained_fits == paper.fits - 2 * 150
    # Only the weight-transfer chains of the training folds are fitted.
    cv = stages["grouped CV"]
    assert cv.chained_fits == cv.fits
    assert cv.fits < 2 * 3 * 5 * 120
    assert cv.classifier_fits == 2 * 2 * 3 * 5
    assert stages["paper protocol"].classifier_fits == 6


def test_plan_follows_the_settings():
    settings = get_preset("paper")
    settings["weight_transfer_pipeline_controls"] = False
    fewer = {s.name: s.fits for s in plan(settings, 150, (240, 240))}
    full = {s.name: s.fits for s in plan(get_preset("paper"), 150, (240, 240))}
    assert fewer["grouped CV"] < full["grouped CV"] / 2
    assert fewer["shared-init INRs"] == full["shared-init INRs"]
    with pytest.raises(ValueError, match="150 entries"):
        plan(settings, 150, (240, 240), target=np.zeros(10), groups=np.zeros(10))


def test_estimate_scales_inversely_with_speed():
    stages = plan(get_preset("paper"), 150, (240, 240))
    slow, fast = estimate(stages, 1e12), estimate(stages, 4e12)
    assert fast["total"] == pytest.approx(slow["total"] / 4)
    for name in STAGES:
        assert fast["stages"][name] == pytest.approx(slow["stages"][name] / 4)
    total_flops = sum(s.flops + s.classifier_flops for s in stages)
    assert slow["total"] == pytest.approx(total_flops / 1e12)
    assert slow["stages"]["pixel baseline"] == 0
    # A measured speed of the same value everywhere gives the same estimate.
    uniform = Throughput(
        {(m, k): 1e12 for m in ("siren", "relu") for k in ("batch", "chain")},
        None,
        "cpu",
        "",
        0.0,
    )
    same = estimate(stages, uniform)
    assert same["stages"] == pytest.approx(slow["stages"])
    assert same["total"] == pytest.approx(slow["total"])
    with pytest.raises(ValueError, match="must be > 0"):
        estimate(stages, 0)


def test_estimate_times_chains_and_classifiers_by_their_own_probe():
    stages = plan(get_preset("cpu"), 80, (32, 32))
    speeds = {(m, "batch"): 2e10 for m in ("siren", "relu")}
    speeds.update({(m, "chain"): 1e10 for m in ("siren", "relu")})
    seconds = estimate(stages, Throughput(speeds, (0.5, 0.01), "cpu", "", 0.0))
    cv = {s.name: s for s in stages}["grouped CV"]
    expected = cv.flops / 1e10 + cv.classifier_fits * 0.5 + cv.classifier_steps * 0.01
    assert seconds["stages"]["grouped CV"] == pytest.approx(expected)


def test_probe_measures_the_preset_networks_without_fitting(fit_counter):
    settings = get_preset("tiny")
    throughput = probe_throughput(
        settings, "cpu", (12, 12), n_images=20, target_seconds=0.05
    )
    assert set(throughput.flops_per_second) == {
        (m, k) for m in settings["models"] for k in ("batch", "chain")
    }
    assert all(v > 0 for v in throughput.flops_per_second.values())
    per_fit, per_step = throughput.classifier
    assert per_fit >= 0 and per_step > 0
    assert throughput.seconds < 10
    assert "TinySIREN" in throughput.detail and "Classifier" in throughput.detail
    # It trains no INR through the fitting runner.
    assert fit_counter["images"] == 0


def test_probe_crops_large_images_on_a_cpu():
    settings = get_preset("tiny")
    throughput = probe_throughput(
        settings, "cpu", (240, 240), n_images=4, target_seconds=0.05
    )
    assert "128 x 128 crops of the 240 x 240 slices" in throughput.detail


def test_format_plan_prints_a_table_with_the_total():
    settings = get_preset("paper")
    stages = plan(settings, 150, (240, 240))
    text = format_plan(
        stages,
        estimate(stages, 3.35e13),
        settings=settings,
        image_shape=(240, 240),
        title="Plan of the test",
    )
    lines = text.splitlines()
    assert lines[0] == "Plan of the test"
    assert lines[1].split()[:3] == ["Stage", "INR", "fits"]
    for name, line in zip(STAGES, lines[2:6]):
        assert line.strip().startswith(name)
    total = lines[6].split()
    assert total[0] == "total" and total[1] == f"{sum(s.fits for s in stages):,}"
    assert "4 h" in lines[6] or "3 h" in lines[6]
    assert "An estimate" in text and "91.3 TFLOP per fit" in text
    assert "classifier's training (66 fits)" in text


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.2, "<1 s"),
        (4.4, "4 s"),
        (171, "2 min 51 s"),
        (3.7 * 3600, "3 h 42 min"),
        (52 * 86400 + 3 * 3600, "52 d 3 h"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
