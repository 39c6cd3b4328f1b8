"""The plan and duration estimate printed before a reproduction runs."""

import pytest

from sklearn_inr.experiments import (
    STAGE_NAMES,
    Throughput,
    data_seconds,
    estimate,
    format_plan,
    get_preset,
    plan,
    probe_throughput,
)
from sklearn_inr.experiments._costs import CACHE_HIT_SECONDS, FIGURE_SECONDS
from sklearn_inr.experiments._plan_table import format_duration

STAGES = STAGE_NAMES


def _n_params(in_features, width, hidden_layers, out_features=1):
    """Weights and biases of the Linear layers, counted from their shapes."""
    sizes = [in_features] + [width] * (hidden_layers + 1) + [out_features]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def test_estimate_scales_inversely_with_speed():
    stages = plan(get_preset("paper"), 150, (240, 240))
    slow, fast = estimate(stages, 1e12), estimate(stages, 4e12)
    # Seconds that FLOPs do not measure (cache reads, pixel baseline, figures)
    # do not depend on the speed.
    fixed = {s.name: s.fixed_seconds for s in stages}
    other = sum(slow["other"].values())
    assert fast["other"] == slow["other"] == {"figures": FIGURE_SECONDS}
    assert fast["total"] - sum(fixed.values()) - other == pytest.approx(
        (slow["total"] - sum(fixed.values()) - other) / 4
    )
    for name in STAGES:
        assert fast["stages"][name] - fixed[name] == pytest.approx(
            (slow["stages"][name] - fixed[name]) / 4
        )
    total_flops = sum(s.flops + s.classifier_flops for s in stages)
    assert slow["total"] == pytest.approx(
        total_flops / 1e12 + sum(fixed.values()) + other
    )
    # The pixel baseline: 3 conditions x 5 folds of logistic regression.
    assert slow["stages"]["pixel baseline"] == fixed["pixel baseline"] > 0
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
    # Expected from the preset's numbers, not from the plan's own FLOPs: the
    # cpu preset's grouped CV fits only TinySIREN (width 64, 3 hidden layers,
    # 12,737 parameters) in weight-transfer chains of at most 200 steps on
    # 32 x 32 pixels; the shared-init pipeline is all cached.
    n_params = _n_params(2, 64, 3)
    assert n_params == 12_737
    flops = cv.fits * 6.0 * n_params * 32 * 32 * 200
    assert cv.chained_fits == cv.fits > 0
    assert cv.flops == pytest.approx(flops, rel=1e-12)
    # 5 folds x (shared: images, noise, permuted; weight transfer: images),
    # each an MLP of 100 epochs on 64 training slices in batches of 32.
    assert cv.classifier_fits == 5 * 4
    assert cv.classifier_steps == 5 * 4 * 100 * 2
    # Plus its cache reads: every shared-init fit the pipeline reuses.
    assert cv.cache_reads > 0
    assert cv.fixed_seconds == pytest.approx(cv.cache_reads * CACHE_HIT_SECONDS)
    expected = flops / 1e10 + 20 * 0.5 + 4000 * 0.01 + cv.fixed_seconds
    assert seconds["stages"]["grouped CV"] == pytest.approx(expected)
    # Without a classifier probe: its FLOPs at the mean batch speed, from its
    # layer shapes (12,737 -> 256 -> 1 weights, 6 per sample and epoch).
    seconds = estimate(stages, Throughput(speeds, None, "cpu", "", 0.0))
    classifier_flops = 20 * 6.0 * 64 * 100 * (12_737 * 256 + 256 * 1)
    assert cv.classifier_flops == pytest.approx(classifier_flops, rel=1e-12)
    assert seconds["stages"]["grouped CV"] == pytest.approx(
        flops / 1e10 + classifier_flops / 2e10 + cv.fixed_seconds
    )


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
    n_stages = len(STAGES)
    for name, line in zip(STAGES, lines[2 : 2 + n_stages]):
        assert line.strip().startswith(name)
    assert lines[2 + n_stages].split()[:3] == ["figures", "-", "-"]
    total = lines[3 + n_stages].split()
    assert total[0] == "total" and total[1] == f"{sum(s.fits for s in stages):,}"
    assert "4 h" in lines[3 + n_stages] or "3 h" in lines[3 + n_stages]
    assert "An estimate" in text and "91.3 TFLOP per fit" in text
    # 66 classifiers of theta, and 30 more behind PCA (2 models x 5 folds x 3).
    assert "classifier's training (96 fits)" in text


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


def test_estimate_includes_the_data_and_the_figures():
    """Issue 24: the estimate left out writing the cohort and the figures."""
    settings = get_preset("cpu")
    stages = plan(settings, 80, (64, 64))
    data = data_seconds(40, settings["cohort_shape"])
    # 40 patients at 96 x 96 x 60: written and read in 5.9 s on 2 cores.
    assert 4 < data < 10
    assert data_seconds(40, settings["cohort_shape"], synthetic=False) < data / 2
    seconds = estimate(stages, 1e12, data_seconds=data)
    assert seconds["other"] == {"data": data, "figures": FIGURE_SECONDS}
    assert seconds["total"] == pytest.approx(
        sum(seconds["stages"].values()) + data + FIGURE_SECONDS
    )
    lines = format_plan(stages, seconds, title="t").splitlines()
    assert lines[2].split()[:3] == ["data", "-", "-"]
    assert any(line.split()[:3] == ["figures", "-", "-"] for line in lines)
    # The pixel baseline is priced: 3 conditions x 5 folds of 64 x 4,096 pixels.
    pixels = {s.name: s for s in stages}["pixel baseline"]
    assert pixels.fixed_seconds == pytest.approx(15 * (0.1 + 3e-7 * 64 * 4096))


