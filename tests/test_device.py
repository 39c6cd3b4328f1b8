import threading

import pytest
import torch

from sklearn_inr.core._device import (
    gemm_dtype,
    matmul_precision,
    parse_device,
    resolve_device,
    torch_threads,
)


@pytest.mark.parametrize(
    "device, expected",
    [
        ("auto", "auto"),
        (None, "auto"),
        ("cpu", "cpu"),
        ("cuda", "cuda"),
        ("cuda:1", "cuda:1"),
        (torch.device("cpu"), "cpu"),
        (torch.device("cuda", 2), "cuda:2"),
    ],
)
def test_parse_device_does_not_need_the_device(device, expected):
    assert parse_device(device) == expected


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "", "cpu:0:1", 1.5, ["cpu"]])
def test_parse_device_rejects_bad_names(device):
    with pytest.raises(ValueError, match="device must be"):
        parse_device(device)


def test_resolve_device_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda", 1)])
def test_resolve_device_cuda_without_cuda_raises(device):
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device(device)


def test_resolve_device_rejects_bad_names():
    with pytest.raises(ValueError, match="device"):
        resolve_device("gpu")


def _other_count():
    return 3 if torch.get_num_threads() != 3 else 2


def test_torch_threads_sets_and_restores():
    before = torch.get_num_threads()
    n = _other_count()
    with torch_threads(n):
        assert torch.get_num_threads() == n
        with torch_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == n
    assert torch.get_num_threads() == before


def test_torch_threads_restores_after_an_exception():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="boom"):
        with torch_threads(_other_count()):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_torch_threads_in_a_worker_thread_leaves_the_main_thread_alone():
    before = torch.get_num_threads()
    n = _other_count()
    seen = {}
    inside = threading.Event()
    release = threading.Event()

    def work():
        try:
            with torch_threads(n):
                seen["inside"] = torch.get_num_threads()
                inside.set()
                release.wait(10)
        except BaseException as exc:  # reported in the main thread
            seen["error"] = exc
            inside.set()

    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert inside.wait(10)
        # While the worker is inside its block, the main thread keeps its count.
        assert torch.get_num_threads() == before
    finally:
        release.set()
        worker.join(10)
    assert "error" not in seen
    assert seen["inside"] == n
    assert torch.get_num_threads() == before


@pytest.mark.skipif(
    not hasattr(torch.backends.cuda.matmul, "fp32_precision"),
    reason="torch < 2.9 has only the legacy allow_tf32 flag",
)
def test_matmul_precision_sets_and_restores_the_process_setting():
    # The flag is a plain setting: it can be read and set without a GPU.
    matmul = torch.backends.cuda.matmul
    before = matmul.fp32_precision
    cuda = torch.device("cuda")
    with matmul_precision("auto", cuda):
        assert matmul.fp32_precision == "tf32"
        with matmul_precision("auto", cuda):  # a second worker thread
            pass
        assert matmul.fp32_precision == "tf32"  # held until the last leaves
    assert matmul.fp32_precision == before
    with matmul_precision("fp32", cuda):
        assert matmul.fp32_precision == "ieee"
    with matmul_precision("auto", torch.device("cpu")):
        assert matmul.fp32_precision == before
    assert gemm_dtype("bf16") == torch.bfloat16
    assert gemm_dtype("auto") is None and gemm_dtype("fp32") is None


@pytest.mark.parametrize("device", ["mps", "xla", "meta", torch.device("meta")])
def test_devices_torch_knows_but_the_engine_does_not_are_refused(device):
    with pytest.raises(ValueError, match=r"device=.* is not supported") as info:
        parse_device(device)
    assert "'cpu'" in str(info.value) and "'cuda'" in str(info.value)


def test_fit_inrs_refuses_an_unsupported_device_before_any_work(fit_counter):
    import numpy as np

    from sklearn_inr import fit_inrs

    with pytest.raises(ValueError, match="device='mps' is not supported"):
        fit_inrs(np.zeros((1, 4, 4)), hidden_features=4, hidden_layers=1,
                 n_steps=1, device="mps")  # fmt: skip
    assert fit_counter["images"] == 0
