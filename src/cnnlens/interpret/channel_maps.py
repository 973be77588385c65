"""Turn one image's layer output into pictures: channel selection, normalisation, upsampling, PCA-to-RGB.

Pure tensor computations: the plots live in ``plots.py``. Maps are ``(C, H, W)`` tensors, sizes are
``(height, width)`` as in torch, never PIL's ``(width, height)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from cnnlens.errors import CnnlensError

CHANNEL_MODES = ("first", "last", "top")


def select_channels(activations: torch.Tensor, mode: str, n: int) -> list[int]:
    """Indices of the channels to show for one image's ``(C, H, W)`` layer output.

    Args:
        activations: one image's layer output, ``(C, H, W)``.
        mode: ``"first"`` (channels ``0..n-1``), ``"last"`` (the last ``n``, ascending) or ``"top"``
            (the ``n`` largest mean activations, strongest first; ties go to the lower index).
        n: how many channels; more than ``C`` means all of them.

    Returns:
        Channel indices as a plain ``list[int]``, ready for indexing and for panel titles.
    """
    if mode not in CHANNEL_MODES:
        raise CnnlensError(f"unknown channel mode {mode!r}: choose one of {', '.join(CHANNEL_MODES)}")
    if n < 1:
        raise CnnlensError(f"number of channels must be at least 1, got {n}")
    count = activations.shape[0]
    n = min(n, count)
    if mode == "first":
        return list(range(n))
    if mode == "last":
        return list(range(count - n, count))
    means = activations.float().mean(dim=(1, 2))
    return means.argsort(descending=True, stable=True)[:n].tolist()


def normalize_map(x: torch.Tensor) -> torch.Tensor:
    """Min-max scale each ``(H, W)`` map of ``(..., H, W)`` to ``[0, 1]``; a flat map becomes zeros, not NaN."""
    x = x.float()
    low = x.amin(dim=(-2, -1), keepdim=True)
    span = x.amax(dim=(-2, -1), keepdim=True) - low
    # A flat map has x - low == 0 everywhere, so dividing by 1 there gives zeros.
    return (x - low) / torch.where(span > 0, span, torch.ones_like(span))


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinearly resize ``(H, W)`` or ``(C, H, W)`` maps to ``size = (height, width)`` to overlay them on an image.

    ``align_corners=False`` keeps pixel centres where torchvision's image resizing puts them.
    """
    if maps.dim() not in (2, 3):
        raise CnnlensError(f"upsample takes (H, W) or (C, H, W) maps, got shape {tuple(maps.shape)}")
    batched = maps.float().reshape(1, -1, *maps.shape[-2:])
    resized = F.interpolate(batched, size=tuple(size), mode="bilinear", align_corners=False)
    return resized.reshape(*maps.shape[:-2], *resized.shape[-2:])


def pca_rgb(
    activations: torch.Tensor, channels: Sequence[int] | torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Project the chosen channels of a ``(C, H, W)`` map onto their first 3 principal components as RGB.

    Every spatial position is a sample and every channel a feature (centred per channel). Each
    component's scores are clipped at their 1st/99th percentiles and then min-max scaled, so a few
    extreme positions do not wash out the picture. Signs are fixed (the largest-magnitude loading of
    each component is positive) so the same input always gives the same colours.

    Fewer than 3 usable components (fewer than 3 channels or positions, or a component with no variance
    above rounding noise) leave the missing colour channels at zero and their variance ratio at zero.

    Args:
        activations: one image's layer output, ``(C, H, W)``.
        channels: explicit channel indices (e.g. from :func:`select_channels`); ``None`` means all.

    Returns:
        ``rgb`` of shape ``(H, W, 3)`` in ``[0, 1]`` and the explained variance ratio of the 3 components, ``(3,)``.
    """
    if channels is not None:
        activations = activations[torch.as_tensor(channels, dtype=torch.long)]
    count, height, width = activations.shape
    if count == 0:
        raise CnnlensError("pca_rgb needs at least one channel: pass a non-empty channel list")
    samples = activations.double().reshape(count, -1).T
    samples = samples - samples.mean(dim=0)
    _, singular, vh = torch.linalg.svd(samples, full_matrices=False)
    tolerance = singular.max() * max(samples.shape) * torch.finfo(samples.dtype).eps
    kept = int((singular[:3] > tolerance).sum())
    loadings = vh[:kept]
    signs = torch.sign(loadings.gather(1, loadings.abs().argmax(dim=1, keepdim=True)))
    scores = samples @ (loadings * signs).T
    rgb = torch.zeros(samples.shape[0], 3, dtype=torch.float64)
    for component, score in enumerate(scores.T):
        rgb[:, component] = _robust_unit(score)
    variance = singular**2
    ratio = torch.zeros(3, dtype=torch.float64)
    ratio[:kept] = variance[:kept] / variance.sum()
    return rgb.reshape(height, width, 3).float(), ratio.float()


def _robust_unit(values: torch.Tensor) -> torch.Tensor:
    """Clip at the 1st/99th percentile and scale to ``[0, 1]``; constant values give zeros."""
    low, high = torch.quantile(values, torch.tensor([0.01, 0.99], dtype=values.dtype))
    if high <= low:
        return torch.zeros_like(values)
    return (values.clamp(low, high) - low) / (high - low)


def activation_heatmaps(activations: torch.Tensor, k: int = 3) -> tuple[list[int], torch.Tensor]:
    """The source's "attention heatmap": the ``k`` most active channels (by mean) of one image, each min-max scaled.

    These are plain channel activations of a conv layer, not attention: the attention modules' real
    channel weights are their sigmoid outputs, which the report shows separately.

    Args:
        activations: one image's output of the last conv layer, ``(C, H, W)``.
        k: how many channels (clamped to ``C``).

    Returns:
        The channel indices (strongest first) and their normalised maps, ``(k, H, W)`` in ``[0, 1]``.
    """
    indices = select_channels(activations, "top", k)
    return indices, normalize_map(activations[indices])
