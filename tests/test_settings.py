"""The presets (experiments/_settings.py): data that the stages read."""

import pytest

from sklearn_inr.experiments import PRESETS, get_preset, plan, presets_for
from sklearn_inr.experiments._protocols import fit_params, inr_spec

# Keys read outside the stages: the command line sizes the cohort from these,
# the run sets its threads, the report describes the preset and the
# models it leaves out.
CLI_KEYS = {"description", "image_size", "n_patients", "cohort_shape"}
# The run reads it for the report (run_reproduction(dataset=None)).
DATA_KEYS = {"dataset"}
RUN_KEYS = {"torch_threads"}
REPORT_MODEL_KEYS = {"leak_free_note"}


class _Recording(dict):
    """A dict that records the keys read from it (and from its sub-dicts)."""

    def __init__(self, data, read, path=()):
        super().__init__(
            {
                k: _Recording(v, read, (*path, k))
                if isinstance(v, dict) and k != "leak_free"
                else v
                for k, v in data.items()
            }  # fmt: skip
        )
        self._read, self._path = read, path

    def __getitem__(self, key):
        self._read.add((*self._path, key))
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._read.add((*self._path, key))
        return super().get(key, default)


def _keys_read(settings) -> set:
    read = set()
    plan(_Recording(settings, read), 20, (16, 16), n_splits=2)
    return read


def test_the_stages_read_every_key_of_every_preset():
    # A key that no stage reads is a setting that silently does nothing (a
    # typo such as "weight_transfer_pipline", or a stage that forgot it). A
    # key may be read only when another enables it (the weight-transfer
    # pipeline's controls), so what the stages read is pooled over presets.
    read = set().union(*(_keys_read(get_preset(name)) for name in PRESETS))
    top = {path[0] for path in read} | CLI_KEYS | RUN_KEYS | DATA_KEYS
    entry_keys = {path[2] for path in read if path[0] == "models" and len(path) == 3}
    for name in PRESETS:
        settings = get_preset(name)
        assert set(settings) - {"preset"} <= top, name
        for model, entry in settings["models"].items():
            assert set(entry) <= entry_keys | REPORT_MODEL_KEYS, (name, model)
    # A preset key that nothing reads is caught.
    settings = get_preset("tiny")
    settings["weight_transfer_pipline"] = False
    settings["models"]["siren"]["n_step"] = 3
    read = _keys_read(settings)
    assert "weight_transfer_pipline" not in {path[0] for path in read}
    assert ("models", "siren", "n_step") not in read
    # ... and one that a stage reads is seen (the stages do read the preset).
    assert ("weight_transfer_pipeline_controls",) in read
    assert ("models", "siren", "paper_weight_transfer") in read


def test_get_preset_returns_an_independent_copy():
    settings = get_preset("cpu")
    settings["models"]["siren"]["n_steps"] = 1
    settings["models"]["siren"]["leak_free"]["lr"] = 1.0
    settings["classifier"]["hidden_layer_sizes"] = (1,)
    assert PRESETS["cpu"]["models"]["siren"]["n_steps"] != 1
    assert PRESETS["cpu"]["models"]["siren"]["leak_free"]["lr"] != 1.0
    # Two calls never share a mutable part.
    other = get_preset("cpu")
    assert other["models"]["siren"]["n_steps"] == 100
    assert (
        other["models"]["siren"]["leak_free"]
        is not (get_preset("cpu")["models"]["siren"]["leak_free"])
    )
    assert settings["preset"] == "cpu" and "preset" not in PRESETS["cpu"]
    with pytest.raises(ValueError, match="Unknown preset 'gpu'"):
        get_preset("gpu")


def test_presets_derive_from_the_papers_and_differ_where_they_say():
    paper, cpu, cpu_240 = (get_preset(n) for n in ("paper", "cpu", "cpu-240"))
    # The cpu presets scale the network, not the paper protocol's lr or loss.
    for model in cpu["models"]:
        for key in ("lr", "loss", "omega_0", "paper_weight_transfer"):
            assert cpu["models"][model][key] == paper["models"][model][key]
    assert cpu["models"]["siren"]["hidden_features"] == 64
    assert paper["models"]["siren"]["hidden_features"] == 256
    assert set(cpu_240["models"]) == {"siren"}
    assert cpu_240["paper_protocol"] is False
    recipe = cpu_240["models"]["siren"]["leak_free"]["learned_init"]
    assert recipe["meta_steps"] == 100 and recipe["image_size"] == 64


def test_cpu_paper_fits_the_papers_own_network_at_240_leak_free_only():
    cpu_paper, cpu_240 = get_preset("cpu-paper"), get_preset("cpu-240")
    siren = cpu_paper["models"]["siren"]
    assert inr_spec(siren).n_params == 264_193  # the paper's TinySIREN
    assert siren["omega_0"] == 30.0 and cpu_paper["image_size"] is None
    assert cpu_paper["n_patients"] == 75
    for key in ("paper_protocol", "weight_transfer_pipeline", "cnn_baseline"):
        assert cpu_paper[key] == cpu_240[key], key
    params = fit_params(siren, "leak-free")
    assert params["target_psnr"] == 35.0 and params["precision"] == "bf16"
    assert params["optimizer"] == "adam"
    assert f"at most {params['n_steps']} steps" in cpu_paper["description"]
    assert siren["leak_free"]["learned_init"]["image_size"] == 64
    assert presets_for("acdc") == ["cpu", "paper", "tiny"]


def test_cpu_presets_fit_leak_free_inrs_to_a_fidelity():
    """The cpu preset's leak-free fits stop at a PSNR; the paper's don't."""
    siren = get_preset("cpu")["models"]["siren"]
    assert siren["leak_free"]["target_psnr"] >= 35.0
    assert siren["lr"] == PRESETS["paper"]["models"]["siren"]["lr"]
    assert all(
        model.get("leak_free", {}) == {}
        for model in get_preset("paper")["models"].values()
    )


def test_presets_carry_their_acdc_sizes_explicitly():
    acdc = get_preset("cpu", "acdc")
    cpu = get_preset("cpu")
    # Only the data change: the nets, protocols and classifier are the preset's.
    for key in ("models", "classifier", "split", "paper_protocol"):
        assert acdc[key] == cpu[key], key
    assert (acdc["n_patients"], acdc["image_size"]) == (50, 64)
    assert acdc["cohort_shape"] == (96, 96, 10)
    assert (acdc["dataset"], cpu["dataset"]) == ("acdc", "brats")
    assert "ACDC" in acdc["description"] and "datasets" not in acdc
    for name in ("paper", "tiny"):
        settings = get_preset(name, "acdc")
        # Real ACDC stacks differ in size: every preset resizes its slices.
        assert settings["image_size"] is not None
        assert settings["n_patients"] % 5 == 0  # balanced groups, i % 5
    assert PRESETS["cpu"]["datasets"]["acdc"]["n_patients"] == 50


def test_a_preset_without_a_dataset_says_which_presets_have_it():
    with pytest.raises(ValueError, match=r"choose one of \['cpu', 'paper', 'tiny'\]"):
        get_preset("cpu-240", "acdc")
    with pytest.raises(ValueError, match=r"Unknown dataset 'mnist'; choose one of"):
        get_preset("cpu", "mnist")
