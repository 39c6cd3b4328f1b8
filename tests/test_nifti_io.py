"""Tests of :mod:`sklearn_inr.datasets._nifti_io` on tiny hand-written NIfTI files.

test_brats.py and test_fuzz.py reach these functions through
``load_brats_slices``; here each one is called directly, so a failure points
at the function and the file layout it was given.
"""

import gzip

import nibabel as nib
import numpy as np
import pytest

from sklearn_inr.datasets._nifti_io import (
    MODALITIES,
    find_case_dirs,
    misnamed_dirs,
    read_case,
    read_volume,
)

SHAPE = (3, 4, 2)  # (x, y, z), every axis a different length


def _write(data, path, affine=None):
    nib.Nifti1Image(data, np.eye(4) if affine is None else affine).to_filename(path)
    return path


def _case(folder, name, suffix=".nii.gz", modalities=MODALITIES, seg=None):
    """A case folder with a distinct int16 volume per modality (value k*100+i)."""
    case = folder / name
    case.mkdir(parents=True)
    ramp = np.arange(np.prod(SHAPE), dtype=np.int16).reshape(SHAPE)
    for k, modality in enumerate(modalities):
        _write(ramp + np.int16(100 * k), case / f"{name}_{modality}{suffix}")
    if seg is None:
        seg = np.zeros(SHAPE, dtype=np.uint8)
        seg[1, 2, 1] = 4
    _write(seg, case / f"{name}_seg{suffix}")
    return case


def test_modalities_are_the_four_brats_sequences_in_order():
    assert MODALITIES == ("flair", "t1", "t1ce", "t2")


# ---------------------------------------------------------------- find_case_dirs
def test_find_case_dirs_sorted_and_only_case_names(tmp_path):
    for name in ("BraTS2021_00002", "BraTS20_Training_010", "BraTS2021_00001"):
        (tmp_path / name).mkdir()
    (tmp_path / "BraTS2021_00003").write_text("a file, not a case")
    (tmp_path / "BraTS2021_00004_copy").mkdir()  # no trailing digits
    (tmp_path / "patient_5").mkdir()
    # A container inside the root is not searched when the root holds cases.
    (tmp_path / "BraTS2021_Training_Data" / "BraTS2021_00009").mkdir(parents=True)
    found = find_case_dirs(tmp_path)
    assert [p.name for p in found] == [
        "BraTS2021_00001", "BraTS2021_00002", "BraTS20_Training_010",
    ]  # fmt: skip
    assert all(p.parent == tmp_path for p in found)


def test_find_case_dirs_one_level_down(tmp_path):
    (tmp_path / "b_val" / "BraTS2021_00001").mkdir(parents=True)
    (tmp_path / "a_train" / "BraTS2021_00002").mkdir(parents=True)
    (tmp_path / "a_train" / "BraTS2021_00000").mkdir()
    (tmp_path / "c" / "deeper" / "BraTS2021_00007").mkdir(parents=True)  # 2 down
    found = find_case_dirs(str(tmp_path))  # a str root works too
    # Sorted by case name across containers, not by container.
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a_train/BraTS2021_00000", "b_val/BraTS2021_00001", "a_train/BraTS2021_00002",
    ]  # fmt: skip


