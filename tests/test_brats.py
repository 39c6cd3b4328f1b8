import gzip
import shutil

import nibabel as nib
import numpy as np
import pytest

from sklearn_inr.datasets import load_brats_slices, make_brats_like
from sklearn_inr.datasets._slice_policy import select_slices

SHAPE = (64, 64, 40)
SMALL = (32, 32, 16)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_brats_like(tmp_path_factory.mktemp("cohort"), n_patients=6, shape=SHAPE)


@pytest.fixture(scope="module")
def data(cohort):
    return load_brats_slices(cohort)


@pytest.fixture
def small(tmp_path):
    """A fresh 3-patient cohort each test may break."""
    return make_brats_like(tmp_path / "root", n_patients=3, shape=SMALL)


def _path(root, case, kind, suffix=".nii.gz"):
    return root / case / f"{case}_{kind}{suffix}"


def _read(root, case, kind):
    return np.asanyarray(nib.load(_path(root, case, kind)).dataobj)


def _write(array, path, affine=None):
    nib.save(nib.Nifti1Image(array, np.eye(4) if affine is None else affine), path)


# --- the Bunch ------------------------------------------------------------------


def test_bunch_fields(data):
    ids = [f"BraTS2021_{i:05d}" for i in range(6)]
    assert data.images.shape == (12, 64, 64)
    assert data.images.dtype == np.float32
    assert data.images.min() == 0 and data.images.max() == 1
    np.testing.assert_array_equal(data.target, [1, 0] * 6)
    np.testing.assert_array_equal(data.patient_id, np.repeat(ids, 2))
    np.testing.assert_array_equal(data.groups, data.patient_id)
    assert list(data.target_names) == ["no tumour", "tumour"]
    assert data.slice_index.shape == (12,) and data.modality == ["flair"]
    assert data.skipped == {}
    assert "Slice policy" in data.DESCR and "flair" in data.DESCR


def test_groups_pair_the_two_slices_of_each_patient(data):
    from sklearn.model_selection import StratifiedGroupKFold

    for group in np.unique(data.groups):
        assert sorted(data.target[data.groups == group]) == [0, 1]
    cv = StratifiedGroupKFold(n_splits=3)
    for train, test in cv.split(data.images, data.target, data.groups):
        assert not set(data.groups[train]) & set(data.groups[test])


def test_slice_policy_against_the_files(cohort, data):
    for pid in np.unique(data.patient_id):
        seg = _read(cohort, pid, "seg")
        flair = _read(cohort, pid, "flair")
        tumour = (seg > 0).sum(axis=(0, 1))
        area = (flair != 0).sum(axis=(0, 1))
        eligible = area >= 0.15 * 64 * 64
        z_t, z_n = data.slice_index[data.patient_id == pid]
        # The tumour slice holds the most tumour among eligible slices.
        assert eligible[z_t] and tumour[z_t] == tumour[eligible].max() > 0
        # The no-tumour slice holds none, and no tumour-free eligible slice has a
        # brain area closer to the tumour slice's.
        assert eligible[z_n] and tumour[z_n] == 0
        free = eligible & (tumour == 0)
        assert abs(area[z_n] - area[z_t]) == np.abs(area[free] - area[z_t]).min()
        np.testing.assert_array_equal(
            data.tumor_pixels[data.patient_id == pid], [tumour[z_t], 0]
        )
        np.testing.assert_array_equal(
            data.brain_area[data.patient_id == pid], [area[z_t], area[z_n]]
        )
        # The image is the normalised slice vol[:, :, z].
        image = data.images[(data.patient_id == pid) & (data.target == 1)][0]
        expected = flair[:, :, z_t].astype(np.float32)
        expected = (expected - expected.min()) / (expected.max() - expected.min())
        np.testing.assert_allclose(image, expected, atol=1e-6)


def test_areas_are_matched(data):
    area = data.brain_area.reshape(-1, 2)
    assert np.all(np.abs(area[:, 0] - area[:, 1]) <= 0.1 * area[:, 0])


