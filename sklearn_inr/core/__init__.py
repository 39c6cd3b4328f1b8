"""The compute core: what an INR is and how a batch of them trains.

The model table, coordinates, theta's layout, the batched forward/backward
engine behind its interface, the functional forward, losses, optimisers and
devices. Plain torch: it knows nothing of caches, scikit-learn or files
(but for reading INR zoos' ``state_dict`` files, in ``_zoo.py``).
"""

from ._buffers import chunk_key, padded_pixels
from ._device import (
    PRECISIONS,
    gemm_dtype,
    matmul_precision,
    parse_device,
    resolve_device,
    torch_threads,
)
from ._engine import BatchedINR, bytes_per_batch, render_batch
from ._functional import functional_forward
from ._functions import LOSSES, get_loss
from ._interface import Engine
from ._kfac import KFAC, KFAC_DEFAULTS, KFACBlock
from ._models import (
    MODELS,
    ModelType,
    get_activation,
    get_model,
    model_names,
    register_model,
)
from ._networks import (
    INRSpec,
    flatten_theta,
    layer_slices,
    make_coordinates,
    theta_to_module,
    unflatten_theta,
)
from ._optim import make_adam
from ._zoo import theta_from_state_dicts, theta_to_state_dicts

__all__ = [
    "LOSSES",
    "MODELS",
    "PRECISIONS",
    "BatchedINR",
    "bytes_per_batch",
    "chunk_key",
    "Engine",
    "flatten_theta",
    "functional_forward",
    "gemm_dtype",
    "get_activation",
    "get_loss",
    "get_model",
    "INRSpec",
    "KFAC",
    "KFAC_DEFAULTS",
    "KFACBlock",
    "layer_slices",
    "make_adam",
    "make_coordinates",
    "matmul_precision",
    "model_names",
    "ModelType",
    "padded_pixels",
    "parse_device",
    "register_model",
    "render_batch",
    "resolve_device",
    "theta_from_state_dicts",
    "theta_to_module",
    "theta_to_state_dicts",
    "torch_threads",
    "unflatten_theta",
]
