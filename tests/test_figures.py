"""The reproduction's figures: each readable alone, written and closed."""

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sklearn_inr import INRFeaturizer, LabelLeakWarning, binary_entropy  # noqa: E402
from sklearn_inr.experiments._figures import (  # noqa: E402
    _accuracy_figure,
    _loss_figure,
    _reconstruction_figure,
    _short_label,
    _weight_space_figure,
    write_figures,
)
from sklearn_inr.experiments._statistics import wilson_interval  # noqa: E402
from sklearn_inr.plotting import weight_space_pca  # noqa: E402

MODELS = {"siren": "TinySIREN", "relu": "SmallMLP_INR"}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _featurizer(model, **params):
    return INRFeaturizer(
        model=model,
        hidden_features=8,
        hidden_layers=1,
        n_steps=20,
        lr=1e-3,
        device="cpu",
        random_state=0,
        **params,
    )


def _fit(featurizer, images, y=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LabelLeakWarning)
        return featurizer.fit_transform(images, y)


@pytest.fixture(scope="module")
def figure_data():
    """What ``_run`` keeps for the figures, from tiny real fits."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0.2, 0.4, size=(8, 8, 8)).astype(np.float32)
    images[::2, 2:5, 2:5] = 0.9
    noise = rng.uniform(size=images.shape).astype(np.float32)
    target = np.tile([1, 0], 4)
    data = {
        "loss": {},
        "reconstructions": {},
        "weight_space": {},
        "models": MODELS,
        "target": target,
        "groups": np.array([f"BraTS2021_{i // 2:05d}" for i in range(8)]),
        "images": images,
    }
    for model in MODELS:
        for fit, params in (
            ("shared", {}),
            ("paper", {"init": "random", "warm_start_by_class": model == "siren"}),
        ):
            for condition, X in (("images", images), ("noise", noise)):
                featurizer = _featurizer(model, **params)
                theta = _fit(featurizer, X, target)
                data["weight_space"][model, fit, condition] = weight_space_pca(
                    theta, random_state=0
                )
            data["loss"][model, fit] = (
                featurizer.history_steps_,
                featurizer.loss_history_,
                featurizer.n_steps_,
            )
            data["reconstructions"][model, fit] = (
                featurizer.inverse_transform(theta),
                featurizer.train_psnr_,
            )
    return data


def _counted(result, n_test=20):
    """A result with the counts and Wilson interval the report holds."""
    if result is None:
        return None
    n_correct = round(result["accuracy"] * n_test)
    return {**result, "n_correct": n_correct, "n_test": n_test,
            "accuracy_ci": list(wilson_interval(n_correct, n_test))}  # fmt: skip


@pytest.fixture
def results():
    """The rounded results the figures read (None where a number is NaN)."""
    rows = []
    for model in MODELS:
        rows.append(
            {
                "protocol": "paper",
                "model": model,
                "conditions": {
                    c: {"accuracy": 1.0} for c in ("images", "noise", "permuted")
                },
            }
        )
    for variant in ("shared", "weight transfer"):
        for model in MODELS:
            rows.append(
                {
                    "protocol": f"pipeline ({variant})",
                    "model": model,
                    "conditions": {
                        "images": {"accuracy": 0.8, "accuracy_std": 0.3},
                        "noise": None if variant != "shared" else {"accuracy": 0.0},
                        "permuted": None
                        if variant != "shared"
                        else {"accuracy": 0.5, "accuracy_std": None},
                    },
                }
            )
    rows.append(
        {
            "protocol": "pixel baseline",
            "model": "logistic regression",
            "conditions": {
                c: {"accuracy": 0.5, "accuracy_std": 0.1}
                for c in ("images", "noise", "permuted")
            },
        }
    )
    for row in rows:
        row["conditions"] = {c: _counted(r) for c, r in row["conditions"].items()}
    return {
        "settings": {
            "models": {
                "siren": {"loss": "bce", "paper_weight_transfer": True},
                "relu": {"loss": "mse", "paper_weight_transfer": False},
            }
        },
        "scores": rows,
    }


def test_write_figures_writes_four_pngs_and_closes_them(figure_data, results, tmp_path):
    figures = write_figures(tmp_path, figure_data, results)
    assert figures == {
        "loss curves": "loss_curves.png",
        "reconstructions": "reconstructions.png",
        "accuracy": "accuracy.png",
        "weight space": "weight_space.png",
    }
    for name in figures.values():
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG"), name
    assert plt.get_fignums() == []


def test_loss_figure_names_models_losses_and_band(figure_data, results):
    fig = _loss_figure(figure_data, results)
    assert [ax.get_title() for ax in fig.axes] == [
        "TinySIREN: loss of every slice's INR",
        "SmallMLP_INR: loss of every slice's INR",
    ]
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "training loss (BCE)",
        "training loss (MSE)",
    ]
    floor = float(np.mean(binary_entropy(figure_data["images"])))
    band = "shaded: 10th-90th percentile over images"
    siren, relu = ([t.get_text() for t in ax.get_legend().get_texts()]
                   for ax in fig.axes)  # fmt: skip
    # BCE never reaches 0: its floor, the targets' mean entropy, is marked.
    bce_floor = f"BCE floor: mean entropy of the targets ({floor:.3g})"
    assert siren == ["shared", bce_floor, "paper", band]
    (line,) = [ln for ln in fig.axes[0].lines if ln.get_linestyle() == "--"]
    assert line.get_ydata()[0] == pytest.approx(floor)
    assert relu == ["shared", "paper", band]  # MSE: no such floor


def test_reconstruction_figure_shows_both_fits_with_psnr(figure_data, results):
    fig = _reconstruction_figure(figure_data, results)
    *panels, colorbar = fig.axes
    assert len(panels) == 2 * 5  # two slices: the original and four fits
    assert colorbar.get_ylabel() == "intensity (all panels)"
    titles = [ax.get_title() for ax in panels[:5]]
    assert titles[0] == "original"
    assert titles[1].startswith("TinySIREN\nshared init (leak-free)\nPSNR ")
    assert titles[2].startswith(
        "TinySIREN, paper protocol\n(weight transfer by class)\nPSNR "
    )
    assert titles[4].startswith(
        "SmallMLP_INR, paper protocol\n(fresh init per slice)\nPSNR "
    )
    assert all(
        ax.get_title().endswith(" dB)") for ax in panels if ax not in panels[::5]
    )
    assert [panels[0].get_ylabel(), panels[5].get_ylabel()] == [
        "tumour slice",
        "no-tumour slice",
    ]


def test_accuracy_figure_spells_out_labels_and_marks_not_run(figure_data, results):
    fig = _accuracy_figure(figure_data, results)
    (ax,) = fig.axes
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == [
        "paper protocol\nTinySIREN",
        "paper protocol\nSmallMLP_INR",
        "grouped CV\nTinySIREN, shared init",
        "grouped CV\nSmallMLP_INR, shared init",
        "grouped CV\nTinySIREN, weight transfer",
        "grouped CV\nSmallMLP_INR, weight transfer",
        "pixels\nlogistic regression",
    ]
    # Two weight-transfer rows without their two controls.
    assert [t.get_text() for t in ax.texts if t.get_text() == "n/a"] == ["n/a"] * 4
    # n under every bar that ran: 9 rows x 3 conditions, less the 4 not run.
    counts = [t.get_text() for t in ax.texts if t.get_text().startswith("n=")]
    assert counts == ["n=20"] * (7 * 3 - 4)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[-3:] == [
        "chance level (0.50, guessing)",
        "n/a: not run",
        "n=: test cases behind a bar",
    ]
    # The two pipelines' 0.0 on noise are marked.
    (zeros,) = [line for line in ax.lines if line.get_marker() == "^"]
    assert len(zeros.get_xdata()) == 2


def test_weight_space_figure_has_leak_free_and_paper_panels(figure_data, results):
    fig = _weight_space_figure(figure_data, results)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 8
    assert titles[:2] == [
        "TinySIREN\nshared init (leak-free)\non images",
        "TinySIREN, paper protocol\n(weight transfer by class)\non images",
    ]
    assert titles[4:] == [t.replace("on images", "on pure noise") for t in titles[:4]]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "no tumour",
        "tumour",
    ]


def _splits_on_pc1(coordinates, y):
    a, b = coordinates[y == 0, 0], coordinates[y == 1, 0]
    return bool(a.max() < b.min() or b.max() < a.min())


def test_weight_space_shows_the_leak_on_noise(figure_data):
    """Weight transfer by class splits noise by class; the shared init not."""
    y = figure_data["target"]
    space = figure_data["weight_space"]
    assert _splits_on_pc1(space["siren", "paper", "noise"][0], y)
    assert not _splits_on_pc1(space["siren", "shared", "noise"][0], y)
    # Without weight transfer, the paper protocol has no leak to show.
    assert not _splits_on_pc1(space["relu", "paper", "noise"][0], y)


@pytest.mark.parametrize(
    "protocol, model, expected",
    [
        ("paper", "siren", "paper protocol\nTinySIREN"),
        (
            "pipeline (weight transfer)",
            "relu",
            "grouped CV\nSmallMLP_INR, weight transfer",
        ),
        ("pipeline (shared)", "other", "grouped CV\nother, shared init"),
        ("pipeline (compressed)", "siren", "grouped CV\nTinySIREN, theta PCA"),
        ("pixel baseline", "logistic regression", "pixels\nlogistic regression"),
    ],
)
def test_short_labels_spell_out_abbreviations(protocol, model, expected):
    assert _short_label({"protocol": protocol, "model": model}, MODELS) == expected


def test_reconstruction_figure_shows_the_median_patient_by_name():
    """Issue 24: not the first patient (a poor fit here), the typical one."""
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(10, 6, 4)).astype(np.float32)
    target = np.tile([1, 0], 5)
    groups = np.repeat([f"BraTS2021_{i:05d}" for i in range(5)], 2)
    # Patients' PSNR: 5, 50, 20, 35, 12 dB; the median patient is the third.
    psnr = np.repeat([5.0, 50.0, 20.0, 35.0, 12.0], 2)
    data = {
        "models": {"siren": "TinySIREN"},
        "images": images, "target": target, "groups": groups,
        "reconstructions": {("siren", "shared"): (images * 0.9, psnr)},
    }  # fmt: skip
    results = {"settings": {"models": {"siren": {"paper_weight_transfer": True}}}}
    fig = _reconstruction_figure(data, results)
    assert fig.get_suptitle().startswith("Patient BraTS2021_00002, a typical patient")
    assert "radiological orientation" in fig.get_suptitle()
    original = fig.axes[0].images[0].get_array()
    # Its tumour slice (index 4), drawn as radiologists read it.
    np.testing.assert_array_equal(original, images[4].T)
    assert fig.axes[1].get_title().endswith("(all slices: median 20.0 dB)")


def _acdc_data():
    """Five patients of five groups, two slices each (ED, ES), one class each."""
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(10, 6, 6)).astype(np.float32)
    target = np.repeat(np.arange(5), 2)
    groups = np.repeat([f"patient{i:03d}" for i in range(1, 6)], 2)
    psnr = np.repeat([5.0, 50.0, 20.0, 35.0, 12.0], 2)
    figure_data = {
        "models": {"siren": "TinySIREN"},
        "images": images, "target": target, "groups": groups,
        "reconstructions": {("siren", "shared"): (images * 0.9, psnr)},
    }  # fmt: skip
    data = {
        "dataset": "acdc", "labels": [0, 1, 2, 3, 4],
        "class_names": ["NOR", "MINF", "DCM", "HCM", "RV"],
        "class_counts": [2] * 5, "display_order": [0, 1, 2, 3, 4],
        "slice": "a mid-ventricular short-axis cine MRI slice; two per patient",
        "slice_names": ["end-diastole (ED)", "end-systole (ES)"],
    }  # fmt: skip
    results = {
        "settings": {"models": {"siren": {"paper_weight_transfer": True}}},
        "data": data,
    }
    return figure_data, results


def test_acdc_reconstruction_figure_shows_ed_and_es_of_the_median_patient():
    figure_data, results = _acdc_data()
    fig = _reconstruction_figure(figure_data, results)
    title = fig.get_suptitle()
    assert title.startswith("Patient patient003, a typical patient")
    assert "a mid-ventricular short-axis cine MRI slice, drawn as stored" in title
    assert "radiological" not in title
    panels = fig.axes[:-1]
    assert [panels[0].get_ylabel(), panels[2].get_ylabel()] == [
        "end-diastole (ED)\n(DCM)",
        "end-systole (ES)\n(DCM)",
    ]
    # Drawn as stored (no radiological flip): patient003's ED slice, row 4.
    np.testing.assert_array_equal(
        panels[0].images[0].get_array(), figure_data["images"][4]
    )


def test_acdc_figures_draw_chance_at_the_majority_rate_and_name_the_groups():
    figure_data, results = _acdc_data()
    row = {"protocol": "pixel baseline", "model": "logistic regression",
           "conditions": {"images": {"n_correct": 3, "n_test": 10,
                                     "accuracy_ci": [0.1, 0.6]}}}  # fmt: skip
    fig = _accuracy_figure(figure_data, {**results, "scores": [row]})
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "chance level (0.20, guessing)" in legend
    theta = np.random.default_rng(0).normal(size=(10, 4))
    figure_data["weight_space"] = {
        ("siren", "shared", condition): weight_space_pca(theta, random_state=0)
        for condition in ("images", "noise")
    }
    fig = _weight_space_figure(figure_data, results)
    names = [t.get_text() for ax in fig.axes if ax.get_legend()
             for t in ax.get_legend().get_texts()]  # fmt: skip
    names += [t.get_text() for t in (fig.legends[0].get_texts() if fig.legends else [])]
    assert {"NOR", "MINF", "DCM", "HCM", "RV"} <= set(names)


def test_a_cnn_row_is_labelled_by_its_model():
    row = {"protocol": "pixel baseline", "model": "CNN"}
    assert _short_label(row, MODELS) == "pixels\nCNN"
