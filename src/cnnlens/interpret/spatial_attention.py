"""CBAM's spatial attention: the ``(N, 1, h, w)`` sigmoid map each CBAM block multiplies its input by.

Unlike Grad-CAM or the deconvnet this is not computed after the fact: it is the very map the forward pass used,
read from the ``gate`` submodule of each block's :class:`~cnnlens.models.attention.SpatialAttention`
through :func:`cnnlens.interpret.hooks.capture`. Upsampled to the input's size it can be overlaid on the images
and scored like any other heatmap.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret.hooks import capture
from cnnlens.models.attention import SpatialAttention
from cnnlens.models.modes import eval_mode


def spatial_gates(model: nn.Module) -> dict[str, str]:
    """Map each CBAM block (``ca1``) to the path of its spatial sigmoid (``ca1.spatial.gate``), in forward order."""
    return {
        name.split(".")[0]: f"{name}.gate"
        for name, module in model.named_modules()
        if isinstance(module, SpatialAttention)
    }


@torch.no_grad()
def spatial_attention_maps(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The spatial gate of every CBAM block for each image, as the forward pass in eval mode computed it.

    Args:
        model: a model with CBAM blocks; its modes are restored afterwards.
        images: the model's (normalised) input, ``(N, C, H, W)``.

    Returns:
        Block name (``ca1``) -> ``(N, 1, h, w)`` map in (0, 1) at that block's resolution, in forward order.
    """
    gates = spatial_gates(model)
    if not gates:
        raise CnnlensError("the model has no CBAM blocks: spatial attention exists only for attention: cbam")
    with eval_mode(model), capture(model, list(gates.values())) as outputs:
        model(images)
    return {block: outputs[path] for block, path in gates.items()}


def upsample_attention(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinearly resize ``(N, 1, h, w)`` (or ``(N, h, w)``) gate maps to ``(N, *size)``, values left as they are.

    Not rescaled: a gate value is a multiplier the model applied, so 0.5 keeps its meaning on an overlay.
    ``align_corners=False`` as in :func:`cnnlens.interpret.channel_maps.upsample`.
    """
    if maps.dim() == 3:
        maps = maps[:, None]
    if maps.dim() != 4 or maps.shape[1] != 1:
        raise CnnlensError(f"spatial attention maps are (N, 1, h, w) or (N, h, w), got {tuple(maps.shape)}")
    return F.interpolate(maps.float(), size=size, mode="bilinear", align_corners=False)[:, 0]


def spatial_attention_heatmap(model: nn.Module, images: torch.Tensor, block: str | None = None) -> torch.Tensor:
    """One block's spatial attention at the input's size, ``(N, H, W)``: the deepest CBAM block unless named.

    The deepest block's map is the one closest to the classifier, the spatial counterpart of Grad-CAM on conv3.
    """
    maps = spatial_attention_maps(model, images)
    chosen = list(maps)[-1] if block is None else block
    if chosen not in maps:
        raise CnnlensError(f"'{chosen}' is not a CBAM block of the model: choose from {', '.join(maps)}")
    return upsample_attention(maps[chosen], (images.shape[-2], images.shape[-1]))
