"""The torch network behind :class:`~sklearn_inr.MLPClassifier`, and its skorch net."""

from __future__ import annotations

import torch
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier
from torch import nn

__all__ = ["MLP_ACTIVATIONS", "MLPModule", "cuda_indices", "make_net"]

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
    binary = config["n_classes"] == 2
    net_cls = NeuralNetBinaryClassifier if binary else NeuralNetClassifier
    extra = {} if binary else {"criterion": nn.CrossEntropyLoss}
    return net_cls(
        module=MLPModule,
        module__input_dim=config["input_dim"],
        module__hidden_layer_sizes=config["hidden_layer_sizes"],
        module__activation=config["activation"],
        module__dropout=config["dropout"],
        module__output_dim=1 if binary else config["n_classes"],
        optimizer=torch.optim.Adam,
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


def cuda_indices(device: str) -> list[int]:
    """CUDA devices whose RNG ``torch.random.fork_rng`` must save and restore."""
    device = torch.device(device)
    if device.type != "cuda":
        return []
    return [torch.cuda.current_device() if device.index is None else device.index]
