"""The Kronecker factors of K-FAC, computed by the batched engine.

:class:`KroneckerFactors` is a mixin of :class:`~sklearn_inr.core.BatchedINR`:
it runs the engine's chunked forward pass and backpropagates a probe instead
of the loss's gradient, collecting each layer's input and output-gradient
second moments per network. The preconditioning itself lives in
:mod:`sklearn_inr.core._kfac`.
"""

from __future__ import annotations

import torch

from ._buffers import padded_pixels
from ._functions import get_loss

__all__ = ["KroneckerFactors"]


class KroneckerFactors:
    """What a batch of INRs adds to compute its K-FAC factors (a mixin).

    The host provides the engine's chunks, forward pass and gradient
    propagation (:class:`~sklearn_inr.core.BatchedINR`).
    """

    @torch.no_grad()
    def kronecker_factors(
        self, loss: str, probe: torch.Tensor, layers, *, max_pixels: int | None = None
    ) -> dict:
        """Each network's K-FAC factors of its Gauss-Newton matrix, per layer.

        For layer ``k`` with inputs ``a`` (a 1 appended, for the bias) and
        GEMM-output gradients ``g`` of the probe, the Gauss-Newton block of
        the image's mean loss is approximated by ``A (x) G`` with ``A`` the
        mean of ``a a^T`` over its pixels and ``G`` the mean of
        ``h g g^T / out_features``, ``h`` the loss's curvature at the output
        (Martens & Grosse, 2015). The gradient ``g`` is backpropagated from
        ``probe`` (+-1 per pixel and output: a Monte-Carlo estimate of the
        sum over outputs, exact for one output).

        Runs its own forward pass; writes no gradient.

        Parameters
        ----------
        loss : {"bce", "mse"}
        probe : tensor of shape (n_pixels padded, out_features)
        layers : iterable of int
            The layers whose factors are wanted.
        max_pixels : int, default=None
            Estimate the factors from every k-th chunk of pixels, k the
            smallest that keeps about this many (all pixels when None): a
            spread subset, set by the pixel count alone.

        Returns
        -------
        factors : dict
            ``{k: (A, G)}``, ``A`` of shape ``(B, in_k + 1, in_k + 1)``,
            ``G`` ``(B, out_k, out_k)`` (the unpadded outputs), in the
            parameters' dtype.
        """
        layers = sorted(set(layers))
        loss_fn, n_out = get_loss(loss), self.spec.out_features
        n_layers, lowest = len(self.weights), min(layers)
        factory = {"dtype": self.dtype, "device": self.device}
        factors = {}
        for k in layers:
            n_rows, n_in = self.weights[k].shape[1:]
            n_rows = n_out if k == n_layers - 1 else n_rows
            factors[k] = (
                torch.zeros((self.batch_size, n_in + 1, n_in + 1), **factory),
                torch.zeros((self.batch_size, n_rows, n_rows), **factory),
            )
        n_chunks = -(-padded_pixels(self.n_pixels) // self.chunk_pixels)
        stride = (
            1
            if max_pixels is None
            else max(1, n_chunks * self.chunk_pixels // max_pixels)
        )
        used = sum(
            max(0, min(start + self.chunk_pixels, self.n_pixels) - start)
            for start in range(0, n_chunks * self.chunk_pixels, self.chunk_pixels)[
                ::stride
            ]
        )
        self._gemm_operands()
        for images, pixels, valid, buffers in self._chunks():
            if (pixels.start // self.chunk_pixels) % stride:
                continue
            output = self._forward_chunk(images, pixels, buffers)
            grad = buffers["grad_output"]
            if valid:
                curvature = loss_fn.output_curvature(output[:, :valid, :n_out])
                torch.mul(
                    curvature.div_(used * n_out).sqrt_(),
                    probe[pixels.start : pixels.start + valid],
                    out=grad[:, :valid, :n_out],
                )
            if valid < grad.shape[1]:
                grad[:, valid:].zero_()
            for k in reversed(range(lowest, n_layers)):
                factor = 1.0 if k == n_layers - 1 else self.activation.gemm_scale
                if k in factors:
                    self._add_factors(
                        factors[k], k, grad, (images, pixels, valid, buffers),
                        factor, used,
                    )  # fmt: skip
                if k == lowest:
                    break
                grad = self._propagate(k, grad, images, buffers, factor)
        return factors

    def _add_factors(self, factors, k, grad, chunk, factor, used):
        """Add one chunk's share of layer ``k``'s ``(A, G)``, of ``used`` pixels."""
        images, pixels, valid, buffers = chunk
        input_factor, output_factor = factors[0][images], factors[1][images]
        n_in = input_factor.shape[1] - 1
        if valid:
            # Padded pixels have hidden activations too: only valid ones count.
            inputs = self._layer_input(k, images, pixels, buffers)[:, :valid]
            inputs = inputs.to(self.dtype)
            scale = 1.0 / used
            input_factor[:, :n_in, :n_in].baddbmm_(
                inputs.transpose(1, 2), inputs, alpha=scale
            )
            sums = inputs.sum(dim=1).mul_(scale)
            input_factor[:, :n_in, n_in] += sums
            input_factor[:, n_in, :n_in] += sums
            input_factor[:, n_in, n_in] += valid * scale
        rows = grad[:, :, : output_factor.shape[1]].to(self.dtype)
        output_factor.baddbmm_(rows.transpose(1, 2), rows, alpha=factor * factor)