@pytest.mark.parametrize(
    "area, tumour, expected",
    [
        # Ties on area: the slice nearest the tumour slice wins, then lower z.
        ([500, 600, 600, 600, 600], [0, 0, 30, 0, 0], (2, 1)),
        ([600, 500, 600, 500, 600], [0, 0, 30, 5, 0], (2, 0)),
        # Most tumour wins even against a larger brain area.
        ([600, 900, 600, 800], [40, 10, 0, 0], (0, 2)),
        # Slices below the threshold (brain_threshold * n_pixels = 150) never count.
        ([100, 600, 640, 100], [99, 20, 0, 0], (1, 2)),
    ],
)
def test_select_slices(area, tumour, expected):
    assert select_slices(area, tumour, 1000, 0.15, 1) == expected


@pytest.mark.parametrize(
    "area, tumour, min_tumor, match",
    [
        ([100, 120], [0, 5], 1, "brain fraction"),
        ([600, 600], [0, 5], 10, "min_tumor_pixels=10"),
        ([600, 600], [3, 5], 1, "every eligible slice holds tumour"),
    ],
)
def test_select_slices_reasons(area, tumour, min_tumor, match):
    reason = select_slices(area, tumour, 1000, 0.15, min_tumor)
    assert isinstance(reason, str) and match in reason


# --- options ----------------------------------------------------------------------


def test_modality_list_gives_channels_in_order(cohort, data):
    multi = load_brats_slices(cohort, modality=["t2", "flair"], n_patients=2)
    assert multi.images.shape == (4, 64, 64, 2)
    np.testing.assert_array_equal(multi.images[..., 1], data.images[:4])
    t2 = load_brats_slices(cohort, modality="t2", n_patients=2)
    np.testing.assert_array_equal(multi.images[..., 0], t2.images)


def test_size_resizes_with_antialiasing(cohort, data):
    resized = load_brats_slices(cohort, size=32, n_patients=3)
    assert resized.images.shape == (6, 32, 32)
    assert resized.images.dtype == np.float32
    assert 0 <= resized.images.min() and resized.images.max() <= 1
    # Anti-aliased 2x downsampling averages 4x4 neighbourhoods; plain bilinear
    # would sample 2x2 and keep much more of the noise.
    pooled = data.images[:6].reshape(6, 32, 2, 32, 2).mean(axis=(2, 4))
    assert np.abs(resized.images - pooled).mean() < 0.02
    rect = load_brats_slices(cohort, size=(16, 24), n_patients=1)
    assert rect.images.shape == (2, 16, 24)


def test_volume_normalisation(cohort, data):
    vol = load_brats_slices(cohort, normalize="volume", percentiles=(1, 99))
    assert vol.images.dtype == np.float32
    assert vol.images.min() == 0 and vol.images.max() == 1
    np.testing.assert_array_equal(vol.slice_index, data.slice_index)
    pid = "BraTS2021_00000"
    flair = _read(cohort, pid, "flair").astype(np.float64)
    lo, hi = np.percentile(flair[flair != 0], (1, 99))
    z = data.slice_index[0]
    expected = np.clip((flair[:, :, z] - lo) / (hi - lo), 0, 1)
    np.testing.assert_allclose(vol.images[0], expected, atol=1e-5)


def test_n_patients_deterministic_and_return_X_y(cohort, data):
    first = load_brats_slices(cohort, n_patients=2)
    np.testing.assert_array_equal(first.images, data.images[:4])
    np.testing.assert_array_equal(np.unique(first.groups), data.groups[[0, 2]])
    X, y = load_brats_slices(cohort, n_patients=2, return_X_y=True)
    np.testing.assert_array_equal(X, first.images)
    np.testing.assert_array_equal(y, first.target)


