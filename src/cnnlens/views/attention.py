"""The attention section's data: the attention modules' channel weights, how far from uniform they are and how
they change with the class, and CBAM's spatial maps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from cnnlens.artifacts import Activations
from cnnlens.interpret.activations import SPATIAL_SUFFIX

SWITCHED_OFF = 0.1  # a channel weight below this nearly switches its channel off
SWITCHED_ON = 0.9  # ... above this passes it whole


def attention_layers(stored: Activations) -> dict[str, np.ndarray]:
    """The attention modules' ``(N, C)`` channel weights among an artifact's layers, by module."""
    return {name: output.float().numpy() for name, output in stored.layers.items() if output.ndim == 2}


def weight_arrays(weights: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Channel weights by module as float arrays."""
    return {name: values.float().numpy() for name, values in weights.items()}


def attention_summary(weights: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Per module, how far its ``(N, C)`` weights are from uniform and how much they depend on the image.

    Columns: ``mean`` and ``std`` of all weights; ``channel_mean_std``, the standard deviation of the channels'
    mean weights (how differently the module treats its channels on average); ``image_std_mean``, the mean over
    channels of each channel's standard deviation over images (how much a weight changes from image to image);
    ``off_percent`` and ``on_percent``, the share of weights below :data:`SWITCHED_OFF` and above
    :data:`SWITCHED_ON` in percent. Standard deviations are sample ones (``ddof=1``).
    """
    rows = []
    for module, given in weights.items():
        values = np.asarray(given, dtype=float)
        rows.append(
            {
                "module": module,
                "channels": values.shape[1],
                "mean": values.mean(),
                "std": values.std(ddof=1),
                "channel_mean_std": values.mean(axis=0).std(ddof=1),
                "image_std_mean": values.std(axis=0, ddof=1).mean(),
                "off_percent": 100 * (values < SWITCHED_OFF).mean(),
                "on_percent": 100 * (values > SWITCHED_ON).mean(),
            }
        )
    return pd.DataFrame(rows)


def class_channel_means(weights: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """Mean ``(N, C)`` weight per true class (rows, by name) and channel (columns, by index), most class-dependent
    channel first: columns sorted by :func:`class_spread`, ties in channel order. Classes without images are left out.
    """
    means = pd.DataFrame(weights).groupby(np.asarray(labels)).mean()
    means.index = [classes[label] for label in means.index]
    return means[class_spread(means).sort_values(ascending=False, kind="stable").index]


def class_spread(means: pd.DataFrame) -> pd.Series:
    """Each channel's standard deviation (``ddof=1``) of its mean weight across the classes (rows)."""
    return means.std()


def spatial_maps(stored: Activations) -> dict[str, np.ndarray]:
    """CBAM's ``(N, h, w)`` spatial attention maps among an artifact's layers, by block (``ca2``); none for SE."""
    return {
        name.removesuffix(SPATIAL_SUFFIX): output.float().numpy()
        for name, output in stored.layers.items()
        if name.endswith(SPATIAL_SUFFIX)
    }


def class_spatial_maps(
    spatial: Mapping[str, torch.Tensor], labels: torch.Tensor, classes: Sequence[str]
) -> tuple[list[str], dict[str, np.ndarray]]:
    """The classes that have test images, and each block's mean map of them, ``(classes, h, w)``: a class without
    images has no mean (the artifact holds zeros there)."""
    present = (torch.bincount(labels, minlength=len(classes)) > 0).tolist()
    names = [name for name, kept in zip(classes, present, strict=True) if kept]
    return names, {block: means[torch.tensor(present)].float().numpy() for block, means in spatial.items()}


def images_per_class(labels: np.ndarray, classes: int) -> tuple[int, int]:
    """The fewest and the most images of a class among ``labels`` (a class without images counts 0)."""
    counts = np.bincount(np.asarray(labels), minlength=classes)
    return int(counts.min()), int(counts.max())
