"""Settings of the reproduction: the paper's, CPU-sized ones and a tiny one.

Each preset holds its data sizes for BraTS at its top level, and under
``"datasets"`` what changes for the other datasets it supports (ACDC);
:func:`get_preset` applies them.
"""

from __future__ import annotations

import copy

__all__ = ["DATASET_NAMES", "PRESETS", "get_preset", "presets_for"]

# The paper's settings (Table I and section III-C of the seed paper). What the
# paper does not state is chosen here and marked "not stated" in the notes.
_PAPER = {
    "description": (
        "The paper's settings: 240 x 240 slices, 264,193-parameter INRs, "
        "1000 Adam steps, BCE-with-logits. Meant for a GPU."
    ),
    # Slices are loaded at this size (None: native 240 x 240).
    "image_size": None,
    # Patients taken from --data (--n-patients overrides it). The paper used
    # 50 (TinySIREN) and 75 (SmallMLP_INR) patients; one cohort of 75 serves
    # both models here.
    "n_patients": 75,
    # Shape of the synthetic cohort written when no --data is given.
    "cohort_shape": (240, 240, 155),
    "models": {
        "siren": {
            "name": "TinySIREN",
            "model": "siren",
            "hidden_features": 256,
            "hidden_layers": 4,
            "omega_0": 30.0,
            "loss": "bce",
            "lr": 1e-4,
            "n_steps": 1000,
            # The paper protocol of TinySIREN uses weight transfer by class.
            "paper_weight_transfer": True,
        },
        "relu": {
            "name": "SmallMLP_INR",
            "model": "relu",
            "hidden_features": 256,
            "hidden_layers": 4,
            "omega_0": 30.0,
            "loss": "bce",
            "lr": 1e-3,
            "n_steps": 1000,
            # The paper fitted SmallMLP_INR without weight transfer.
            "paper_weight_transfer": False,
        },
    },
    # The paper's classifier: fully connected, BCE-with-logits, Adam, 100
    # epochs. Its hidden size, learning rate and batch size are not stated:
    # one hidden layer of 256 (MLPClassifier's default), lr 1e-3 and batch 32
    # (Adam's and skorch's usual defaults) are our choice.
    "classifier": {
        "hidden_layer_sizes": (256,),
        "lr": 1e-3,
        "max_epochs": 100,
        "batch_size": 32,
    },
    # The paper's single random split: train, validation, test fractions.
    "split": (0.8, 0.1, 0.1),
    # The paper protocol's rows (its fits and single split).
    "paper_protocol": True,
    # The leak-free pipeline with weight transfer inside the training folds
    # (its training folds are refitted as chains: k chains per condition).
    "weight_transfer_pipeline": True,
    # Run the weight-transfer pipeline on the noise and permuted-label
    # controls too (k chains per model and control: the costliest part).
    "weight_transfer_pipeline_controls": True,
    # Torch threads during the run (None: leave torch's setting alone).
    "torch_threads": None,
    # One more leak-free row, not in the paper: INRFeaturizer(init="task"),
    # whose init is learned in each training fold and condition with a
    # classification loss in the loop, with both controls; a dict of its
    # meta-learning settings, or None: not run. Off here: its second-order
    # meta-learning through the paper's network on 240 x 240 slices needs
    # tens of GB per outer step, and every slice is refitted 15 times.
    "task_aware": None,
}