def test_fits_to_a_target_psnr_are_priced_at_the_probed_steps(monkeypatch):
    """Issue 21: fits that stop at a target were priced at their step cap."""
    import numpy as np

    from sklearn_inr.experiments import _expected_steps

    settings = get_preset("tiny")
    settings["models"]["siren"]["leak_free"]["target_psnr"] = 20.0  # reachable
    probed = []

    def fake_steps(spec, images, *, init_theta, n_steps, return_theta=False, **kw):
        probed.append((images.shape, np.ndim(init_theta)))
        steps = np.full(len(images), 2 if np.ndim(init_theta) == 1 else 1)
        theta = np.zeros((len(images), spec.n_params))
        return (steps, theta) if return_theta else steps

    monkeypatch.setattr(_expected_steps, "probe_fit_steps", fake_steps)
    speed = probe_throughput(settings, "cpu", (12, 12), n_images=20,
                             target_seconds=0.01)  # fmt: skip
    # Slices of the run's synthetic cohort at its size: shared init, then chains.
    assert probed[0][0][1:] == (12, 12) and probed == [
        (probed[0][0], 1),
        ((probed[0][0][0] - 2, 12, 12), 2),
    ]
    assert speed.target_steps["siren"][:2] == (2.0, 8)
    assert speed.target_steps["siren", "chain"][:2] == (1.0, 8)
    assert "TinySIREN chain steps" in speed.detail
    stages = plan(settings, 20, (12, 12))
    capped = estimate(stages, Throughput(*[getattr(speed, f) for f in (
        "flops_per_second", "classifier", "device", "detail", "seconds")]))  # fmt: skip
    expected = estimate(stages, speed)
    assert expected["other"]["probe"] == capped["other"]["probe"] == speed.seconds
    assert expected["total"] < capped["total"]
    # Exactly the fits of images to the target: 6 of their 8 steps saved in
    # batches, 7 of 8 in chains; noise fits (never at a target) stay capped.
    saved = 0.0
    for stage in stages:
        for (model, kind), flops in stage.target_work.items():
            fraction = 6 / 8 if kind == "batch" else 7 / 8
            saved += fraction * flops / speed.of(model, kind)
    assert saved > 0
    assert capped["total"] - expected["total"] == pytest.approx(saved)
    text = format_plan(stages, expected, speed, title="t")
    assert "fits to a target PSNR at expected steps" in text
    assert "probe" in text.splitlines()[2]


def test_given_up_noise_and_a_cached_learned_init_are_probed(monkeypatch, tmp_path):
    """Noise fits that stop_unreachable gives up on are priced at the probed
    steps of noise images; an init a previous run learned is probed from."""
    import numpy as np

    from sklearn_inr.experiments import _expected_steps
    from sklearn_inr.experiments._protocols import learned_init

    settings = get_preset("tiny")
    entry = settings["models"]["siren"]
    entry["leak_free"].update(target_psnr=20.0, stop_unreachable=True)
    entry["leak_free"]["learned_init"] = {
        "n_patients": 2, "cohort_shape": (32, 32, 12), "image_size": 8,
        "meta_steps": 2, "inner_steps": 2, "meta_batch_size": 2,
    }  # fmt: skip
    probed = []

    def fake_steps(spec, images, *, init_theta, n_steps, return_theta=False, **kw):
        probed.append((images, np.asarray(init_theta), kw["stop_unreachable"]))
        steps = np.full(len(images), 2 if len(probed) == 1 else 4)
        theta = np.zeros((len(images), spec.n_params))
        return (steps, theta) if return_theta else steps

    monkeypatch.setattr(_expected_steps, "probe_fit_steps", fake_steps)
    memory = str(tmp_path / "cache")

    def probe():
        return probe_throughput(settings, "cpu", (12, 12), n_images=20,
                                target_seconds=0.01, memory=memory)  # fmt: skip

    # Before any run, the init does not exist: nothing probed, all capped.
    assert "learned in the run" in probe().target_steps["siren"][2]
    assert probed == []
    theta = learned_init(entry, random_state=0, memory=memory, device="cpu")
    speed = probe()
    slices, noise = probed[0], probed[1]  # then the chains
    np.testing.assert_array_equal(slices[1], theta)  # from the cached init
    np.testing.assert_array_equal(noise[1], theta)
    assert slices[2] and noise[2]
    assert noise[0].shape == (_expected_steps.PROBE_NOISE, 12, 12)
    assert not np.isin(noise[0], slices[0]).all()  # noise, not the slices
    assert speed.target_steps["siren"][:2] == (2.0, 8)
    assert speed.target_steps["siren", "noise"][:2] == (4.0, 8)
    assert "previous run cached" in speed.target_steps["siren"][2]
    # The noise fits (never in target_work) are priced at half their cap.
    stages = plan(settings, 20, (12, 12))
    capped = estimate(stages, Throughput(*[getattr(speed, f) for f in (
        "flops_per_second", "classifier", "device", "detail", "seconds")]))  # fmt: skip
    saved = 0.0
    for stage in stages:
        for (model, kind), flops in stage.target_work.items():
            fraction = 6 / 8 if kind == "batch" else 4 / 8
            saved += fraction * flops / speed.of(model, kind)
        for (model, kind), flops in stage.unreachable_work.items():
            saved += 4 / 8 * flops / speed.of(model, kind)
    assert any(stage.unreachable_work for stage in stages)
    expected = estimate(stages, speed)
    assert capped["total"] - expected["total"] == pytest.approx(saved)
    text = format_plan(stages, expected, speed, title="t")
    assert "fits of noise that are given up on at the mean steps" in text
