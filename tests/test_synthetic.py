import socket

import nibabel as nib
import numpy as np
import pytest

from sklearn_inr.datasets import _mni_template, load_brats_slices, make_brats_like

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


def _healthy(root, case):
    """Modalities as float, the seg, and the healthy brain voxels."""
    seg = _load(root, case, "seg")
    images = {m: _load(root, case, m).astype(float) for m in KINDS[:4]}
    return images, seg, (images["flair"] > 0) & (seg == 0)


def test_contrasts_make_the_tumour_visible(cohort):
    for case in sorted(p.name for p in cohort.iterdir()):
        images, seg, healthy = _healthy(cohort, case)
        flair, t1, t1ce, t2 = (images[m] for m in ("flair", "t1", "t1ce", "t2"))
        # White matter: the brightest fifth of healthy T1.
        wm = healthy & (t1 > np.percentile(t1[healthy], 80))
        # FLAIR and T2: oedema brighter than white matter (1.4 and 2.1 times
        # before partial volume at 3.75 mm and jitter); T1ce: the enhancing rim
        # brighter than in T1.
        assert flair[seg == 2].mean() > 1.05 * flair[wm].mean()
        assert t2[seg == 2].mean() > 1.4 * t2[wm].mean()
        rim_ratio = t1ce[seg == 4].mean() / t1ce[healthy].mean()
        assert rim_ratio > t1[seg == 4].mean() / t1[healthy].mean()


def test_modality_contrasts_follow_the_tissues(cohort):
    for case in sorted(p.name for p in cohort.iterdir()):
        images, _, healthy = _healthy(cohort, case)
        flair, t1, t2 = (images[m][healthy] for m in ("flair", "t1", "t2"))
        # CSF (the brightest T2) is dark on FLAIR and on T1; at 3.75 mm most
        # CSF voxels also hold some tissue, hence the loose bounds.
        csf = t2 > np.percentile(t2, 95)
        assert flair[csf].mean() < 0.85 * np.median(flair)
        assert t1[csf].mean() < 0.85 * np.median(t1)
        # White matter (the brightest T1) is dark on T2 and darker than grey
        # matter (the middle of T1) on FLAIR.
        wm = t1 > np.percentile(t1, 80)
        gm = (t1 > np.percentile(t1, 30)) & (t1 < np.percentile(t1, 50))
        assert t2[wm].mean() < 0.85 * t2[gm].mean()
        assert flair[wm].mean() < flair[gm].mean()


def test_anatomy_is_oriented_as_brats(cohort):
    for case in sorted(p.name for p in cohort.iterdir()):
        brain = _load(cohort, case, "flair") != 0
        area = brain.sum(axis=(0, 1))
        slices = np.flatnonzero(area)
        low = brain[:, :, slices[: len(slices) // 6]]
        # y grows to the back and z to the top: the lowest brain slices hold the
        # cerebellum and the brain stem, behind the middle of the head.
        ys = np.nonzero(low)[1]
        assert ys.mean() > 0.5 * SHAPE[1]
        # The head is longer front to back than it is wide, and roughly
        # left-right symmetric.
        widest = brain[:, :, int(np.argmax(area))]
        xs, ys = np.nonzero(widest)
        assert np.ptp(ys) > 1.1 * np.ptp(xs)
        assert abs(xs.mean() - SHAPE[0] / 2) < 0.1 * SHAPE[0]


def test_same_patient_at_any_shape(tmp_path):
    """One patient is the same anatomy and tumour whatever the voxel size."""
    centres, volumes = [], []
    for shape in [(32, 32, 20), (48, 48, 30)]:
        root = make_brats_like(tmp_path / str(shape[0]), n_patients=1, shape=shape)
        seg = _load(root, "BraTS2021_00000", "seg")
        zooms = 240 / shape[0], 240 / shape[1], 155 / shape[2]
        tumour = np.argwhere(seg > 0)
        centres.append((tumour.mean(0) + 0.5) * zooms)
        volumes.append(len(tumour) * np.prod(zooms))
    assert np.all(np.abs(centres[0] - centres[1]) < 5.0)  # mm
    assert volumes[1] == pytest.approx(volumes[0], rel=0.2)


def test_loader_finds_a_pair_for_every_patient(cohort):
    data = load_brats_slices(cohort, size=32)
    assert data.skipped == {}
    assert data.images.shape == (12, 32, 32)
    assert data.images.dtype == np.float32
    assert np.all(data.tumor_pixels[data.target == 1] > 0)
    assert np.all(data.tumor_pixels[data.target == 0] == 0)


def test_odd_shapes(tmp_path):
    root = make_brats_like(tmp_path, n_patients=1, shape=(40, 36, 9))
    for kind in KINDS:
        assert _load(root, "BraTS2021_00000", kind).shape == (40, 36, 9)


def test_no_network(tmp_path, monkeypatch):
    """The template comes from nilearn's wheel: generating opens no socket."""

    def refuse(*args, **kwargs):
        raise AssertionError("make_brats_like tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    # Load the template again, under the patch.
    _mni_template._template.cache_clear()
    _mni_template.tissue_maps.cache_clear()
    _mni_template._wm_candidates.cache_clear()
    root = make_brats_like(tmp_path, n_patients=1, shape=(32, 32, 16))
    assert (_load(root, "BraTS2021_00000", "seg") > 0).any()


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


def test_parallel_writing_gives_the_same_bytes(tmp_path):
    # Patients are written on joblib threads with n_jobs: each has its own
    # random stream and files, so the bytes do not depend on n_jobs.
    serial = make_brats_like(tmp_path / "s", n_patients=3, shape=(16, 16, 8), n_jobs=1)
    threads = make_brats_like(tmp_path / "t", n_patients=3, shape=(16, 16, 8), n_jobs=2)
    files = sorted(p.relative_to(serial) for p in serial.rglob("*.nii.gz"))
    assert len(files) == 15
    assert files == sorted(p.relative_to(threads) for p in threads.rglob("*.nii.gz"))
    for name in files:
        assert (serial / name).read_bytes() == (threads / name).read_bytes()
