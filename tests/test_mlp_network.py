import pytest
import torch
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

from sklearn_inr.estimators._mlp_network import MLPModule, cuda_indices, make_net


def _config(**changes):
    config = dict(n_classes=2, input_dim=5, hidden_layer_sizes=(7, 3),
                  activation="tanh", dropout=0.0, weight_decay=0.0, lr=1e-3,
                  max_epochs=1, batch_size=4, device="cpu", verbose=0)  # fmt: skip
    return {**config, **changes}


def test_module_stacks_linear_activation_dropout():
    module = MLPModule(5, (7, 3), activation="tanh", dropout=0.5, output_dim=2)
    kinds = [type(layer) for layer in module.layers]
    assert kinds == [torch.nn.Linear, torch.nn.Tanh, torch.nn.Dropout] * 2 + [
        torch.nn.Linear
    ]
    assert module(torch.zeros(4, 5)).shape == (4, 2)
    assert torch.nn.Dropout not in map(type, MLPModule(5, (7,)).layers)


@pytest.mark.parametrize(
    "n_classes, net_type, outputs",
    [(2, NeuralNetBinaryClassifier, 1), (3, NeuralNetClassifier, 3)],
)
def test_binary_nets_have_one_logit(n_classes, net_type, outputs):
    net = make_net(_config(n_classes=n_classes)).initialize()
    assert type(net) is net_type
    assert net.module_.layers[-1].out_features == outputs
    assert net.module_.layers[0].in_features == 5
    if n_classes > 2:
        assert isinstance(net.criterion_, torch.nn.CrossEntropyLoss)


def test_cuda_indices_only_for_cuda():
    assert cuda_indices("cpu") == []
    assert cuda_indices("cuda:1") == [1]


def test_small_cpu_training_runs_on_one_thread():
    from sklearn_inr.estimators._mlp_network import training_threads

    small = {"n_classes": 2, "input_dim": 100, "hidden_layer_sizes": (16,),
             "batch_size": 32, "device": "cpu"}  # fmt: skip
    large = {**small, "input_dim": 264_193, "hidden_layer_sizes": (256,)}
    # conftest pins torch to one thread: start from two, so that a
    # training_threads that did nothing could not pass.
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with training_threads(small):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with training_threads(large):
            assert torch.get_num_threads() == 2
        with training_threads({**small, "device": "cuda"}):
            assert torch.get_num_threads() == 2
        # Restored after an error inside, too.
        with pytest.raises(RuntimeError, match="inside"):
            with training_threads(small):
                raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