# CPU-sized, rebuilt on fitting to a fidelity. The leak-free rows classify
# INRs that represent the slices: their shared-init fits run to a PSNR
# target (``"leak_free"``: the lever is the learning rate, 1e-3 instead of the
# paper's 1e-4, and ``target_psnr``). The paper-protocol rows keep the paper's
# learning rates and a fixed step count on the same scaled network, so the
# leak of weight transfer shows as it does in the paper.
_CPU = copy.deepcopy(_PAPER)
_CPU.update(
    {
        "description": (
            "CPU-sized: 64 x 64 slices, 12,737-parameter SIRENs and ReLU MLPs "
            "(width 64, 3 hidden layers). Paper protocol: the paper's learning "
            "rates, loss and omega_0, 100 fixed steps. Leak-free pipeline: "
            "TinySIREN fitted to 38 dB (lr 2e-3, at most 200 steps)."
        ),
        "image_size": 64,
        "n_patients": 40,
        "cohort_shape": (96, 96, 60),
        # The weight-transfer pipeline's controls cost 4 x k chained fits;
        # the paper preset runs them.
        "weight_transfer_pipeline_controls": False,
        "torch_threads": None,
        # Its init is learned again in every fold and condition (15 times),
        # and every slice refitted from it: more than the 10-minute budget.
        "task_aware": None,
    }
)
# 100 fixed steps: with weight transfer the chain adds steps, as in the paper,
# and the paper protocol's five sets of fits (three for TinySIREN, two for
# SmallMLP_INR, whose permuted-label fits are its image fits) are half of
# the run's fitting time.
for _model in _CPU["models"].values():
    _model.update({"hidden_features": 64, "hidden_layers": 3, "n_steps": 100})
# lr 2e-3 reached 38 dB on 16 cohort slices in 79 steps on average (100 at
# most), lr 1e-3 in 169 (benchmarks/bench_preset.py). The cap
# bounds the noise fits, which never reach the target.
_CPU["models"]["siren"]["leak_free"] = {
    "lr": 2e-3,
    "n_steps": 200,
    "target_psnr": 38.0,
}
# A ReLU MLP on raw coordinates learns fine detail slowly (spectral bias): on
# 64 x 64 cohort slices, width 64, lr 1e-3, it reached a median of 30.3 dB
# (27.8 at worst) after 1,500 steps, 7 s per slice on 2 quiet cores
# (benchmarks/bench_preset.py): leak-free rows of it would classify INRs
# below the fidelity of the SIREN's, or take most of the time budget. It runs the paper
# protocol only here; the paper preset runs both protocols.
_CPU["models"]["relu"]["leak_free"] = None
_CPU["models"]["relu"]["leak_free_note"] = (
    "no leak-free rows in this preset: a ReLU MLP on raw coordinates reaches "
    "a median of 30 dB on these slices after 1,500 steps (spectral bias)"
)

# Full resolution on a CPU: the paper's 240 x 240 slices and 75 patients,
# leak-free rows only. On 8 such slices (benchmarks/bench_preset.py --size
# 240), a width-64 SIREN from the shared init at lr 2e-3 reached a median of
# 33.0 dB after 300 steps (10th percentile 26.4). From an init meta-learned
# by the recipe below (100 Reptile steps on 64 x 64 slices of 16 other
# patients) it reached a median of 35.2 dB in 108 steps on average (cap
# 200); 30 Reptile steps needed 119, 300 gave a worse init (33.0 dB at the
# cap), and lr 3e-3 a worse fit (32.1 dB); with checks at every step, six
# slices took 72 steps on average, and a calibration cohort loaded at 128 x
# 128 instead (its 100 Reptile steps: 244 s instead of 56) gave 70
# (2026-12-06). So the leak-free fits start from
# an init learned once, without labels, on a calibration cohort of other
# synthetic patients (another seed; never evaluated), and the rows that refit
# every slice many times (the paper protocol's chains and the weight-transfer
# pipeline's) are left to the cpu preset.
_CPU_240 = copy.deepcopy(_CPU)
# cpu-paper's step cap (defined below, used in its description too).
CPU_PAPER_CAP = 30
_CPU_240.update(
    {
        "description": (
            "CPU, full resolution: 240 x 240 slices of 75 patients, leak-free "
            "rows only. TinySIREN (width 64, 3 hidden layers) fitted to 35 dB "
            "(lr 1.5e-3, at most 120 steps, target checked every step, bfloat16 "
            "products) from an init "
            "meta-learned on 16 other synthetic patients. The paper protocol "
            "runs in the cpu preset."
        ),
        "image_size": None,
        "n_patients": 75,
        # 60 planes instead of 155: the slices are 240 x 240 all the same,
        # and the cohort is written 2.5 times faster.
        "cohort_shape": (240, 240, 60),
        "paper_protocol": False,
        "weight_transfer_pipeline": False,
        "weight_transfer_pipeline_controls": False,
    }
)
del _CPU_240["models"]["relu"]
_CPU_240["models"]["siren"]["leak_free"] = {
    # From the learned init, 12 cohort slices of 240 x 240 (checks at every
    # step, 120 at most): the 10 that reached 35 dB took 685 steps in all at
    # lr 1.5e-3, 702 at 1e-3 and 725 at 2e-3; at 3e-3, one of them did not.
    "lr": 1.5e-3,
    # Most slices reach 35 dB before the cap. The noise fits never do: at
    # the cap they were half of the fitting time, so they are given up on
    # once they cannot make it (stop_unreachable, from step 10), and the
    # target is checked at every step, where the slices stop.
    "n_steps": 120,
    "target_psnr": 35.0,
    "check_every": 1,
    "stop_unreachable": True,
    "precision": "bf16",
    # Learned without labels on a calibration cohort: patients of another
    # seed (the run's seed + CALIBRATION_SEED_OFFSET), never evaluated.
    "learned_init": {
        "n_patients": 16,
        "cohort_shape": (240, 240, 60),
        "image_size": 64,
        "meta_steps": 100,
        "inner_steps": 10,
        "meta_batch_size": 8,
    },
}

