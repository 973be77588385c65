"""The feature-map section's data: an artifact's feature maps, the channels each grid shows, the PCA pictures
and the activation heatmaps."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from cnnlens.artifacts import Activations
from cnnlens.interpret.channel_maps import activation_heatmaps, pca_rgb, select_channels, upsample


def feature_layers(stored: Activations) -> dict[str, torch.Tensor]:
    """The ``(N, C, h, w)`` feature maps among an artifact's layers (not the attention weights), by layer."""
    return {name: output for name, output in stored.layers.items() if output.ndim == 4}


def shared_first_channels(maps: Mapping[str, torch.Tensor], count: int) -> list[int]:
    """The first ``count`` channels, or fewer when a layer has fewer: the channels that every layer shows."""
    return min((select_channels(output[0], "first", count) for output in maps.values()), key=len)


def selected_channels(output: torch.Tensor, mode: str, count: int) -> list[list[int]]:
    """Per image of ``(N, C, h, w)`` outputs, the channels ``mode`` selects (see ``select_channels``)."""
    return [select_channels(one, mode, count) for one in output]


def pca_column(output: torch.Tensor, mode: str | None = None, count: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Every image's map of ``(N, C, h, w)`` outputs as one PCA-to-RGB picture (``pca_rgb``).

    Of all channels, or (with ``mode``) of the ``count`` channels that ``mode`` selects per image.

    Returns:
        ``(N, h, w, 3)`` pictures and the ``(N, 3)`` explained variance ratios, as ``plots.pca_grid`` takes them.
    """
    pictures = [pca_rgb(one, None if mode is None else select_channels(one, mode, count)) for one in output]
    return torch.stack([rgb for rgb, _ in pictures]).numpy(), torch.stack([ratio for _, ratio in pictures]).numpy()


def overlay_heatmaps(output: torch.Tensor, size: tuple[int, int], count: int) -> list[tuple[list[int], np.ndarray]]:
    """Per image of ``(N, C, h, w)`` outputs, its ``count`` most active channels and their min-max scaled maps
    upsampled to ``size``: the source's "attention heatmap" (``activation_heatmaps``)."""
    heatmaps = []
    for one in output:
        channels, scaled = activation_heatmaps(one, k=count)
        heatmaps.append((channels, upsample(scaled, size).numpy()))
    return heatmaps
