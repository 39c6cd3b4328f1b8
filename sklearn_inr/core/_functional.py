"""The INR forward pass in differentiable torch ops: one function, every family.

The batched engine (:class:`~sklearn_inr.core.BatchedINR`) writes its
gradients by hand and has no second derivatives. Whatever must differentiate
through a fit (learned initialisations, latent modulations) runs this
function instead; it applies the model table's encoding and activation, so
it knows every registered family.

Its float operations are, op for op, those the learned inits were written
with (their results must not change by a bit): batched weights go through
``torch.baddbmm``, shared weights through ``hidden @ weight.T + bias``.
"""

from __future__ import annotations

import torch

from ._models import get_model

__all__ = ["functional_forward"]


def functional_forward(
    spec, weights, biases, coords: torch.Tensor, shifts: torch.Tensor | None = None
) -> torch.Tensor:
    """Outputs of INRs of ``spec`` at ``coords``, differentiable everywhere.

    Parameters
    ----------
    spec : INRSpec
    weights : list of tensors of shape (B, out, in) or (out, in)
        Each Linear layer's weight, input layer first (as
        :func:`~sklearn_inr.unflatten_theta` gives them). 3-D: one network
        per row (computed with ``torch.baddbmm``); 2-D: one network shared
        by the batch (``hidden @ weight.T + bias``).
    biases : list of tensors of shape (B, out) or (out,)
        Matching ``weights``.
    coords : tensor of shape (n_pixels, in_features)
        Raw coordinates; the model's encoding (Fourier features) is applied
        here.
    shifts : tensor of shape (B, hidden_layers, hidden_features), default=None
        Shift modulations: ``shifts[:, k - 1]`` is added to the
        pre-activation of hidden layer ``k`` (layers ``1 .. hidden_layers``,
        the ``width -> width`` ones).

    Returns
    -------
    outputs : tensor of shape (B, n_pixels, out_features)
        Logits or intensities. ``B`` is 1 when neither the weights nor the
        shifts are batched.

    Examples
    --------
    >>> import torch
    >>> from sklearn_inr import INRSpec, make_coordinates, unflatten_theta
    >>> from sklearn_inr.core import functional_forward
    >>> spec = INRSpec("gauss", hidden_features=8, hidden_layers=1)
    >>> theta = torch.as_tensor(spec.init_theta(0)).expand(3, -1)
    >>> weights, biases = unflatten_theta(theta, spec.layer_shapes)
    >>> functional_forward(spec, weights, biases, make_coordinates((4, 4))).shape
    torch.Size([3, 16, 1])
    """
    model = get_model(spec.model)
    hidden = model.encode(coords, spec)
    batched = weights[0].dim() == 3
    if batched:
        hidden = hidden.expand(weights[0].shape[0], -1, -1)
    last = len(weights) - 1
    for k, (weight, bias) in enumerate(zip(weights, biases)):
        if batched:
            pre = torch.baddbmm(bias.unsqueeze(1), hidden, weight.transpose(1, 2))
        else:
            pre = hidden @ weight.T + bias
        if shifts is not None and 1 <= k <= spec.hidden_layers:
            pre = pre + shifts[:, k - 1].unsqueeze(1)
        if k == last:
            return pre if pre.dim() == 3 else pre.unsqueeze(0)
        hidden = model.activate(pre, spec)
    raise AssertionError("unreachable")  # pragma: no cover
