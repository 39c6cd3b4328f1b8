"""The torch network behind :class:`~sklearn_inr.MLPClassifier`, and the skorch nets."""

from __future__ import annotations

import contextlib

import torch
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier
from skorch.callbacks import EarlyStopping, InputShapeSetter
from skorch.dataset import ValidSplit
from torch import nn

from ..core import make_adam, torch_threads

__all__ = [
    "MLP_ACTIVATIONS",
    "SINGLE_THREAD_MACS",
    "MLPModule",
    "cuda_indices",
    "make_net",
    "make_skorch_net",
    "training_callbacks",
    "training_threads",
]

MLP_ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "logistic": nn.Sigmoid,
    "gelu": nn.GELU,
    "identity": nn.Identity,
}


class MLPModule(nn.Module):
    """Plain feed-forward network: (Linear, activation, Dropout) x k, Linear.

    ``input_dim`` is set from the data by skorch's ``InputShapeSetter``.
    """

    def __init__(
        self,
        input_dim: int = 1,
        hidden_layer_sizes: tuple[int, ...] = (256,),
        activation: str = "relu",
        dropout: float = 0.0,
        output_dim: int = 1,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = input_dim
        for size in hidden_layer_sizes:
            layers.append(nn.Linear(width, size))
            layers.append(MLP_ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, output_dim))
        self.layers = nn.Sequential(*layers)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.layers(X)


def make_net(config: dict, train_split=None, callbacks=()):
    """The skorch net for a ``config`` of plain values (see ``fit``)."""
    module_params = {
        name: config[name]
        for name in ("input_dim", "hidden_layer_sizes", "activation", "dropout")
    }
    return make_skorch_net(
        MLPModule, module_params, config, train_split=train_split, callbacks=callbacks
    )


def make_skorch_net(
    module, module_params: dict, config: dict, train_split=None, callbacks=()
):
    """A skorch classifier net training ``module`` with Adam.

    Binary (``config["n_classes"] == 2``): one output logit and skorch's
    ``NeuralNetBinaryClassifier`` (``BCEWithLogitsLoss``); otherwise one logit
    per class and cross-entropy. ``module`` takes ``module_params`` and
    ``output_dim``; ``config`` gives the training settings.
    """
    binary = config["n_classes"] == 2
    net_cls = NeuralNetBinaryClassifier if binary else NeuralNetClassifier
    extra = {} if binary else {"criterion": nn.CrossEntropyLoss}
    return net_cls(
        module=module,
        **{f"module__{name}": value for name, value in module_params.items()},
        module__output_dim=1 if binary else config["n_classes"],
        optimizer=make_adam,
        optimizer__weight_decay=config["weight_decay"],
        lr=config["lr"],
        max_epochs=config["max_epochs"],
        batch_size=config["batch_size"],
        iterator_train__shuffle=True,
        train_split=train_split,
        callbacks=list(callbacks),
        device=config["device"],
        verbose=config["verbose"],
        **extra,
    )


# Multiply-adds per training step below which a CPU step runs on one thread:
# on 2 cores, a (12,737 -> 256 -> 1) classifier with batches of 32 (1e8)
# trained 2.5x faster on one thread beside other work (and no slower alone),
# as the OpenMP threads of small products spend their time waiting.
SINGLE_THREAD_MACS = 2**28


def training_threads(config: dict):
    """One torch thread for a small network's CPU training; else as it is."""
    output_dim = 1 if config["n_classes"] == 2 else config["n_classes"]
    sizes = [config["input_dim"], *config["hidden_layer_sizes"], output_dim]
    n_weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    macs = n_weights * config["batch_size"]
    if torch.device(config["device"]).type == "cpu" and macs < SINGLE_THREAD_MACS:
        return torch_threads(1)
    return contextlib.nullcontext()


def cuda_indices(device: str) -> list[int]:
    """CUDA devices whose RNG ``torch.random.fork_rng`` must save and restore."""
    device = torch.device(device)
    if device.type != "cuda":
        return []
    return [torch.cuda.current_device() if device.index is None else device.index]


def training_callbacks(
    early_stopping: bool, validation_fraction: float, n_iter_no_change: int, seed: int
):
    """skorch's ``train_split`` and callbacks for a fit.

    The input size is read from the data; with ``early_stopping``, a
    stratified hold-out seeded by ``seed`` and a patience of
    ``n_iter_no_change`` epochs (best weights kept). Returns
    ``(train_split, callbacks)``.
    """
    callbacks = [("input_shape", InputShapeSetter(param_name="input_dim"))]
    if not early_stopping:
        return None, callbacks
    train_split = ValidSplit(cv=validation_fraction, stratified=True, random_state=seed)
    stopping = EarlyStopping(
        monitor="valid_loss", patience=n_iter_no_change, load_best=True
    )
    return train_split, [*callbacks, ("early_stopping", stopping)]