def test_find_case_dirs_errors(tmp_path):
    with pytest.raises(ValueError, match="root must be a folder path .* got int"):
        find_case_dirs(3)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_case_dirs(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        find_case_dirs(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="is empty"):
        find_case_dirs(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="holds no BraTS folders"):
        find_case_dirs(tmp_path)
    (tmp_path / "x" / "BraTS2021_00001").mkdir(parents=True)
    (tmp_path / "y" / "BraTS2021_00001").mkdir(parents=True)
    with pytest.raises(ValueError, match="BraTS2021_00001 appears twice") as info:
        find_case_dirs(tmp_path)
    assert "x" in str(info.value) and "y" in str(info.value)


# ----------------------------------------------------------------- misnamed_dirs
def test_misnamed_dirs_lists_non_case_folders_beside_the_cases(tmp_path):
    inner = tmp_path / "Training"
    for name in ("BraTS2021_00000", "BraTS2021_00001", "zz_case", "BraTS2021_1 (1)"):
        (inner / name).mkdir(parents=True)
    (inner / ".ipynb_checkpoints").mkdir()  # hidden: not data
    (inner / "notes.txt").write_text("a file")  # files are not folders
    (tmp_path / "docs").mkdir()  # beside the container, not beside the cases
    cases = find_case_dirs(tmp_path)
    misnamed = misnamed_dirs(tmp_path, cases)
    assert list(misnamed) == ["Training/BraTS2021_1 (1)", "Training/zz_case"]
    assert (
        "folder name 'zz_case' is not a BraTS case name" in misnamed["Training/zz_case"]
    )
    assert misnamed_dirs(inner, find_case_dirs(inner)) == {
        name: misnamed[f"Training/{name}"] for name in ("BraTS2021_1 (1)", "zz_case")
    }
    assert misnamed_dirs(tmp_path, []) == {}


# --------------------------------------------------------------------- read_case
@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_read_case_keeps_order_dtype_and_axes(tmp_path, suffix):
    case = _case(tmp_path, "BraTS2021_00000", suffix=suffix)
    volumes, seg = read_case(case, ["t2", "flair"])
    ramp = np.arange(np.prod(SHAPE), dtype=np.int16).reshape(SHAPE)
    assert len(volumes) == 2
    # In the requested order: t2 (written with +300), then flair (+0).
    np.testing.assert_array_equal(volumes[0], ramp + 300)
    np.testing.assert_array_equal(volumes[1], ramp)
    # As stored on disk: int16 and uint8, not float64, and (x, y, z) unchanged.
    assert volumes[0].dtype == np.int16 and seg.dtype == np.uint8
    assert seg.shape == SHAPE and seg[1, 2, 1] == 4 and seg.sum() == 4


def test_read_case_does_not_reorient_by_the_affine(tmp_path):
    # A flipped, scaled affine: the array comes back as written (the loader
    # slices the stored z axis), not resampled or reoriented to RAS.
    case = tmp_path / "BraTS2021_00000"
    case.mkdir()
    data = np.arange(np.prod(SHAPE), dtype=np.int16).reshape(SHAPE)
    affine = np.diag([-1.0, -2.0, 3.0, 1.0])
    _write(data, case / "BraTS2021_00000_flair.nii.gz", affine)
    _write(np.zeros(SHAPE, np.uint8), case / "BraTS2021_00000_seg.nii.gz", affine)
    volumes, _ = read_case(case, ["flair"])
    np.testing.assert_array_equal(volumes[0], data)


def test_compressed_file_wins_over_uncompressed(tmp_path):
    case = _case(tmp_path, "BraTS2021_00000", modalities=("flair",))
    _write(np.full(SHAPE, 9, np.int16), case / "BraTS2021_00000_flair.nii")
    volumes, _ = read_case(case, ["flair"])
    assert volumes[0].max() != 9  # the .nii.gz one


def test_missing_modality_names_the_expected_file(tmp_path):
    case = _case(tmp_path, "BraTS2021_00007", modalities=("flair", "t2"))
    with pytest.raises(FileNotFoundError, match="Missing t1 file for patient") as info:
        read_case(case, ["flair", "t1"])
    assert "BraTS2021_00007_t1.nii.gz" in str(info.value)
    (case / "BraTS2021_00007_seg.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="Missing seg file"):
        read_case(case, ["flair"])


def test_shape_mismatch_names_both_files(tmp_path):
    case = _case(tmp_path, "BraTS2021_00000", modalities=("flair", "t1"))
    _write(np.ones((3, 4, 5), np.int16), case / "BraTS2021_00000_t1.nii.gz")
    with pytest.raises(
        ValueError, match="Shape mismatch in patient BraTS2021_00000"
    ) as info:
        read_case(case, ["flair", "t1"])
    message = str(info.value)
    assert "BraTS2021_00000_t1.nii.gz is (3, 4, 5)" in message
    assert "BraTS2021_00000_seg.nii.gz is (3, 4, 2)" in message


@pytest.mark.parametrize(
    "labels, dtype, shown",
    [
        ([0, 3, 4], np.uint8, "3"),  # BraTS 2023's enhancing tumour
        ([0, 5, 2], np.uint8, "5"),
        ([0, -1, 2], np.int16, "-1"),
        ([0, 2.5, 4], np.float32, "2.5"),
    ],
)
def test_seg_labels_outside_the_brats_set_are_refused(tmp_path, labels, dtype, shown):
    seg = np.zeros(SHAPE, dtype=dtype)
    seg.flat[: len(labels)] = labels
    case = _case(tmp_path, "BraTS2021_00000", modalities=("flair",), seg=seg)
    with pytest.raises(ValueError, match=r"_seg\.nii\.gz' has labels outside") as info:
        read_case(case, ["flair"])
    assert f": {shown}." in str(info.value)


def test_float_seg_with_brats_labels_is_accepted(tmp_path):
    seg = np.zeros(SHAPE, dtype=np.float32)
    seg.flat[:4] = [0, 1, 2, 4]
    case = _case(tmp_path, "BraTS2021_00000", modalities=("flair",), seg=seg)
    _, read = read_case(case, ["flair"])
    np.testing.assert_array_equal(read, seg)


# ------------------------------------------------------------------- read_volume
def test_singleton_fourth_axis_is_squeezed_but_a_real_one_refused(tmp_path):
    data = np.arange(np.prod(SHAPE), dtype=np.int16).reshape(SHAPE)
    one = _write(data[..., None, None], tmp_path / "one.nii.gz")
    np.testing.assert_array_equal(read_volume(one), data)
    two = _write(np.stack([data, data], axis=-1), tmp_path / "two.nii.gz")
    with pytest.raises(ValueError, match=r"holds a 4-D volume of shape \(3, 4, 2, 2\)"):
        read_volume(two)
    flat = _write(data[..., 0], tmp_path / "flat.nii.gz")
    with pytest.raises(ValueError, match="holds a 2-D volume"):
        read_volume(flat)


def test_non_finite_float_volume_is_refused(tmp_path):
    data = np.ones(SHAPE, dtype=np.float32)
    data[0, 0, 1] = np.nan
    path = _write(data, tmp_path / "nan.nii.gz")
    with pytest.raises(ValueError, match="nan.nii.gz' contains NaN or infinite"):
        read_volume(path)


def test_damaged_gzip_trailer_is_caught(tmp_path):
    # Flip a byte of the CRC in the gzip trailer: nibabel never reads that far
    # (once the file is larger than its first read, 16 x 16 x 8 int16 is), so
    # only the full read of _check_gzip can see it.
    data = np.arange(16 * 16 * 8, dtype=np.int16).reshape(16, 16, 8)
    path = _write(data, tmp_path / "crc.nii.gz")
    raw = bytearray(path.read_bytes())
    raw[-8] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="Could not read .*crc.nii.gz.*CRC") as info:
        read_volume(path)
    assert "corrupt or truncated" in str(info.value)
    assert "on_error='skip'" in str(info.value)


def test_garbage_file_is_a_value_error_naming_it(tmp_path):
    path = tmp_path / "junk.nii.gz"
    path.write_bytes(gzip.compress(b"not a nifti header"))
    with pytest.raises(ValueError, match="Could not read .*junk.nii.gz"):
        read_volume(path)
