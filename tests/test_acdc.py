"""load_acdc: the synthetic cohort round trip and hand-written edge cases."""

import gzip
import warnings

import nibabel as nib
import numpy as np
import pytest

from sklearn_inr.datasets import load_acdc, make_acdc_like

GROUPS = ["NOR", "MINF", "DCM", "HCM", "RV"]
SHAPE = (48, 48, 8)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_acdc_like(
        tmp_path_factory.mktemp("acdc"), n_patients=10, shape=SHAPE, n_frames=6
    )


@pytest.fixture(scope="module")
def data(cohort):
    return load_acdc(cohort, return_masks=True)


def _info(root, pid):
    lines = (root / pid / "Info.cfg").read_text().splitlines()
    return dict(line.split(": ") for line in lines)


def _read(path):
    return np.asanyarray(nib.load(path).dataobj)


def _write(array, path):
    nib.save(nib.Nifti1Image(array, np.diag([1.5, 1.5, 8.0, 1.0])), path)


def _patient(
    root, pid="patient001", info="ED: 1\nES: 12\nGroup: DCM\nNbFrame: 12\n",
    frames=(1, 12), names=None, gt=True, shape=(20, 18, 5),
):  # fmt: skip
    """A hand-written patient folder: Info.cfg, frames and (optionally) masks."""
    folder = root / pid
    folder.mkdir(parents=True)
    (folder / "Info.cfg").write_bytes(info.encode() if isinstance(info, str) else info)
    rng = np.random.default_rng(0)
    for name in names or [f"{n:02d}" for n in frames]:
        image = rng.integers(0, 400, size=shape).astype(np.int16)
        _write(image, folder / f"{pid}_frame{name}.nii.gz")
        if gt:
            mask = np.zeros(shape, np.uint8)
            mask[5:10, 5:10, 1:4] = 3
            mask[4:11, 4:5, 1:4] = 2
            mask[12:15, 5:10, 1:4] = 1
            _write(mask, folder / f"{pid}_frame{name}_gt.nii.gz")
    return folder


# --- the synthetic cohort round trip -----------------------------------------