# The paper's own network at the paper's resolution on a CPU: TinySIREN
# unchanged (4 x 256, omega_0 = 30, 264,193 parameters) on the 240 x 240
# slices of 75 patients, leak-free rows only, as cpu-240: Adam in bfloat16
# products (0.36 s per 240 x 240 step on 2 cores, 2.4x float32), to 35 dB,
# from an init meta-learned without labels on 64 x 64 slices of 16
# calibration patients (50 Reptile steps: about 3.5 minutes). From that init,
# four 240 x 240 cohort slices reached 35 dB in 18-27 steps at lr 3e-4 with
# the target checked at every step (30 with checks every 10 steps), 17-26 at
# 2e-4, 22-25 at 4e-4; 100 Reptile steps instead of 50 did no better (19-25).
# The noise controls, half of the fits, never reach 35 dB: at 30 steps they
# stand near 12 dB, gaining 0.07 dB a step, so stop_unreachable gives them up
# (from step 10) instead of running them to the cap.
# K-FAC is not used: from a learned init it lost to Adam, and from the
# shared init at 240 x 240 it did not reach 30 dB in 150 steps
# (benchmarks/bench_quality.py; the performance guide).
# The classifier is the paper's (one hidden layer of 256) trained for 50
# epochs instead of 100: its first layer has 67.6 million weights, and 100
# epochs of 15 fits (5 folds x the slices and the two controls) took 28
# minutes of the hour.
_CPU_PAPER = copy.deepcopy(_CPU_240)
_CPU_PAPER["description"] = (
    "CPU, the paper's network at the paper's resolution: TinySIREN unchanged "
    "(4 x 256, omega_0 = 30, 264,193 parameters) on 240 x 240 slices of 75 "
    "patients, leak-free rows only, fitted to 35 dB (Adam, lr 3e-4, at most "
    f"{CPU_PAPER_CAP} steps, target checked every step, bfloat16 products) "
    "from an init meta-learned on 16 other synthetic patients; the classifier "
    "trains for 50 epochs."
)
_CPU_PAPER["models"]["siren"].update(
    {"hidden_features": 256, "hidden_layers": 4, "lr": 1e-4}
)
# cpu-240's recipe (deep-copied above: checks at every step, noise fits given
# up on) with half the Reptile steps: each costs 19 times the width-64 one.
_CPU_PAPER["models"]["siren"]["leak_free"].update(
    {"lr": 3e-4, "n_steps": CPU_PAPER_CAP}
)
_CPU_PAPER["models"]["siren"]["leak_free"]["learned_init"]["meta_steps"] = 50
_CPU_PAPER["classifier"] = {**_CPU_PAPER["classifier"], "max_epochs": 50}