def test_root_one_level_down_and_uncompressed(tmp_path):
    inner = make_brats_like(
        tmp_path / "download" / "BraTS2021_Training_Data", n_patients=2, shape=SMALL
    )
    plain = make_brats_like(
        tmp_path / "plain", n_patients=2, shape=SMALL, compress=False
    )
    direct = load_brats_slices(inner)
    assert direct.images.shape == (4, 32, 32)
    np.testing.assert_array_equal(
        load_brats_slices(tmp_path / "download").images, direct.images
    )
    np.testing.assert_array_equal(load_brats_slices(plain).images, direct.images)


def test_patient_without_pair_is_skipped_with_warning(small):
    # Patient 1's seg covers every slice with tumour: no no-tumour slice.
    seg = _read(small, "BraTS2021_00001", "seg")
    seg[0, 0, :] = 2
    _write(seg, _path(small, "BraTS2021_00001", "seg"))
    with pytest.warns(UserWarning, match="BraTS2021_00001: every eligible slice"):
        data = load_brats_slices(small)
    assert set(data.patient_id) == {"BraTS2021_00000", "BraTS2021_00002"}
    assert "BraTS2021_00001" in data.skipped
    with pytest.warns(UserWarning, match="brain fraction"):
        with pytest.raises(ValueError, match="No patient .* yielded"):
            load_brats_slices(small, brain_threshold=0.99)


# --- bad input --------------------------------------------------------------------


def _remove_flair(root, case):
    _path(root, case, "flair").unlink()


