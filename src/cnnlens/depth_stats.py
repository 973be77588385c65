"""How sparse and how spatially concentrated activations are at each layer, measured over many images.

The report's per-depth summary: numbers behind the claim that deeper layers respond to fewer, more
localised things. Inputs are ``(N, C, H, W)`` layer outputs; every statistic is per image, ``(N,)``.
"""

from __future__ import annotations

import pandas as pd
import torch

from cnnlens.errors import CnnlensError

SUMMARY_COLUMNS = [
    "layer", "channels", "height", "width", "sparsity_mean", "sparsity_std", "concentration_mean", "concentration_std",
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

    Standard deviations are over the images given (population, ``ddof=0``), so a single image gives 0, not NaN.

    Args:
        layers: layer name -> ``(N, C, H, W)`` outputs, in the order the rows should appear.
        threshold: passed to :func:`sparsity`.
        top_fraction: passed to :func:`spatial_concentration`.
    """
    rows = []
    for name, activations in layers.items():
        if activations.dim() != 4:
            raise CnnlensError(
                f"layer {name!r} has shape {tuple(activations.shape)}: summarize takes (N, C, H, W) feature maps only"
            )
        sparse = sparsity(activations, threshold)
        concentrated = spatial_concentration(activations, top_fraction)
        _, channels, height, width = activations.shape
        rows.append((
            name, channels, height, width,
            sparse.mean().item(), sparse.std(correction=0).item(),
            concentrated.mean().item(), concentrated.std(correction=0).item(),
        ))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
