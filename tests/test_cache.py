import os
import pickle
import shutil
import struct
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest

from sklearn_inr.fitting._cache import ArrayStore
from sklearn_inr.fitting._seeds import content_digest


class _Payload:
    """Unpickling it creates the folder ``marker``: code run from a cache file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def _keys(n):
    return [content_digest(np.array([k]), {"test": "cache"}) for k in range(n)]


def _filled_store(tmp_path, n=3):
    store = ArrayStore(tmp_path / "cache")
    keys = _keys(n)
    for k, key in enumerate(keys):
        store.save(key, theta=np.arange(4.0) + k, losses=np.full(3, k, np.float32))
    return store, keys


def _entry_files(store):
    return sorted(store.root.rglob("*.npz"))


def test_payload_is_live(tmp_path):
    # The payload used below does run code when unpickled: the tests using it
    # would catch a load that unpickles.
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()


@pytest.mark.parametrize("planted", ["raw_pickle", "npz_field", "npz_key", "npy"])
def test_planted_pickles_are_never_executed(tmp_path, planted):
    store, keys = _filled_store(tmp_path)
    marker = tmp_path / "marker"
    files = _entry_files(store)
    assert len(files) == len(keys)
    payload = np.empty(1, dtype=object)
    payload[0] = _Payload(marker)
    for path, key in zip(files, sorted(keys)):
        assert path.name == f"{key}.npz"
        with open(path, "wb") as f:
            if planted == "raw_pickle":
                pickle.dump(_Payload(marker), f)
            elif planted == "npy":
                np.save(f, payload)
            elif planted == "npz_field":
                np.savez(f, __key__=np.str_(key), theta=payload, losses=payload)
            else:
                np.savez(f, __key__=payload, theta=np.zeros(4))
    for key in keys:
        assert store.load(key, ["theta", "losses"]) is None
        assert store.load(key, ["theta"]) is None
    assert not marker.exists()


def test_good_entry_round_trips_exactly(tmp_path):
    store = ArrayStore(tmp_path)
    key = _keys(1)[0]
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(7,)).astype(np.float32)
    history = rng.normal(size=(2, 5))
    steps = np.arange(5)
    store.save(key, theta=theta, history=history, steps=steps)
    loaded = store.load(key, ["theta", "history", "steps"])
    assert set(loaded) == {"theta", "history", "steps"}
    for name, array in [("theta", theta), ("history", history), ("steps", steps)]:
        assert loaded[name].dtype == array.dtype
        np.testing.assert_array_equal(loaded[name], array)
    # Fields not asked for are not returned.
    assert set(store.load(key, ["steps"])) == {"steps"}


def test_missing_key_is_a_miss(tmp_path):
    store, keys = _filled_store(tmp_path)
    assert store.load(_keys(4)[-1], ["theta"]) is None
    assert store.load(keys[0], ["theta"]) is not None


def test_truncated_and_empty_files_are_misses(tmp_path):
    store, (truncated, empty, intact) = _filled_store(tmp_path)
    path = store._path(truncated)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    store._path(empty).write_bytes(b"")
    assert store.load(truncated, ["theta"]) is None
    assert store.load(empty, ["theta"]) is None
    np.testing.assert_array_equal(
        store.load(intact, ["theta"])["theta"], np.arange(4.0) + 2
    )


def test_file_of_another_key_is_a_miss(tmp_path):
    store, (a, b, _) = _filled_store(tmp_path)
    shutil.copyfile(store._path(a), store._path(b))
    assert store.load(b, ["theta", "losses"]) is None
    np.testing.assert_array_equal(store.load(a, ["theta"])["theta"], np.arange(4.0))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_entries_are_misses(tmp_path, bad):
    store = ArrayStore(tmp_path)
    key = _keys(1)[0]
    theta = np.arange(4.0)
    theta[2] = bad
    store.save(key, theta=theta, steps=np.arange(3))
    assert store.load(key, ["theta"]) is None
    assert store.load(key, ["steps", "theta"]) is None
    # A finite field of the same entry still loads on its own.
    np.testing.assert_array_equal(store.load(key, ["steps"])["steps"], np.arange(3))


def test_plain_npy_file_at_an_entry_path_is_a_miss(tmp_path):
    store, (key, *_) = _filled_store(tmp_path)
    with open(store._path(key), "wb") as f:
        np.save(f, np.arange(4.0))
    assert store.load(key, ["theta"]) is None


def test_damaged_zip_directory_is_a_miss(tmp_path):
    store, (key, *_) = _filled_store(tmp_path)
    path = store._path(key)
    data = bytearray(path.read_bytes())
    directory = data.index(b"PK\x01\x02")  # first central directory record
    data[directory + 6] ^= 0xFF  # its "version needed to extract"
    path.write_bytes(bytes(data))
    assert store.load(key, ["theta"]) is None


def test_damaged_compressed_npz_is_a_miss(tmp_path):
    store, (key, *_) = _filled_store(tmp_path)
    path = store._path(key)
    with open(path, "wb") as f:
        np.savez_compressed(f, __key__=np.str_(key), theta=np.arange(4.0))
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("__key__.npy")
    name_length, extra_length = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    start = info.header_offset + 30 + name_length + extra_length
    data[start] = 0b111  # a final deflate block of the reserved (invalid) type
    path.write_bytes(bytes(data))
    assert store.load(key, ["theta"]) is None


def test_entry_missing_a_field_is_a_miss(tmp_path):
    store, keys = _filled_store(tmp_path)
    assert store.load(keys[0], ["theta", "not_saved"]) is None
    assert store.load(keys[0], ["theta"]) is not None


def test_damaged_entry_is_overwritten_by_the_next_save(tmp_path):
    store, (key, *_) = _filled_store(tmp_path)
    store._path(key).write_bytes(b"garbage")
    assert store.load(key, ["theta"]) is None
    store.save(key, theta=np.ones(2))
    np.testing.assert_array_equal(store.load(key, ["theta"])["theta"], np.ones(2))


def test_entries_live_under_location_and_kind(tmp_path):
    store = ArrayStore(tmp_path, kind="init")
    key = _keys(1)[0]
    store.save(key, theta=np.zeros(2))
    assert store.root == tmp_path / "sklearn_inr" / "init"
    assert _entry_files(store) == [
        tmp_path / "sklearn_inr" / "init" / key[:2] / f"{key}.npz"
    ]
    # Another kind in the same location does not see it.
    assert ArrayStore(tmp_path, kind="theta").load(key, ["theta"]) is None


def test_save_leaves_no_temporary_files(tmp_path):
    store, keys = _filled_store(tmp_path, n=5)
    store.save(keys[0], theta=np.zeros(3))  # an overwrite too
    assert list(tmp_path.rglob("*.tmp")) == []
    assert len(_entry_files(store)) == 5


def test_failed_save_leaves_no_temporary_file_and_keeps_the_entry(tmp_path):
    class Unsaveable:
        def __array__(self, dtype=None, copy=None):
            raise RuntimeError("cannot convert")

    store, (key, *_) = _filled_store(tmp_path)
    with pytest.raises(RuntimeError, match="cannot convert"):
        store.save(key, theta=Unsaveable())
    assert list(tmp_path.rglob("*.tmp")) == []
    np.testing.assert_array_equal(store.load(key, ["theta"])["theta"], np.arange(4.0))


@pytest.mark.parametrize("kind", ["theta", "init"])
@pytest.mark.parametrize("as_type", [str, Path, joblib.Memory])
def test_from_memory_accepts_folders_and_memory(tmp_path, as_type, kind):
    store = ArrayStore.from_memory(as_type(str(tmp_path)), kind=kind)
    assert isinstance(store, ArrayStore)
    assert Path(store.root) == tmp_path / "sklearn_inr" / kind


@pytest.mark.parametrize("memory", [None, joblib.Memory(None)])
def test_from_memory_without_location_is_none(memory):
    assert ArrayStore.from_memory(memory) is None


@pytest.mark.parametrize(
    "memory, type_name", [(3, "int"), (b"/tmp", "bytes"), ({"location": "x"}, "dict")]
)
def test_from_memory_rejects_other_types(memory, type_name):
    with pytest.raises(TypeError, match=type_name):
        ArrayStore.from_memory(memory)


def test_any_damaged_byte_or_truncation_is_a_miss_or_the_exact_entry(tmp_path):
    # Every single-byte flip and every truncation of a real entry: never an
    # error, never a wrong answer (a flip of an unchecked byte, e.g. a zip
    # timestamp, may still load the right arrays).
    store = ArrayStore(tmp_path)
    key = _keys(1)[0]
    theta = np.arange(3.0)
    store.save(key, theta=theta)
    path = store._path(key)
    original = path.read_bytes()
    n_misses = 0
    for position in range(len(original)):
        flipped = bytearray(original)
        flipped[position] ^= 0xFF
        for damaged in (bytes(flipped), original[:position]):
            path.write_bytes(damaged)
            loaded = store.load(key, ["theta"])
            if loaded is None:
                n_misses += 1
            else:
                np.testing.assert_array_equal(loaded["theta"], theta)
    assert n_misses > len(original)


# ------------------------------------------- what sits at an entry's path
def _run_with_timeout(function, seconds=10.0):
    """``function()``'s result, or a failure if it blocks past ``seconds``."""
    import threading

    result = {}
    thread = threading.Thread(target=lambda: result.update(value=function()))
    thread.daemon = True  # a blocked reader must not keep the tests alive
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the load blocked"
    return result["value"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_at_an_entry_path_is_a_miss_and_never_blocks(tmp_path):
    store, (key, *_) = _filled_store(tmp_path)
    path = store._path(key)
    path.unlink()
    os.mkfifo(path)
    assert _run_with_timeout(lambda: store.load(key, ["theta"])) is None
    assert store.n_damaged == 1


def test_symlink_at_an_entry_path_is_a_miss(tmp_path):
    store, (key, other, _) = _filled_store(tmp_path)
    path = store._path(key)
    path.unlink()
    # A link to a valid entry of the same key: still not followed.
    target = tmp_path / "elsewhere.npz"
    np.savez(target, __key__=np.str_(key), theta=np.arange(4.0))
    path.symlink_to(target)
    assert store.load(key, ["theta"]) is None


def test_directory_at_an_entry_path_is_a_miss_and_a_save_is_skipped(tmp_path):
    store, (key, *_) = _filled_store(tmp_path)
    path = store._path(key)
    path.unlink()
    path.mkdir()
    assert store.load(key, ["theta"]) is None
    # The save cannot replace a directory: no error, the fit is not lost.
    assert store.save(key, theta=np.arange(4.0)) is False
    assert isinstance(store.save_error, IsADirectoryError | PermissionError)
    with pytest.warns(UserWarning, match="Could not write to the cache"):
        store.warn_failed_saves()
    assert path.is_dir() and not list(path.parent.glob("*.tmp"))


def test_full_disk_skips_the_save_with_one_warning(tmp_path, monkeypatch):
    import errno

    store = ArrayStore(tmp_path)
    key = _keys(1)[0]

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", no_space)
    assert store.save(key, theta=np.arange(4.0)) is False
    assert store.save(key, theta=np.arange(4.0)) is False
    with pytest.warns(UserWarning, match="No space left") as record:
        store.warn_failed_saves()
    assert len(record) == 1
    assert not list(tmp_path.rglob("*.tmp"))
    store.warn_failed_saves()  # said once: nothing more


def _bomb(path, key, shape, dtype=np.float64):
    """An entry with the right key whose ``theta`` inflates to ``shape``."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in [("__key__", np.str_(key)), ("__checksum__", np.str_(""))]:
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, np.asarray(array))
        with archive.open("theta.npy", "w", force_zip64=True) as member:
            header = {"descr": np.dtype(dtype).str, "fortran_order": False,
                      "shape": shape}  # fmt: skip
            np.lib.format.write_array_header_1_0(member, header)
            zeros = bytes(2**20)
            n_bytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            for _ in range(n_bytes // len(zeros)):
                member.write(zeros)


def test_compressed_bomb_is_refused_before_it_is_inflated(tmp_path):
    import tracemalloc

    store = ArrayStore(tmp_path)
    key = _keys(1)[0]
    path = store._path(key)
    path.parent.mkdir(parents=True)
    _bomb(path, key, shape=(9 * 2**20,))  # 72 MiB of zeros in ~72 KiB
    assert path.stat().st_size < 2**20
    tracemalloc.start()
    try:
        assert store.load(key, {"theta": (4,)}) is None
        assert store.load(key, ["theta"]) is None  # shape unknown: size capped
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"the load allocated {peak / 2**20:.0f} MiB"


def test_member_whose_size_disagrees_with_its_header_is_a_miss(tmp_path):
    store = ArrayStore(tmp_path)
    key = _keys(1)[0]
    path = store._path(key)
    path.parent.mkdir(parents=True)
    # The header says 4 numbers, the member holds a megabyte more.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in [("__key__", np.str_(key)), ("__checksum__", np.str_(""))]:
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, np.asarray(array))
        with archive.open("theta.npy", "w") as member:
            np.lib.format.write_array(member, np.arange(4.0))
            member.write(bytes(2**20))
    assert store.load(key, {"theta": (4,)}) is None


def test_object_dtype_and_unexpected_shapes_are_refused_from_the_header(tmp_path):
    store = ArrayStore(tmp_path)
    key = _keys(1)[0]
    store.save(key, theta=np.arange(4.0))
    assert store.load(key, {"theta": (4,)}) is not None
    assert store.load(key, {"theta": (5,)}) is None
    assert store.load(key, {"theta": (4,), "missing": None}) is None


# ------------------------------------------------------- memory= at the door
def test_memory_empty_string_is_refused(tmp_path):
    with pytest.raises(ValueError, match="empty path"):
        ArrayStore.from_memory("")


def test_memory_with_a_tilde_is_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    store = ArrayStore.from_memory("~/cache")
    assert store.location == tmp_path / "cache"


def test_memory_that_is_a_file_is_refused_before_any_work(tmp_path):
    file = tmp_path / "file"
    file.write_text("not a folder")
    for memory in (file, file / "below"):
        with pytest.raises(ValueError, match="is a file, not a folder"):
            ArrayStore(memory).check_location()


def test_memory_that_cannot_be_written_warns_before_any_work(tmp_path):
    # /proc refuses new folders even to root (permission bits would not).
    if not Path("/proc/self").exists():
        pytest.skip("needs /proc")
    with pytest.warns(UserWarning, match="cannot be written"):
        ArrayStore("/proc/sklearn_inr_test").check_location()
    ArrayStore(tmp_path / "new").check_location()  # a fine folder: silent
    assert (tmp_path / "new" / "sklearn_inr" / "theta").is_dir()


@pytest.mark.parametrize("dtype", ["<U100000", "V100000", "S100000"])
def test_wide_dtypes_of_the_right_shape_are_refused_from_the_header(tmp_path, dtype):
    # The right shape, but each element declares 100 kB: 4 elements could as
    # well declare gigabytes.
    store = ArrayStore(tmp_path)
    key = _keys(1)[0]
    path = store._path(key)
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in [("__key__", np.str_(key)), ("__checksum__", np.str_(""))]:
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, np.asarray(array))
        with archive.open("theta.npy", "w") as member:
            np.lib.format.write_array(member, np.zeros(4, dtype=dtype))
    assert store.load(key, {"theta": (4,)}) is None
