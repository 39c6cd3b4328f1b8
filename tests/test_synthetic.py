import nibabel as nib
import numpy as np
import pytest

from sklearn_inr.datasets import make_brats_like

SHAPE = (64, 64, 40)
KINDS = ("flair", "t1", "t1ce", "t2", "seg")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_brats_like(tmp_path_factory.mktemp("cohort"), n_patients=6, shape=SHAPE)


def _load(root, case, kind):
    return np.asanyarray(nib.load(root / case / f"{case}_{kind}.nii.gz").dataobj)


def test_layout_names_byte_for_byte(tmp_path):
    root = make_brats_like(tmp_path / "out", n_patients=2, shape=(32, 32, 16))
    assert root == tmp_path / "out"
    assert sorted(p.name for p in root.iterdir()) == [
        "BraTS2021_00000",
        "BraTS2021_00001",
    ]
    assert sorted(p.name for p in (root / "BraTS2021_00001").iterdir()) == [
        "BraTS2021_00001_flair.nii.gz",
        "BraTS2021_00001_seg.nii.gz",
        "BraTS2021_00001_t1.nii.gz",
        "BraTS2021_00001_t1ce.nii.gz",
        "BraTS2021_00001_t2.nii.gz",
    ]


def test_uncompressed_layout(tmp_path):
    make_brats_like(tmp_path, n_patients=1, shape=(32, 32, 16), compress=False)
    names = sorted(p.name for p in (tmp_path / "BraTS2021_00000").iterdir())
    assert names == [f"BraTS2021_00000_{k}.nii" for k in sorted(KINDS)]


def test_headers_dtypes_and_affine(cohort):
    for kind in KINDS:
        img = nib.load(cohort / "BraTS2021_00000" / f"BraTS2021_00000_{kind}.nii.gz")
        assert img.shape == SHAPE
        assert img.get_data_dtype() == (np.uint8 if kind == "seg" else np.int16)
        # BraTS2021 orientation, voxel size covering the 240 x 240 x 155 mm FOV.
        assert nib.aff2axcodes(img.affine) == ("L", "P", "S")
        np.testing.assert_allclose(img.header.get_zooms(), (3.75, 3.75, 3.875))
        assert img.header["sform_code"] == 1 and img.header["qform_code"] == 1


def test_labels_and_tumour_inside_brain(cohort):
    seen = set()
    for case in sorted(p.name for p in cohort.iterdir()):
        seg = _load(cohort, case, "seg")
        labels = set(np.unique(seg).tolist())
        assert labels <= {0, 1, 2, 4}
        assert {2, 4} <= labels  # every patient has oedema and an enhancing rim
        seen |= labels
        brain = _load(cohort, case, "flair") != 0
        for kind in ("t1", "t1ce", "t2"):
            # Skull-stripped: one brain mask shared by all modalities.
            np.testing.assert_array_equal(_load(cohort, case, kind) != 0, brain)
        assert np.all(brain[seg > 0])
        # Some brain slices hold no tumour: the loader can find a no-tumour slice.
        tumour_per_slice = (seg > 0).sum(axis=(0, 1))
        brain_per_slice = brain.sum(axis=(0, 1))
        assert np.any((tumour_per_slice == 0) & (brain_per_slice > 0.15 * 64 * 64))
    assert seen == {0, 1, 2, 4}


def test_contrasts_make_the_tumour_visible(cohort):
    for case in sorted(p.name for p in cohort.iterdir()):
        seg = _load(cohort, case, "seg")
        flair = _load(cohort, case, "flair").astype(float)
        t1ce = _load(cohort, case, "t1ce").astype(float)
        t1 = _load(cohort, case, "t1").astype(float)
        healthy = (flair > 0) & (seg == 0)
        # FLAIR: oedema hyperintense; T1ce: the enhancing rim brighter than in T1.
        assert flair[seg == 2].mean() > 1.3 * flair[healthy].mean()
        rim_ratio = t1ce[seg == 4].mean() / t1ce[healthy].mean()
        assert rim_ratio > t1[seg == 4].mean() / t1[healthy].mean()


def test_deterministic_and_patients_independent_of_n(tmp_path):
    a = make_brats_like(tmp_path / "a", n_patients=2, shape=(32, 32, 16))
    b = make_brats_like(tmp_path / "b", n_patients=3, shape=(32, 32, 16))
    c = make_brats_like(
        tmp_path / "c", n_patients=2, shape=(32, 32, 16), random_state=1
    )
    for kind in KINDS:
        for case in ("BraTS2021_00000", "BraTS2021_00001"):
            np.testing.assert_array_equal(_load(a, case, kind), _load(b, case, kind))
        # Patients differ from each other and across seeds.
        first = _load(a, "BraTS2021_00000", kind)
        assert not np.array_equal(first, _load(a, "BraTS2021_00001", kind))
        assert not np.array_equal(first, _load(c, "BraTS2021_00000", kind))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_patients": 0}, "n_patients"),
        ({"shape": (64, 64)}, "shape"),
        ({"shape": (64, 64, 4)}, "shape"),
    ],
)
def test_invalid_parameters(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_brats_like(tmp_path, **kwargs)