def _truncate(root, case):
    path = _path(root, case, "flair")
    compressed = path.read_bytes()
    assert len(gzip.decompress(compressed)) > 352  # intact before: header and data
    path.write_bytes(compressed[: len(compressed) // 2])


def _garbage(root, case):
    _path(root, case, "flair").write_bytes(b"this is not a NIfTI file" * 20)


def _mismatch(root, case):
    _write(np.ones((32, 32, 12), np.int16), _path(root, case, "flair"))


def _bad_labels(root, case):
    seg = _read(root, case, "seg")
    seg[seg == 4] = 3
    _write(seg, _path(root, case, "seg"))


def _four_d(root, case):
    flair = _read(root, case, "flair")
    _write(np.stack([flair, flair], axis=-1), _path(root, case, "flair"))


BAD_CASES = [
    (_remove_flair, FileNotFoundError, r"Missing flair file .*_flair\.nii\.gz"),
    (_truncate, ValueError, r"Could not read .*_flair\.nii\.gz.*corrupt"),
    (_garbage, ValueError, r"Could not read .*_flair\.nii\.gz.*re-download"),
    (_mismatch, ValueError, r"Shape mismatch .*_flair\.nii\.gz is \(32, 32, 12\)"),
    (_bad_labels, ValueError, r"_seg\.nii\.gz' has labels outside .*: 3\..*3 -> 4"),
    (_four_d, ValueError, r"_flair\.nii\.gz' holds a 4-D volume.*3-D"),
]


@pytest.mark.parametrize(
    "breaker, error, match", BAD_CASES, ids=[b[0].__name__ for b in BAD_CASES]
)
def test_bad_patient_raises_then_skips(small, breaker, error, match):
    breaker(small, "BraTS2021_00001")
    with pytest.raises(error, match=match) as info:
        load_brats_slices(small)
    assert "BraTS2021_00001" in str(info.value)
    assert "on_error='skip'" in str(info.value)
    with pytest.warns(UserWarning, match="Skipping patient BraTS2021_00001: ") as rec:
        data = load_brats_slices(small, on_error="skip")
    assert len(rec) == 1
    assert set(data.patient_id) == {"BraTS2021_00000", "BraTS2021_00002"}
    assert data.images.shape == (4, 32, 32)
    assert "BraTS2021_00001" in data.skipped
    # n_patients counts loaded patients, so a skipped one is replaced.
    with pytest.warns(UserWarning):
        two = load_brats_slices(small, n_patients=2, on_error="skip")
    np.testing.assert_array_equal(two.images, data.images)


def test_trailing_singleton_axis_is_accepted(small):
    flair = _read(small, "BraTS2021_00001", "flair")
    _write(flair[..., None], _path(small, "BraTS2021_00001", "flair"))
    assert load_brats_slices(small).images.shape == (6, 32, 32)


def test_empty_or_foreign_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="is empty.*make_brats_like"):
        load_brats_slices(tmp_path)
    (tmp_path / "BraTS2021_Training_Data").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(FileNotFoundError, match="holds no BraTS folders"):
        load_brats_slices(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_brats_slices(tmp_path / "missing")


def test_misnamed_folders_are_listed_in_skipped_with_one_warning(small, tmp_path):
    # A renamed case and a copy: not loaded, but no longer silently dropped.
    shutil.copytree(small / "BraTS2021_00001", small / "patient_01")
    shutil.copytree(small / "BraTS2021_00001", small / "BraTS2021_00001_copy")
    (small / ".ipynb_checkpoints").mkdir()  # hidden: not data
    (small / "notes.txt").write_text("not a folder")
    with pytest.warns(UserWarning, match="Ignoring 2 folder") as rec:
        data = load_brats_slices(small)
    assert len(rec) == 1
    assert "BraTS2021_00001_copy, patient_01" in str(rec[0].message)
    assert len(np.unique(data.patient_id)) == 3
    assert sorted(data.skipped) == ["BraTS2021_00001_copy", "patient_01"]
    for name, reason in data.skipped.items():
        assert f"folder name {name!r} is not a BraTS case name" in reason
        assert "rename it" in reason
    assert "skipped: 2" in data.DESCR

    # One level down, they are named by their path; the containers' siblings
    # (a folder of documents next to the training data) are not cases' siblings.
    inner = make_brats_like(
        tmp_path / "download" / "Training", n_patients=2, shape=SMALL
    )
    (inner / "BraTS2021_00000 (1)").mkdir()
    (tmp_path / "download" / "docs").mkdir()
    with pytest.warns(UserWarning, match="Ignoring 1 folder") as rec:
        data = load_brats_slices(tmp_path / "download")
    assert len(rec) == 1
    assert list(data.skipped) == ["Training/BraTS2021_00000 (1)"]


def test_duplicate_patient_in_two_collections(tmp_path):
    make_brats_like(tmp_path / "train", n_patients=1, shape=SMALL)
    make_brats_like(tmp_path / "val", n_patients=1, shape=SMALL)
    with pytest.raises(ValueError, match="BraTS2021_00000 appears twice"):
        load_brats_slices(tmp_path)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"modality": "dwi"}, "modality"),
        ({"modality": ["t1", "t1"]}, "modality"),
        ({"size": 0}, "size"),
        ({"size": (8, 8, 8)}, "size"),
        ({"n_patients": 0}, "n_patients"),
        ({"brain_threshold": 1.5}, "brain_threshold"),
        ({"min_tumor_pixels": 0}, "min_tumor_pixels"),
        ({"normalize": "zscore"}, "normalize"),
        ({"percentiles": (99, 1)}, "percentiles"),
        ({"percentiles": 5}, "percentiles"),
        ({"on_error": "ignore"}, "on_error"),
    ],
)
def test_invalid_parameters(cohort, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_brats_slices(cohort, **kwargs)


# --- a case written by hand, at the real BraTS size ------------------------------


def test_hand_built_real_size_case(tmp_path):
    """One BraTS2021 case written with nibabel only, as the challenge ships it."""
    shape = (240, 240, 155)
    # BraTS2021's affine: LPS, 1 mm, origin on the first voxel.
    affine = np.array(
        [[-1.0, 0, 0, 0], [0, -1.0, 0, 239], [0, 0, 1.0, 0], [0, 0, 0, 1]]
    )
    x, y, z = np.ogrid[:240, :240, :155]
    brain = ((x - 120) / 70) ** 2 + ((y - 120) / 85) ** 2 + ((z - 77) / 60) ** 2 < 1
    tumour = (x - 150) ** 2 + (y - 120) ** 2 + (z - 100) ** 2 <= 15**2
    flair = np.where(brain, 300 + (x + y) % 200, 0).astype(np.int16)
    flair[tumour] = 900
    seg = np.zeros(shape, np.uint8)
    seg[tumour] = 2
    seg[(x - 150) ** 2 + (y - 120) ** 2 + (z - 100) ** 2 < 8**2] = 4
    case = tmp_path / "BraTS2021_01234"
    case.mkdir()
    for kind, volume in [("flair", flair), ("seg", seg)]:
        img = nib.Nifti1Image(volume, affine)
        img.header.set_sform(affine, code=1)
        img.header.set_qform(affine, code=1)
        nib.save(img, case / f"BraTS2021_01234_{kind}.nii.gz")
    for kind in ("t1", "t1ce", "t2"):
        shutil.copy(
            case / "BraTS2021_01234_flair.nii.gz",
            case / f"BraTS2021_01234_{kind}.nii.gz",
        )
    assert nib.aff2axcodes(nib.load(case / "BraTS2021_01234_seg.nii.gz").affine) == (
        "L",
        "P",
        "S",
    )

    data = load_brats_slices(tmp_path)

    assert data.images.shape == (2, 240, 240) and data.images.dtype == np.float32
    np.testing.assert_array_equal(data.patient_id, ["BraTS2021_01234"] * 2)
    z_t, z_n = data.slice_index
    assert z_t == 100  # the tumour's widest cross-section
    assert data.tumor_pixels[1] == 0 and not seg[:, :, z_n].any()
    # The mirror image of z=100 about the brain's centre (z=77) has the same area.
    assert z_n == 54 and data.brain_area[0] == data.brain_area[1]
    np.testing.assert_allclose(data.images[0], flair[:, :, 100] / 900, atol=1e-6)


# --- headers that lie about their size ------------------------------------------


def _lying_file(path, shape, dtype=np.int16, data_bytes=64):
    """A .nii.gz whose header declares ``shape`` but holds ``data_bytes`` bytes."""
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(dtype)
    header["vox_offset"] = 352
    with gzip.open(path, "wb") as file:
        file.write(header.binaryblock + b"\0" * 4 + bytes(data_bytes))


@pytest.mark.parametrize(
    "shape, reason",
    [
        ((2000, 1000, 1000), "more than the"),  # the attack: 1 KB claiming 4 GB
        ((4000, 4000, 4000), "more than the"),  # once a bare MemoryError
        ((64, 64, 40), "which the file does not hold"),  # small, but not there
    ],
)
def test_header_sizes_are_checked_before_any_voxel_is_read(small, shape, reason):
    import tracemalloc

    case = "BraTS2021_00001"
    path = _path(small, case, "flair")
    _lying_file(path, shape)
    assert path.stat().st_size < 2048
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=reason) as info:
            load_brats_slices(small)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value) and "on_error='skip'" in str(info.value)
    assert peak < 64 * 2**20, f"refusing it took {peak / 2**20:.0f} MiB"
    # on_error="skip" skips that patient, naming the file, and loads the others.
    with pytest.warns(UserWarning, match=f"Skipping patient {case}"):
        data = load_brats_slices(small, on_error="skip")
    assert list(data.skipped) == [case] and str(path) in data.skipped[case]
    assert len(data.images) == 4


def test_uncompressed_file_shorter_than_its_header_declares(small):
    case = "BraTS2021_00002"
    gz_path = _path(small, case, "t1")
    volume = _read(small, case, "t1")
    gz_path.unlink()
    path = _path(small, case, "t1", suffix=".nii")
    _write(volume, path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="which the file does not hold"):
        load_brats_slices(small, modality="t1")


def test_multi_member_gzip_is_read_not_refused(small):
    # bgzip and concatenated gzip files carry several members: the trailer
    # holds only the last member's size, which must not be taken for a lie.
    case = "BraTS2021_00000"
    path = _path(small, case, "flair")
    raw = gzip.decompress(path.read_bytes())
    half = len(raw) // 2
    path.write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
    data = load_brats_slices(small)
    assert case in data.patient_id and data.skipped == {}
