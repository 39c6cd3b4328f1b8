"""Array steps of :func:`load_acdc`: slice choice, intensity scaling, resizing."""

import numpy as np
import torch

from ._brats import resize_slices


def pick_slice(depth, ed_mask, policy):
    """The slice z: the middle of the stack, or of the LV cavity in the ED mask."""
    if policy == "middle":
        return depth // 2
    zs = np.flatnonzero((ed_mask == 3).any(axis=(0, 1)))
    return int((zs[0] + zs[-1]) // 2)


def prepare(volume, mask, z, as_volumes, percentiles):
    """Scale a frame to [0, 1] by its percentiles; cut the slice (or keep the stack)."""
    lo, hi = np.percentile(volume, percentiles)
    part = volume if as_volumes else volume[:, :, z]
    # A constant frame (hi == lo) becomes all zeros instead of NaN.
    image = (part.astype(np.float32) - lo) / (hi - lo if hi > lo else 1.0)
    image = np.clip(image, 0, 1).astype(np.float32)
    if mask is not None and not as_volumes:
        mask = mask[:, :, z]
    if as_volumes:
        image = np.ascontiguousarray(image.transpose(2, 0, 1))
        mask = None if mask is None else np.ascontiguousarray(mask.transpose(2, 0, 1))
    return image, mask


def resize(image, mask, out_size, as_volumes):
    if not as_volumes:
        image = resize_slices(image[None, :, :, None], out_size)[0, :, :, 0]
    elif image.shape != out_size:
        # In plane first, anti-aliased, on the D slices as a batch; then across
        # slices, linear (stacks have few slices: no anti-aliasing needed).
        tensor = torch.from_numpy(image)[:, None]
        tensor = torch.nn.functional.interpolate(
            tensor, size=out_size[1:], mode="bilinear", antialias=True,
            align_corners=False,
        )[:, 0]  # fmt: skip
        h, w = out_size[1:]
        tensor = tensor.permute(1, 2, 0).reshape(1, h * w, -1)
        tensor = torch.nn.functional.interpolate(
            tensor, size=out_size[0], mode="linear", align_corners=False
        )
        image = tensor.reshape(h, w, -1).permute(2, 0, 1).clamp_(0, 1).numpy()
        image = np.ascontiguousarray(image, dtype=np.float32)
    if mask is not None and mask.shape != out_size:
        tensor = torch.from_numpy(mask.astype(np.float32))[None, None]
        tensor = torch.nn.functional.interpolate(
            tensor, size=out_size, mode="nearest-exact"
        )
        mask = tensor[0, 0].numpy().astype(np.uint8)
    return image, mask
