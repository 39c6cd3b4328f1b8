"""The reproduction experiment as a function: run_reproduction and its parts."""

import json

import numpy as np
import pytest
from conftest import make_toy_cohort

from sklearn_inr.experiments import PRESETS, get_preset, run_reproduction
from sklearn_inr.experiments._protocols import (
    INR_KEYS,
    make_featurizer,
    noise_images,
    paper_split,
    permute_within_groups,
)
from sklearn_inr.experiments._report import fmt, rounded


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("model", ["siren", "relu"])
def test_featurizers_carry_every_preset_setting(preset, model):
    """What reaches the featurizer is the preset's entry, nothing dropped."""
    settings = get_preset(preset)["models"][model]
    featurizer = make_featurizer(settings, device="cpu", memory=None, random_state=0)
    params = featurizer.get_params()
    for key in INR_KEYS + ("n_steps",):
        assert params[key] == settings[key], (preset, model, key)
    # The paper's network has the paper's 264,193 parameters per slice.
    if preset == "paper":
        fitted = make_featurizer(
            {**settings, "n_steps": 1}, device="cpu", memory=None, random_state=0
        ).fit(np.zeros((1, 2, 2)))
        assert fitted.n_params_ == 264_193


def test_get_preset_returns_a_copy():
    settings = get_preset("cpu")
    settings["models"]["siren"]["n_steps"] = 1
    assert PRESETS["cpu"]["models"]["siren"]["n_steps"] != 1
    assert settings["preset"] == "cpu"
    with pytest.raises(ValueError, match="Unknown preset 'gpu'"):
        get_preset("gpu")


def test_paper_split_is_80_10_10_and_disjoint():
    train, val, test = paper_split(100, (0.8, 0.1, 0.1), random_state=0)
    assert (len(train), len(val), len(test)) == (80, 10, 10)
    assert len(np.unique(np.concatenate([train, val, test]))) == 100


def test_permute_within_groups_keeps_each_patients_labels():
    target = np.tile([1, 0], 50)
    groups = np.repeat(np.arange(50), 2)
    permuted = permute_within_groups(target, groups, random_state=0)
    for g in range(50):
        assert sorted(permuted[groups == g]) == [0, 1]
    assert 0 < np.mean(permuted != target) < 1


def test_noise_images_are_uniform_noise_of_the_same_shape():
    images = np.zeros((4, 6, 6), dtype=np.float32)
    noise = noise_images(images, random_state=0)
    assert noise.shape == images.shape and noise.dtype == images.dtype
    assert 0 <= noise.min() and noise.max() <= 1 and noise.std() > 0.2


def test_rounding_is_what_the_report_prints():
    values = rounded({"a": [0.123456, 1.0, float("nan"), 3], "b": np.float32(2.5e-5)})
    assert values == {"a": [0.1235, 1.0, None, 3], "b": 2.5e-05}
    for v in (0.1235, 1.0, 2.5e-05, 12.35):
        assert float(fmt(v)) == v
    assert fmt(None) == "n/a"


def test_run_reproduction_on_arrays(tmp_path):
    images, target, groups = make_toy_cohort()
    settings = get_preset("tiny")
    settings["weight_transfer_pipeline_controls"] = False
    results = run_reproduction(
        images,
        target,
        groups,
        settings=settings,
        out_dir=tmp_path,
        n_splits=2,
        device="cpu",
        verbose=0,
    )
    assert json.loads((tmp_path / "results.json").read_text()) == results
    labels = [row["key"] for row in results["scores"]]
    assert labels == [
        "paper/siren",
        "paper/relu",
        "pipeline-shared/siren",
        "pipeline-shared/relu",
        "pipeline-weight-transfer/siren",
        "pipeline-weight-transfer/relu",
        "pixels/logistic",
    ]
    wt = results["scores"][4]["conditions"]
    assert wt["noise"] is None and wt["images"]["n_test"] == len(images)
    paper = results["scores"][0]["conditions"]["images"]
    assert (paper["n_train"], paper["n_val"], paper["n_test"]) == (8, 2, 2)
    # The bright blobs are easy for pixels, and noise is not.
    pixels = results["scores"][6]["conditions"]
    assert pixels["images"]["accuracy"] == 1.0
    assert set(results["reconstruction"]) == {"siren", "relu"}
    assert set(results["reconstruction"]["siren"]) == {"shared", "paper"}
    assert results["settings"]["torch_threads"] == 1
    assert isinstance(results["verdict"]["paper_protocol_passes_noise_control"], bool)
    assert "total" in results["timings"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_splits": 7}, "n_splits must be between 2"),
        ({"groups": np.arange(3)}, "same length"),
    ],
)
def test_run_reproduction_rejects_bad_input(kwargs, message, tmp_path):
    images, target, groups = make_toy_cohort()
    params = {"groups": groups, "n_splits": 2}
    params.update(kwargs)
    groups = params.pop("groups")
    with pytest.raises(ValueError, match=message):
        run_reproduction(
            images,
            target,
            groups,
            settings="tiny",
            out_dir=tmp_path,
            verbose=0,
            **params,
        )


def test_verdict_flags_leak_free_rows_of_unconverged_inrs():
    from sklearn_inr.experiments._report import reconstruction_table, verdict

    def psnr(median):
        return {
            "psnr": {"mean": median, "std": 1.0, "median": median, "p10": median - 2},
            **{k: {"mean": 0.1, "std": 0.0} for k in ("bce", "bce_minus_entropy",
                                                       "mse")},
        }  # fmt: skip

    results = {
        "scores": [],
        "settings": {"models": {"siren": {"name": "TinySIREN"},
                                "relu": {"name": "SmallMLP_INR"}}},
        "reconstruction": {"siren": {"shared": psnr(11.6)},
                           "relu": {"shared": psnr(36.0)}},
    }  # fmt: skip
    said = verdict(results)
    assert said["unconverged_leak_free_fits"] == ["TinySIREN"]
    assert "TinySIREN classify theta of unconverged INRs" in said["text"]
    assert "median PSNR of 11.6 dB" in said["text"]
    assert "SmallMLP_INR classify" not in said["text"]
    table = reconstruction_table(results)
    assert "| 11.6 | 9.6 |" in table and "PSNR median (dB)" in table
