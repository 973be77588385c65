"""Per-channel constants (normalisation, grey and hue weights) held on each device once.

Building a small tensor on a GPU is a host-to-device copy that waits for the host; the augmentations
and the normalisation would otherwise make one per constant and call, several per chunk of images.
"""

from __future__ import annotations

from functools import cache

import torch


@cache
def channel_constant(
    values: tuple[float, ...], device: torch.device, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``values`` as a ``(C, 1, 1)`` tensor, which broadcasts over ``(..., C, H, W)`` images; shared, so
    callers must not modify it."""
    return torch.tensor(values, device=device, dtype=dtype).view(-1, 1, 1)