def test_bunch_fields(cohort, data):
    ids = [f"patient{i:03d}" for i in range(1, 11)]
    assert data.images.shape == (20, 48, 48) and data.images.dtype == np.float32
    assert data.images.min() >= 0 and data.images.max() <= 1
    np.testing.assert_array_equal(data.patient_id, np.repeat(ids, 2))
    np.testing.assert_array_equal(data.groups, data.patient_id)
    np.testing.assert_array_equal(data.phase, ["ED", "ES"] * 10)
    np.testing.assert_array_equal(data.diagnosis, np.repeat(GROUPS * 2, 2))
    np.testing.assert_array_equal(data.target, np.repeat([0, 1, 2, 3, 4] * 2, 2))
    assert list(data.target_names) == GROUPS
    for pid, phase, frame in zip(data.patient_id, data.phase, data.frame):
        assert int(_info(cohort, pid)[phase]) == frame
    np.testing.assert_array_equal(data.slice_index, SHAPE[2] // 2)
    np.testing.assert_allclose(data.voxel_size, [[250 / 48, 250 / 48, 12.5]] * 20)
    assert np.all(data.height > 100) and np.all(data.weight > 30)
    assert data.skipped == {} and "NOR 2" in data.DESCR
    assert data.masks.shape == data.images.shape and data.masks.dtype == np.uint8


def test_images_and_masks_match_the_files(cohort, data):
    for row in (0, 7):
        pid, frame, z = data.patient_id[row], data.frame[row], data.slice_index[row]
        stem = cohort / pid / f"{pid}_frame{frame:02d}"
        volume = _read(f"{stem}.nii.gz").astype(np.float64)
        lo, hi = np.percentile(volume, (1.0, 99.5))
        expected = np.clip((volume[:, :, z] - lo) / (hi - lo), 0, 1)
        np.testing.assert_allclose(data.images[row], expected, atol=1e-5)
        np.testing.assert_array_equal(
            data.masks[row], _read(f"{stem}_gt.nii.gz")[:, :, z]
        )


def test_volumes_phases_and_size(cohort, data):
    vols = load_acdc(cohort, phases="ES", as_volumes=True, return_masks=True)
    assert vols.images.shape == (10, SHAPE[2], *SHAPE[:2])
    np.testing.assert_array_equal(vols.phase, ["ES"] * 10)
    np.testing.assert_array_equal(vols.slice_index, -1)
    assert set(np.unique(vols.masks)) == {0, 1, 2, 3}
    # The ES rows of the slice load are slices of these volumes.
    z = SHAPE[2] // 2
    np.testing.assert_allclose(vols.images[:, z], data.images[1::2], atol=1e-6)
    small = load_acdc(cohort, phases=("ES", "ED"), as_volumes=True, size=(4, 24, 24),
                      return_masks=True)  # fmt: skip
    assert small.images.shape == (20, 4, 24, 24) and small.masks.shape == (
        20,
        4,
        24,
        24,
    )
    assert 0 <= small.images.min() and small.images.max() <= 1
    assert set(np.unique(small.masks)) <= {0, 1, 2, 3}
    np.testing.assert_array_equal(small.phase[:2], ["ES", "ED"])
    sliced = load_acdc(cohort, size=(16, 20), n_patients=3)
    assert sliced.images.shape == (6, 16, 20)
    images, target = load_acdc(cohort, phases="ED", return_X_y=True)
    assert images.shape == (10, 48, 48) and list(target) == [0, 1, 2, 3, 4] * 2


def test_lv_slice_policy_picks_a_mid_ventricular_slice(cohort):
    data = load_acdc(cohort, phases="ED", slice_policy="lv", return_masks=True)
    for pid, z in zip(data.patient_id, data.slice_index):
        gt = _read(cohort / pid / f"{pid}_frame01_gt.nii.gz")
        zs = np.flatnonzero((gt == 3).any(axis=(0, 1)))
        assert z == (zs[0] + zs[-1]) // 2
    assert all((mask == 3).any() for mask in data.masks)


def test_grouped_folds_keep_a_patient_together(data):
    from sklearn.model_selection import StratifiedGroupKFold

    cv = StratifiedGroupKFold(n_splits=2)
    for train, test in cv.split(data.images, data.target, data.groups):
        assert not set(data.groups[train]) & set(data.groups[test])


# --- hand-written edge cases ---------------------------------------------------


def test_info_cfg_with_crlf_bom_comments_and_extra_keys(tmp_path):
    text = (
        "\ufeffED: 01\r\nES : 12\r\n# a comment\r\n\r\nGroup: hcm\r\n"
        "Height: 184.0\r\nNbFrame: 12\r\nWeight: 95.0\r\nScanner: 1.5T\r\n"
        "pixel spacing: 1.5\r\n"
    )
    _patient(tmp_path, info=text)
    data = load_acdc(tmp_path)
    np.testing.assert_array_equal(data.diagnosis, ["HCM", "HCM"])
    np.testing.assert_array_equal(data.frame, [1, 12])
    assert data.height[0] == 184.0 and data.weight[0] == 95.0


def test_frame_numbers_of_one_and_two_digits(tmp_path):
    _patient(tmp_path, "patient001", "ED: 1\nES: 9\nGroup: NOR\n", (1, 9), ["1", "9"])
    _patient(tmp_path, "patient002", "ED: 01\nES: 10\nGroup: RV\n", (1, 10))
    _patient(
        tmp_path, "patient003", "ED: 3\nES: 12\nGroup: MINF\n", (3, 12), ["3", "12"]
    )
    data = load_acdc(tmp_path)
    np.testing.assert_array_equal(data.frame, [1, 9, 1, 10, 3, 12])
    np.testing.assert_array_equal(data.target, [0, 0, 4, 4, 1, 1])


def test_a_missing_frame_file_is_read_from_the_4d_file(tmp_path):
    folder = _patient(tmp_path, frames=(1,), info="ED: 1\nES: 3\nGroup: NOR\n")
    cine = np.arange(20 * 18 * 5 * 4, dtype=np.int16).reshape(20, 18, 5, 4)
    _write(cine, folder / "patient001_4d.nii.gz")
    data = load_acdc(tmp_path, phases="ES", percentiles=(0, 100))
    es = cine[:, :, 2, 2].astype(np.float64)  # frame 3, slice 5 // 2
    expected = (es - cine[..., 2].min()) / (cine[..., 2].max() - cine[..., 2].min())
    np.testing.assert_allclose(data.images[0], expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"patient001_4d\.nii\.gz.*4 frames"):
        (folder / "Info.cfg").write_text("ED: 1\nES: 7\nGroup: NOR\n")
        load_acdc(tmp_path, phases="ES")


def test_missing_gt_is_fine_for_images_and_named_for_masks(tmp_path):
    _patient(tmp_path, "patient001", gt=False)
    _patient(tmp_path, "patient002")
    data = load_acdc(tmp_path)  # the masks are not needed: not read
    assert data.images.shape[0] == 4
    for kwargs in ({"return_masks": True}, {"slice_policy": "lv"}):
        with pytest.raises(FileNotFoundError, match=r"patient001_frame01_gt\.nii\.gz"):
            load_acdc(tmp_path, **kwargs)
    with pytest.warns(UserWarning, match="Skipping patient patient001"):
        data = load_acdc(tmp_path, return_masks=True, on_error="skip")
    assert (
        list(data.skipped) == ["patient001"]
        and "return_masks" in data.skipped["patient001"]
    )
    np.testing.assert_array_equal(data.patient_id, ["patient002"] * 2)


def test_testing_folder_without_group(tmp_path):
    _patient(tmp_path / "training", "patient001")
    _patient(tmp_path / "testing", "patient101", info="ED: 1\nES: 12\nNbFrame: 12\n")
    with pytest.raises(ValueError, match=r"patient101.*Info\.cfg.*require_labels"):
        load_acdc(tmp_path)
    data = load_acdc(tmp_path, require_labels=False)
    np.testing.assert_array_equal(
        data.patient_id, np.repeat(["patient001", "patient101"], 2)
    )
    np.testing.assert_array_equal(data.target, [2, 2, -1, -1])
    np.testing.assert_array_equal(data.diagnosis, ["DCM", "DCM", "", ""])
    assert "unknown 1" in data.DESCR
    only = load_acdc(tmp_path / "testing", require_labels=False, phases="ED")
    assert list(only.patient_id) == ["patient101"]


def test_a_folder_that_is_not_acdc_says_what_is_expected(tmp_path):
    (tmp_path / "BraTS2021_00000").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(
        FileNotFoundError, match=r"holds no ACDC.*'patient001'.*Info\.cfg"
    ):
        load_acdc(tmp_path)
    with pytest.raises(FileNotFoundError, match="is empty"):
        (tmp_path / "empty").mkdir()
        load_acdc(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_acdc(tmp_path / "nowhere")
    with pytest.raises(NotADirectoryError, match="is a file"):
        load_acdc(tmp_path / "notes.txt")


def test_misnamed_and_duplicate_folders(tmp_path):
    _patient(tmp_path / "training", "patient001")
    _patient(tmp_path / "training", "patient001_copy")
    with pytest.warns(UserWarning, match="Ignoring 1 folder.*patient001_copy"):
        data = load_acdc(tmp_path)
    assert "training/patient001_copy" in data.skipped
    _patient(tmp_path / "testing", "patient001")
    with pytest.raises(ValueError, match="patient001 appears twice"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_acdc(tmp_path)


@pytest.mark.parametrize(
    "info, match",
    [
        ("ES: 12\nGroup: DCM\n", r"no 'ED' line"),
        ("ED: one\nES: 12\nGroup: DCM\n", r"line 1: ED must be a whole number"),
        ("ED: 1\nES: 12\nGroup: XYZ\n", r"Group: 'XYZ'.*NOR, MINF, DCM, HCM, RV"),
        ("ED: 1\nES: 12\nNbFrame: 10\nGroup: DCM\n", r"ES: 12, beyond NbFrame: 10"),
        ("ED: 1\nES 12\nGroup: DCM\n", r"line 2: 'ES 12' is not a 'Key: value'"),
        ("ED: 1\nES: 12\nED: 2\nGroup: DCM\n", r"gives 'ed' twice"),
        ("ED: 1\nES: 12\nGroup: DCM\nHeight: tall\n", r"Height must be a positive"),
        (b"ED: 1\nES: 12\nGroup: \xff\n", r"Could not read .* as text"),
    ],
)
def test_bad_info_cfg_names_the_file(tmp_path, info, match):
    _patient(tmp_path, info=info)
    with pytest.raises(ValueError, match=match) as err:
        load_acdc(tmp_path)
    assert "patient001/Info.cfg" in str(err.value).replace("\\", "/")


def test_missing_info_cfg_and_frame(tmp_path):
    folder = _patient(tmp_path)
    (folder / "patient001_frame12.nii.gz").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"frame 12 .*patient001_frame12\.nii\.gz"
    ):
        load_acdc(tmp_path)
    (folder / "Info.cfg").unlink()
    with pytest.raises(FileNotFoundError, match=r"Missing Info\.cfg .*patient001"):
        load_acdc(tmp_path)


def test_corrupt_nifti_names_the_file_and_respects_on_error(tmp_path):
    folder = _patient(tmp_path, "patient001")
    _patient(tmp_path, "patient002")
    path = folder / "patient001_frame12.nii.gz"
    blob = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(blob[: len(blob) // 2]))
    with pytest.raises(ValueError, match=r"patient001_frame12\.nii\.gz"):
        load_acdc(tmp_path)
    with pytest.warns(UserWarning, match=r"Skipping patient patient001.*frame12"):
        data = load_acdc(tmp_path, on_error="skip")
    assert list(np.unique(data.patient_id)) == ["patient002"]
    assert "patient001" in data.skipped


def test_bad_masks_and_shapes(tmp_path):
    folder = _patient(tmp_path)
    _write(np.full((20, 18, 5), 4, np.uint8), folder / "patient001_frame01_gt.nii.gz")
    with pytest.raises(ValueError, match=r"frame01_gt.*outside \{0, 1, 2, 3\}: 4"):
        load_acdc(tmp_path, return_masks=True)
    _write(np.zeros((20, 18, 6), np.uint8), folder / "patient001_frame01_gt.nii.gz")
    with pytest.raises(ValueError, match=r"frame01_gt\.nii\.gz is \(20, 18, 6\)"):
        load_acdc(tmp_path, return_masks=True)
    _write(np.zeros((20, 18, 6), np.int16), folder / "patient001_frame12.nii.gz")
    with pytest.raises(ValueError, match=r"frame12\.nii\.gz is \(20, 18, 6\)"):
        load_acdc(tmp_path)


def test_different_shapes_need_size(tmp_path):
    _patient(tmp_path, "patient001")
    _patient(tmp_path, "patient002", shape=(24, 24, 5))
    with pytest.raises(ValueError, match=r"pass size=\(H, W\)"):
        load_acdc(tmp_path)
    with pytest.raises(ValueError, match=r"pass size=\(D, H, W\)"):
        load_acdc(tmp_path, as_volumes=True)
    assert load_acdc(tmp_path, size=16).images.shape == (4, 16, 16)
    assert load_acdc(tmp_path, as_volumes=True, size=(5, 16, 16)).images.shape == (
        4, 5, 16, 16,
    )  # fmt: skip


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"phases": "ED+ES"}, "phases must be"),
        ({"phases": ("ED", "ED")}, "phases must be"),
        ({"size": 0}, "size must be None, a positive int"),
        ({"size": 16, "as_volumes": True}, r"tuple \(D, H, W\)"),
        ({"n_patients": 0}, "n_patients must be"),
        ({"slice_policy": "max"}, "slice_policy must be one of"),
        ({"percentiles": (99, 1)}, "percentiles must be"),
        ({"on_error": "ignore"}, "on_error must be one of"),
        ({"as_volumes": "yes"}, "as_volumes must be"),
    ],
)
def test_parameters_are_checked(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_acdc(tmp_path, **kwargs)