# For tests and smoke runs only: seconds, and the numbers mean nothing.
_TINY = copy.deepcopy(_CPU)
_TINY.update(
    {
        "description": "Smoke test only (numbers are meaningless): tiny nets.",
        "image_size": 12,
        "n_patients": 10,
        "cohort_shape": (32, 32, 12),
        "classifier": {
            "hidden_layer_sizes": (8,),
            "lr": 1e-3,
            "max_epochs": 3,
            "batch_size": 8,
        },
        "weight_transfer_pipeline_controls": True,
        "task_aware": {"meta_steps": 2, "inner_steps": 2, "meta_batch_size": 4},
    }
)
for _model in _TINY["models"].values():
    _model.update({"hidden_features": 8, "hidden_layers": 1, "n_steps": 5})
    _model.pop("leak_free_note", None)
# Both protocols for both models; TinySIREN's leak-free fits exercise the
# overrides (a fidelity that these nets never reach: the cap stops them).
_TINY["models"]["siren"]["leak_free"] = {"lr": 1e-3, "n_steps": 8, "target_psnr": 60.0}
_TINY["models"]["relu"]["leak_free"] = {}

# ACDC (``--dataset acdc``): the data sizes, per preset. Every patient gives
# two slices (ED and ES, one mid-ventricular level), labelled with one of five
# groups; the synthetic cohort (make_acdc_like) puts patient i in group i % 5,
# so 50 patients are 10 per group, as many slices as BraTS's 50 patients. Its
# frames are (x, y, z) = cohort_shape over a 250 x 250 x 100 mm field of view.
_PAPER["datasets"] = {
    "acdc": {
        "description": (
            "The paper's settings on ACDC: 240 x 240 short-axis slices (ED and "
            "ES of 100 patients, ACDC's training set: 20 per group), "
            "264,193-parameter INRs, 1000 Adam steps, BCE-with-logits. Meant "
            "for a GPU."
        ),
        # Real ACDC stacks differ in size: the slices are always resized.
        "image_size": 240,
        "n_patients": 100,
        "cohort_shape": (240, 240, 10),
    }
}
_CPU["datasets"] = {
    "acdc": {
        "description": (
            "CPU-sized, on ACDC: 64 x 64 short-axis slices (ED and ES of 50 "
            "patients, 10 per group), 12,737-parameter SIRENs and ReLU MLPs "
            "(width 64, 3 hidden layers). Paper protocol: the paper's learning "
            "rates, loss and omega_0, 100 fixed steps. Leak-free pipeline: "
            "TinySIREN fitted to 38 dB (lr 2e-3, at most 200 steps)."
        ),
        "image_size": 64,
        "n_patients": 50,
        # make_acdc_like's default: 2.6 mm pixels, 10 mm slices.
        "cohort_shape": (96, 96, 10),
    }
}
# The CNN pixel baseline (ConvNetClassifier, see experiments/_cnn_stage.py):
# the estimator's defaults (60 epochs, sized for 64 x 64 slices: 15 fits in
# about 45 s on 2 cores) for the paper and cpu presets. A 240 x 240 slice
# costs 14 times a 64 x 64 one per epoch, so cpu-240 trains half the epochs
# (about 9 minutes of its run by the plan's estimate, instead of 18); tiny
# trains a token network.
_PAPER["cnn_baseline"] = {}
_CPU["cnn_baseline"] = {}
# Both 240 x 240 presets run it with bfloat16 convolutions: its 15 fits
# took 140 s instead of 191 on 2 cores (0.81 against 0.83 accuracy, ROC AUC
# 0.93 both, on cpu-240's cached run; benchmarks/bench_convnet.py).
_CPU_240["cnn_baseline"] = {"max_epochs": 30, "precision": "bf16"}
_CPU_PAPER["cnn_baseline"] = dict(_CPU_240["cnn_baseline"])
_TINY["cnn_baseline"] = {"channels": (4, 8), "max_epochs": 2, "batch_size": 8}

