"""make_acdc_like and its parametric heart: layout, anatomy per group, labels."""

import nibabel as nib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_inr.datasets import _heart, load_acdc, make_acdc_like
from sklearn_inr.datasets._acdc_synthetic import GROUPS, sample_hearts


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    # The default shape, 5 patients per group, few frames to keep it quick.
    return make_acdc_like(tmp_path_factory.mktemp("heart"), n_patients=25, n_frames=4)


def _measure(root):
    """Per patient, from the written _gt files: group and ACDC's indices."""
    rows = {}
    for folder in sorted(root.iterdir()):
        info = dict(
            line.split(": ") for line in (folder / "Info.cfg").read_text().splitlines()
        )
        bsa = np.sqrt(float(info["Height"]) * float(info["Weight"]) / 3600)
        gt = {}
        for phase in ("ED", "ES"):
            img = nib.load(
                folder / f"{folder.name}_frame{int(info[phase]):02d}_gt.nii.gz"
            )
            gt[phase] = np.asanyarray(img.dataobj)
        dx, _, dz = img.header.get_zooms()
        ml = dx * dx * dz / 1000
        ed, es = gt["ED"], gt["ES"]
        zs = np.flatnonzero((ed == 3).any(axis=(0, 1)))
        mid = ed[:, :, (zs[0] + zs[-1]) // 2]
        cavity, wall = (mid == 3).sum() * dx**2, (mid == 2).sum() * dx**2
        rows[folder.name] = {
            "group": info["Group"],
            "lv_edvi": (ed == 3).sum() * ml / bsa,
            "lv_ef": 100 * (1 - (es == 3).sum() / (ed == 3).sum()),
            # Mean wall thickness of the mid slice, as an equivalent annulus.
            "wall": np.sqrt((cavity + wall) / np.pi) - np.sqrt(cavity / np.pi),
            "rv_edvi": (ed == 1).sum() * ml / bsa,
            "rv_ef": 100 * (1 - (es == 1).sum() / (ed == 1).sum()),
        }
    return rows


@pytest.fixture(scope="module")
def measured(cohort):
    return _measure(cohort)


def _by_group(measured, key):
    return {
        g: np.array([r[key] for r in measured.values() if r["group"] == g])
        for g in GROUPS
    }


def test_layout_and_info(cohort):
    folder = cohort / "patient003"
    names = sorted(p.name for p in folder.iterdir())
    info = dict(
        line.split(": ") for line in (folder / "Info.cfg").read_text().splitlines()
    )
    assert set(info) == {"ED", "ES", "Group", "Height", "NbFrame", "Weight"}
    assert info["Group"] == "DCM" and info["ED"] == "1" and info["NbFrame"] == "4"
    es = int(info["ES"])
    assert names == sorted(
        ["Info.cfg", "patient003_4d.nii.gz", "patient003_frame01.nii.gz",
         "patient003_frame01_gt.nii.gz", f"patient003_frame{es:02d}.nii.gz",
         f"patient003_frame{es:02d}_gt.nii.gz"]
    )  # fmt: skip
    cine = nib.load(folder / "patient003_4d.nii.gz")
    assert cine.shape == (96, 96, 10, 4) and cine.get_data_dtype() == np.int16
    frame = np.asanyarray(nib.load(folder / f"patient003_frame{es:02d}.nii.gz").dataobj)
    np.testing.assert_array_equal(np.asanyarray(cine.dataobj)[..., es - 1], frame)
    gt = nib.load(folder / "patient003_frame01_gt.nii.gz")
    assert gt.get_data_dtype() == np.uint8
    assert set(np.unique(np.asanyarray(gt.dataobj))) == {0, 1, 2, 3}
    np.testing.assert_allclose(gt.header.get_zooms(), (250 / 96, 250 / 96, 10.0))


def test_groups_are_balanced_and_the_seed_is_per_patient(tmp_path, cohort):
    groups = [
        dict(line.split(": ") for line in (p / "Info.cfg").read_text().splitlines())[
            "Group"
        ]
        for p in sorted(cohort.iterdir())
    ]
    assert groups == list(GROUPS) * 5
    small = make_acdc_like(tmp_path, n_patients=2, n_frames=4)
    for name in ("patient002_frame01.nii.gz", "patient002_4d.nii.gz", "Info.cfg"):
        assert (small / "patient002" / name).read_bytes() == (
            cohort / "patient002" / name
        ).read_bytes()


def test_group_definitions_hold_in_the_written_masks(measured):
    edvi, ef = _by_group(measured, "lv_edvi"), _by_group(measured, "lv_ef")
    wall = _by_group(measured, "wall")
    rv_edvi, rv_ef = _by_group(measured, "rv_edvi"), _by_group(measured, "rv_ef")
    # DCM: LV EDVi > 100 mL/m2 and LVEF < 40 %, larger than every NOR.
    assert edvi["DCM"].min() > 100 and edvi["DCM"].min() > edvi["NOR"].max()
    assert ef["DCM"].max() < 40 and ef["MINF"].max() < 40
    # HCM: thick walls (the mean of the mid slice; the septum is thicker still)
    # and a normal EF.
    assert wall["HCM"].min() > wall["NOR"].max() + 3 and wall["HCM"].mean() > 12
    assert ef["HCM"].min() > 55
    # RV: RV EDVi > 110 mL/m2 or RVEF < 40 %, and a larger RV than NOR.
    assert np.all((rv_edvi["RV"] > 110) | (rv_ef["RV"] < 40))
    assert rv_edvi["RV"].min() > rv_edvi["NOR"].max()
    # NOR inside the adult reference ranges.
    assert np.all((edvi["NOR"] > 50) & (edvi["NOR"] < 95) & (ef["NOR"] > 52))
    assert np.all((wall["NOR"] > 5) & (wall["NOR"] < 12) & (rv_ef["NOR"] > 45))


@pytest.mark.parametrize("group", GROUPS)
def test_solved_hearts_hold_their_volumes(group):
    rng = np.random.default_rng(3)
    _, ed, es = sample_hearts(rng, group)
    myo = [
        _heart.epi_volume(f["a"], f["t"], f["c"], f["t_apex"])
        - _heart.lv_volume(f["a"], f["c"])
        for f in (ed, es)
    ]
    np.testing.assert_allclose(myo[1], myo[0], rtol=1e-9)  # mass is conserved
    assert _heart.lv_volume(es["a"], es["c"]) < _heart.lv_volume(ed["a"], ed["c"])
    if group == "MINF":  # the infarct does not move in systole
        still = np.isclose(es["a"], ed["a"])
        assert 0.1 < still.mean() < 0.5
    assert es["h"] < ed["h"] and es["descent"] > 0


def test_labels_come_from_the_anatomy(cohort, measured):
    """Anatomical indices separate the groups, from the masks or the images."""
    y = np.array([GROUPS.index(r["group"]) for r in measured.values()])
    keys = ["lv_edvi", "lv_ef", "wall", "rv_edvi", "rv_ef"]
    features = np.array([[r[k] for k in keys] for r in measured.values()])
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    assert cross_val_score(model, features, y, cv=cv).mean() >= 0.8
    # From the images alone: bright-blood volume at ED and ES, its ejection
    # fraction, and the same on the middle slice (one row per patient).
    data = load_acdc(cohort, as_volumes=True)
    np.testing.assert_array_equal(data.target[::2], y)
    blood = (data.images > 0.6).sum(axis=(2, 3)).reshape(len(y), 2, -1)
    whole, mid = blood.sum(axis=2), blood[:, :, data.images.shape[1] // 2]
    features = np.c_[
        whole, mid, 1 - whole[:, 1] / whole[:, 0], 1 - mid[:, 1] / mid[:, 0]
    ]
    assert cross_val_score(model, features, y, cv=cv).mean() >= 0.6  # chance: 0.2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_patients": 0}, "n_patients must be"),
        ({"shape": (8, 96, 10)}, "shape must be three ints"),
        ({"shape": (96, 96)}, "shape must be three ints"),
        ({"n_frames": 2}, "n_frames must be"),
    ],
)
def test_make_acdc_like_checks_its_parameters(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_acdc_like(tmp_path, **kwargs)


def test_cycle_runs_from_ed_to_es_and_back():
    f = _heart.cycle(10, 1, 4)
    assert (
        f[0] == 0
        and f[3] == 1
        and np.all(np.diff(f[:4]) > 0)
        and np.all(np.diff(f[3:]) < 0)
    )
