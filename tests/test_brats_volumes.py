import shutil

import nibabel as nib
import numpy as np
import pytest

from sklearn_inr.datasets import (
    load_brats_slices,
    load_brats_volumes,
    make_brats_like,
)
from sklearn_inr.datasets._brats_volumes import resize_volume

SHAPE = (24, 24, 16)  # (x, y, z) on disk
IDS = [f"BraTS2021_{i:05d}" for i in range(4)]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_brats_like(tmp_path_factory.mktemp("vol"), n_patients=4, shape=SHAPE)


@pytest.fixture
def small(tmp_path):
    """A fresh 2-patient cohort each test may break."""
    return make_brats_like(tmp_path / "root", n_patients=2, shape=SHAPE)


def _read(root, case, kind):
    img = nib.load(root / case / f"{case}_{kind}.nii.gz")
    return np.asanyarray(img.dataobj), img.header.get_zooms()


# --- shapes, dtype, range -------------------------------------------------------


def test_one_modality_shapes_dtype_range(cohort):
    data = load_brats_volumes(cohort, size=(8, 12, 10))
    assert data.images.shape == (4, 8, 12, 10)
    assert data.images.dtype == np.float32
    assert data.images.min() == 0 and 0.5 < data.images.max() <= 1
    np.testing.assert_array_equal(data.patient_id, IDS)
    np.testing.assert_array_equal(data.groups, IDS)
    assert data.target.shape == (4,) and data.modality == ["flair"]
    assert data.skipped == {}
    assert "load_brats_volumes" in data.DESCR and "above 0.02" in data.DESCR


def test_all_modalities_give_four_channels_in_order(cohort):
    data = load_brats_volumes(cohort, modality="all", size=6)
    assert data.images.shape == (4, 6, 6, 6, 4)
    assert data.modality == ["flair", "t1", "t1ce", "t2"]
    # Channels in the order asked, each the one-modality load.
    pair = load_brats_volumes(cohort, modality=["t2", "flair"], size=6).images
    t2 = load_brats_volumes(cohort, modality="t2", size=6).images
    np.testing.assert_array_equal(pair[..., 0], t2)
    np.testing.assert_array_equal(pair[..., 1], data.images[..., 0])
    assert not np.array_equal(pair[..., 0], pair[..., 1])


def test_return_X_y_and_n_patients(cohort):
    X, y = load_brats_volumes(cohort, size=6, n_patients=2, return_X_y=True)
    assert X.shape == (2, 6, 6, 6)
    full = load_brats_volumes(cohort, size=6)
    np.testing.assert_array_equal(X, full.images[:2])
    np.testing.assert_array_equal(y, full.target[:2])


# --- orientation ----------------------------------------------------------------


@pytest.mark.parametrize("modality", ["flair", ["t1ce", "t2"]])
def test_axial_slices_match_the_slice_loader(cohort, modality):
    vols = load_brats_volumes(cohort, modality=modality, size=None)
    assert vols.images.shape[1:4] == (SHAPE[2], SHAPE[0], SHAPE[1])  # z, x, y
    slices = load_brats_slices(cohort, modality=modality, normalize="volume")
    assert len(slices.images) >= 4
    for image, pid, z in zip(slices.images, slices.patient_id, slices.slice_index):
        i = list(vols.patient_id).index(pid)
        np.testing.assert_array_equal(vols.images[i, z], image)


def test_resize_is_antialiased_along_z_and_identity_at_size():
    rng = np.random.default_rng(0)
    volume = rng.random((16, 12, 10, 2), dtype=np.float32)
    np.testing.assert_array_equal(resize_volume(volume, (16, 12, 10)), volume)
    # Constant along z: any z size keeps each slice's in-plane values.
    flat = np.repeat(volume[:1], 16, axis=0)
    out = resize_volume(flat, (5, 12, 10))
    np.testing.assert_allclose(out, np.repeat(flat[:1], 5, axis=0), atol=1e-6)
    # Anti-aliased: 16 -> 2 slices averages 8 slices each, so noise shrinks
    # (sampling two slices would keep its spread).
    out = resize_volume(volume, (2, 12, 10))
    assert out.std() < 0.5 * volume.std()


# --- labels ---------------------------------------------------------------------


def test_label_rule_from_the_seg(cohort):
    data = load_brats_volumes(cohort, modality=["flair", "t2"], size=6)
    for i, pid in enumerate(IDS):
        seg, zooms = _read(cohort, pid, "seg")
        brain = (seg != 0) | (_read(cohort, pid, "flair")[0] != 0)
        brain |= _read(cohort, pid, "t2")[0] != 0
        fraction = np.count_nonzero(seg) / np.count_nonzero(brain)
        assert data.tumor_fraction[i] == pytest.approx(fraction)
        ml = np.count_nonzero(seg) * np.prod(zooms, dtype=np.float64) / 1000
        assert data.tumor_volume_ml[i] == pytest.approx(ml)
        assert data.brain_volume_ml[i] > 1000  # an adult brain, in ml
    np.testing.assert_array_equal(data.target, data.tumor_fraction > 0.02)
    assert list(data.target_names) == ["small tumour", "large tumour"]
    # The cut moves the labels; the fractions do not depend on size.
    cut = float(np.median(data.tumor_fraction))
    other = load_brats_volumes(cohort, modality=["flair", "t2"], size=4, threshold=cut)
    np.testing.assert_array_equal(other.tumor_fraction, data.tumor_fraction)
    np.testing.assert_array_equal(other.target, data.tumor_fraction > cut)
    assert other.target.sum() == 2
    assert load_brats_volumes(cohort, size=4, threshold=0).target.all()


