"""How sparse and how spatially concentrated activations are at each layer, measured over many images.

The report's per-depth summary: numbers behind the claim that deeper layers respond to fewer, more
localised things. Inputs are ``(N, C, H, W)`` layer outputs; every statistic is per image, ``(N,)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from cnnlens.errors import CnnlensError

SUMMARY_COLUMNS = [
    "layer",
    "channels",
    "height",
    "width",
    "sparsity_mean",
    "sparsity_std",
    "concentration_mean",
    "concentration_std",
]


def sparsity(activations: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """Fraction of each image's elements that are ``<= threshold``: ``(N, C, H, W) -> (N,)``.

    After a ReLU the default counts exact zeros; on pre-ReLU maps it counts the values a ReLU would zero.
    """
    return (activations <= threshold).flatten(1).float().mean(dim=1)


def spatial_concentration(activations: torch.Tensor, top_fraction: float = 0.1) -> torch.Tensor:
    """Share of each image's positive activation mass held by its top ``top_fraction`` of spatial positions.

    Mass per position is the sum over channels of the positive part. The top fraction is read off the
    sorted positions with a fractional last position (``top_fraction * H * W`` need not be whole), so a
    uniform map gives exactly ``top_fraction`` and a single hot position gives 1.0 once
    ``top_fraction * H * W >= 1``. An image with no positive mass has nothing concentrated and gets
    ``top_fraction``, the uniform value, rather than NaN.

    Returns:
        ``(N,)`` float tensor in ``[top_fraction, 1]``.
    """
    if not 0.0 < top_fraction <= 1.0:
        raise CnnlensError(f"top_fraction must be in (0, 1], got {top_fraction}")
    mass = activations.clamp(min=0).sum(dim=1, dtype=torch.float64).flatten(1)  # sum in double, copy nothing
    ranked = mass.sort(dim=1, descending=True).values
    positions = top_fraction * ranked.shape[1]
    whole = int(positions)
    held = ranked[:, :whole].sum(dim=1)
    if whole < ranked.shape[1]:
        held = held + (positions - whole) * ranked[:, whole]
    total = mass.sum(dim=1)
    share = torch.where(total > 0, held / torch.where(total > 0, total, 1.0), torch.full_like(total, top_fraction))
    return share.float()


def summarize(layers: dict[str, torch.Tensor], threshold: float = 0.0, top_fraction: float = 0.1) -> pd.DataFrame:
    """One row per layer: its shape and the mean and spread over images of sparsity and spatial concentration.

    Args:
        layers: layer name -> ``(N, C, H, W)`` outputs, in the order the rows should appear.
        threshold: passed to :func:`sparsity`.
        top_fraction: passed to :func:`spatial_concentration`.
    """
    return summary_table({name: measure(output, threshold, top_fraction, name) for name, output in layers.items()})


def measure(
    activations: torch.Tensor, threshold: float = 0.0, top_fraction: float = 0.1, layer: str = "the layer"
) -> LayerStatistics:
    """Per-image sparsity and concentration of one layer's ``(N, C, H, W)`` outputs (one batch of images)."""
    if activations.dim() != 4:
        shape = tuple(activations.shape)
        raise CnnlensError(f"{layer} has output shape {shape}: depth statistics take (N, C, H, W) feature maps only")
    _, channels, height, width = activations.shape
    return LayerStatistics(
        (channels, height, width), sparsity(activations, threshold), spatial_concentration(activations, top_fraction)
    )


def summary_table(statistics: dict[str, LayerStatistics]) -> pd.DataFrame:
    """The per-layer rows of :func:`summarize` from per-image statistics (gathered over any number of batches).

    Standard deviations are over the images (population, ``ddof=0``), so a single image gives 0, not NaN.
    """
    rows = [
        (
            name,
            *layer.shape,
            layer.sparsity.mean().item(),
            layer.sparsity.std(correction=0).item(),
            layer.concentration.mean().item(),
            layer.concentration.std(correction=0).item(),
        )
        for name, layer in statistics.items()
    ]
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


@dataclass
class LayerStatistics:
    """A layer's output shape ``(C, H, W)`` and its per-image statistics ``(N,)``."""

    shape: tuple[int, int, int]
    sparsity: torch.Tensor
    concentration: torch.Tensor

    def __add__(self, other: LayerStatistics) -> LayerStatistics:
        """The statistics of two batches of images together."""
        return LayerStatistics(
            self.shape, torch.cat((self.sparsity, other.sparsity)), torch.cat((self.concentration, other.concentration))
        )