# Theta compressed by PCA (the paper's future work, experiments/_pca_stage.py):
# the shared-init theta of the grouped CV (all cached: classifier fits only),
# standardised and projected on 16 principal components fitted in each
# training fold. 16 kept theta's accuracy on the cohort and on digits
# (benchmarks/bench_compression.py).
for _preset in (_PAPER, _CPU, _CPU_240, _CPU_PAPER, _TINY):
    _preset["theta_pca"] = {"n_components": 16}

# Full resolution and a learned init on BraTS calibration slices: BraTS only.
_CPU_240["datasets"] = {}
_CPU_PAPER["datasets"] = {}
_TINY["datasets"] = {
    "acdc": {
        "description": "Smoke test only (numbers are meaningless): tiny nets, ACDC.",
        "image_size": 12,
        "n_patients": 10,
        "cohort_shape": (32, 32, 6),
    }
}

#: The datasets a preset can run on: BraTS always, others where the preset's
#: ``"datasets"`` entry has their sizes.
DATASET_NAMES = ("brats", "acdc")

#: Named settings for :func:`run_reproduction` and ``sklearn-inr reproduce
#: --preset``: ``"paper"`` (the paper's, for a GPU), ``"cpu"`` (minutes on 2
#: cores), ``"cpu-240"`` (full resolution, leak-free rows, a width-64
#: TinySIREN), ``"cpu-paper"`` (the same rows with the paper's own
#: TinySIREN; 52 minutes on 2 cores) and ``"tiny"`` (tests and smoke
#: runs; meaningless numbers).
PRESETS: dict[str, dict] = {
    "paper": _PAPER,
    "cpu": _CPU,
    "cpu-240": _CPU_240,
    "cpu-paper": _CPU_PAPER,
    "tiny": _TINY,
}


def presets_for(dataset: str) -> list[str]:
    """The names of the presets that run on ``dataset``, sorted.

    Parameters
    ----------
    dataset : {"brats", "acdc"}

    Returns
    -------
    names : list of str

    Examples
    --------
    >>> from sklearn_inr.experiments import presets_for
    >>> presets_for("acdc")
    ['cpu', 'paper', 'tiny']
    """
    return sorted(
        name
        for name, preset in PRESETS.items()
        if dataset == "brats" or dataset in preset.get("datasets", {})
    )


def get_preset(name: str, dataset: str = "brats") -> dict:
    """A deep copy of the preset ``name`` for ``dataset``, safe to modify.

    Parameters
    ----------
    name : {"paper", "cpu", "cpu-240", "cpu-paper", "tiny"}
    dataset : {"brats", "acdc"}, default="brats"
        The data the run loads: the preset's own sizes for BraTS, those of
        its ``"datasets"`` entry otherwise (``image_size``, ``n_patients``,
        ``cohort_shape``, ``description``). The result's ``"dataset"`` says
        which.

    Returns
    -------
    settings : dict

    Raises
    ------
    ValueError
        For an unknown preset or dataset, or a preset without sizes for
        ``dataset`` (``"cpu-240"`` and ``"cpu-paper"`` are BraTS only); the
        message lists those
        that have them.

    Examples
    --------
    >>> from sklearn_inr.experiments import get_preset
    >>> get_preset("paper")["models"]["siren"]["n_steps"]
    1000
    >>> acdc = get_preset("cpu", "acdc")
    >>> acdc["n_patients"], acdc["image_size"], acdc["dataset"]
    (50, 64, 'acdc')
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
    if dataset not in DATASET_NAMES:
        raise ValueError(
            f"Unknown dataset {dataset!r}; choose one of {list(DATASET_NAMES)}."
        )
    settings = copy.deepcopy(PRESETS[name])
    datasets = settings.pop("datasets", {})
    if dataset != "brats":
        if dataset not in datasets:
            raise ValueError(
                f"The preset {name!r} has no settings for dataset {dataset!r}; "
                f"choose one of {presets_for(dataset)} for it."
            )
        settings.update(datasets[dataset])
    settings["dataset"] = dataset
    settings["preset"] = name
    return settings