def test_labels_from_a_mapping_and_a_csv(cohort, tmp_path):
    table = {"BraTS2021_00000": "LGG", "BraTS2021_00001": "HGG"}
    table |= {"BraTS2021_00002": "HGG", "BraTS2021_00003": "LGG", "other": "x"}
    data = load_brats_volumes(cohort, size=4, labels=table)
    np.testing.assert_array_equal(data.target, ["LGG", "HGG", "HGG", "LGG"])
    assert list(data.target_names) == ["HGG", "LGG"]
    assert "labels mapping" in data.DESCR

    path = tmp_path / "labels.csv"
    # A BOM, an extra column, spaces and CRLF, as spreadsheets write them.
    rows = ["\ufeffpatient_id, site ,label"]
    rows += [f"{pid},a, {i % 2}" for i, pid in enumerate(IDS)]
    path.write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
    data = load_brats_volumes(cohort, size=4, labels=path)
    assert data.target.dtype == np.int64
    np.testing.assert_array_equal(data.target, [0, 1, 0, 1])
    assert str(path) in data.DESCR


def test_patient_missing_from_the_table(cohort):
    table = {pid: 1 for pid in IDS if pid != "BraTS2021_00002"}
    with pytest.raises(ValueError, match="BraTS2021_00002 has no label in the"):
        load_brats_volumes(cohort, size=4, labels=table)
    with pytest.warns(UserWarning, match="Skipping patient BraTS2021_00002"):
        data = load_brats_volumes(cohort, size=4, labels=table, on_error="skip")
    assert list(data.patient_id) == [p for p in IDS if p != "BraTS2021_00002"]
    assert "1 of the 4 patients" in data.skipped["BraTS2021_00002"]


@pytest.mark.parametrize(
    "text, match",
    [
        ("id,label\nBraTS2021_00000,1\n", "needs a header line"),
        ("patient_id,label\nBraTS2021_00000,\n", "line 2: empty"),
        ("patient_id,label\nBraTS2021_00000,1\nBraTS2021_00000,0\n", "twice"),
        ("patient_id,label\n", "no rows"),
    ],
)
def test_bad_labels_csv(cohort, tmp_path, text, match):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_brats_volumes(cohort, size=4, labels=path)


def test_labels_file_missing_or_wrong_type(cohort, tmp_path):
    with pytest.raises(FileNotFoundError, match="patient_id,label"):
        load_brats_volumes(cohort, labels=tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="labels must be None, a mapping"):
        load_brats_volumes(cohort, labels=[("BraTS2021_00000", 1)])


# --- errors ---------------------------------------------------------------------


def test_missing_modality_file_raises_or_skips(small):
    (small / "BraTS2021_00001" / "BraTS2021_00001_t2.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="Missing t2 file for patient Br"):
        load_brats_volumes(small, modality="all", size=4)
    with pytest.warns(UserWarning, match="Skipping patient BraTS2021_00001"):
        data = load_brats_volumes(small, modality="all", size=4, on_error="skip")
    assert list(data.patient_id) == ["BraTS2021_00000"]
    assert "Missing t2 file" in data.skipped["BraTS2021_00001"]
    # FLAIR alone does not need the t2 file.
    assert len(load_brats_volumes(small, size=4).images) == 2


def test_native_shapes_must_agree_without_size(small, tmp_path):
    other = make_brats_like(tmp_path / "other", n_patients=3, shape=(24, 24, 12))
    shutil.copytree(other / "BraTS2021_00002", small / "BraTS2021_00002")
    with pytest.raises(ValueError, match=r"pass size=\(D, H, W\)"):
        load_brats_volumes(small, size=None)
    assert load_brats_volumes(small, size=8).images.shape == (3, 8, 8, 8)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"modality": "dwi"}, 'modality must be one of .* "all"'),
        ({"modality": ["flair", "flair"]}, "distinct"),
        ({"modality": []}, "modality"),
        ({"size": 0}, "size"),
        ({"size": (8, 8)}, r"triple \(D, H, W\)"),
        ({"size": "big"}, "size"),
        ({"n_patients": 0}, "n_patients"),
        ({"threshold": 1.5}, "threshold"),
        ({"percentiles": (99, 1)}, "percentiles"),
        ({"on_error": "ignore"}, "on_error"),
    ],
)
def test_bad_parameters(small, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_brats_volumes(small, **kwargs)
