"""The fitted skorch net of :class:`~sklearn_inr.MLPClassifier` as plain data, and back.

skorch pickles its module into an opaque byte string and unpickles it with
plain pickle, which would defeat the type audit of ``skops.io``. The
classifier therefore persists the module's weights as NumPy arrays and the
history as plain lists, and rebuilds the net from them on loading.
"""

from __future__ import annotations

import numpy as np
import torch
from skorch.history import History

from ._mlp_network import cuda_indices

__all__ = ["net_to_state", "net_from_state"]


def net_to_state(net, history) -> tuple[dict[str, np.ndarray], list]:
    """The weights of ``net.module_`` as arrays, and ``history`` as plain lists."""
    module_state = {
        name: tensor.detach().cpu().numpy()
        for name, tensor in net.module_.state_dict().items()
    }
    plain_history = [
        {
            key: [dict(batch) for batch in value] if key == "batches" else value
            for key, value in epoch.items()
        }
        for epoch in history
    ]
    return module_state, plain_history


def net_from_state(make_net, config: dict, module_state: dict, history):
    """A net from ``make_net(config)``, with the saved weights and history.

    A net trained on CUDA loads on CPU where CUDA is not available.
    """
    config = dict(config)
    if config["device"].startswith("cuda") and not torch.cuda.is_available():
        config["device"] = "cpu"
    net = make_net(config)
    # initialize() draws a throwaway random init: keep the global RNG as is.
    with torch.random.fork_rng(devices=cuda_indices(config["device"])):
        net.initialize()
    net.module_.load_state_dict(
        {name: torch.as_tensor(array) for name, array in module_state.items()}
    )
    net.history_ = History(history)
    return net
