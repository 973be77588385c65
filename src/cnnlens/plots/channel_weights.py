"""Channel-attention figures: the sigmoid channel weights per image, over the test set, and per class.

A weight of 0.5 is the sigmoid of 0: a module whose weights all sit there rescales its block uniformly;
a selective one pushes some channels toward 0 and others toward 1. Every figure draws weights on the
fixed range [0, 1] so that models and modules can be compared by eye.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from cnnlens.plots.style import MAX_CLASS_LABELS, tick_positions
from cnnlens.plots.style import colours as _colours

NEUTRAL = 0.5  # sigmoid(0): the weight of a channel the module neither boosts nor suppresses


def _neutral_line(axes: Axes) -> None:
    """Mark weight 0.5 so that boosted and suppressed channels read as above and below the line."""
    axes.axhline(NEUTRAL, color="grey", linestyle="--", linewidth=0.8)


def image_weights(images: np.ndarray, titles: Sequence[str], weights: Mapping[str, np.ndarray]) -> Figure:
    """One row per image: its thumbnail, then one bar chart of channel weights per attention module.

    Args:
        images: ``(N, H, W, 3)`` uint8 images (or floats in [0, 1]).
        titles: one title per image (for example its true and predicted class).
        weights: module name -> ``(N, C)`` sigmoid weights of these images, in model order.
    """
    count, modules = len(images), len(weights)
    figure, axes = plt.subplots(
        count,
        modules + 1,
        figsize=(2.2 + 3.4 * modules, 1.9 * count),
        layout="constrained",
        squeeze=False,
        width_ratios=[0.55] + [1] * modules,
    )
    for row, (image, title) in enumerate(zip(images, titles, strict=False)):
        axes[row, 0].imshow(image)
        axes[row, 0].set_title(title, fontsize=9)
        axes[row, 0].axis("off")
        for panel, (module, values), colour in zip(axes[row, 1:], weights.items(), _colours(), strict=False):
            channels = np.asarray(values[row])
            panel.bar(np.arange(len(channels)), channels, width=1.0, color=colour)
            _neutral_line(panel)
            panel.set(xlim=(-0.5, len(channels) - 0.5), ylim=(0, 1))
            if row == 0:
                panel.set_title(f"{module} ({len(channels)} channels)", fontsize=10)
            if row == count - 1:
                panel.set_xlabel("channel")
        axes[row, 1].set_ylabel("weight")
    return figure


def weight_distributions(weights: Mapping[str, np.ndarray], bins: int = 50) -> Figure:
    """Per module over all images: a histogram of every weight, then the channels sorted by their mean weight.

    The lower row shows each channel's mean over images (line) and the 10th to 90th percentile over
    images (band): a flat line near 0.5 means no selectivity between channels, a wide band means the
    weight of a channel depends on the image.

    Args:
        weights: module name -> ``(N, C)`` sigmoid weights, one row per image.
        bins: histogram bins on [0, 1].
    """
    figure, axes = plt.subplots(
        2, len(weights), figsize=(1.5 + 3.6 * len(weights), 5.6), layout="constrained", squeeze=False, sharey="row"
    )
    edges = np.linspace(0, 1, bins + 1)
    for column, ((module, values), colour) in enumerate(zip(weights.items(), _colours(), strict=False)):
        values = np.asarray(values, dtype=float)
        histogram, sorted_means = axes[0, column], axes[1, column]
        histogram.hist(values.ravel(), bins=edges, weights=np.full(values.size, 100 / values.size), color=colour)
        histogram.axvline(NEUTRAL, color="grey", linestyle="--", linewidth=0.8, zorder=3)
        histogram.set(
            xlim=(0, 1), xlabel="weight", title=f"{module}: {values.shape[0]} images × {values.shape[1]} channels"
        )
        order = np.argsort(-values.mean(0), kind="stable")
        ranks = np.arange(values.shape[1])
        low, high = np.percentile(values[:, order], [10, 90], axis=0)
        sorted_means.fill_between(ranks, low, high, color=colour, alpha=0.3, linewidth=0, label="10th-90th percentile")
        sorted_means.plot(ranks, values.mean(0)[order], color=colour, label="mean over images")
        _neutral_line(sorted_means)
        sorted_means.set(xlim=(0, max(1, values.shape[1] - 1)), ylim=(0, 1), xlabel="channel rank (by mean weight)")
        sorted_means.legend(fontsize="small", loc="lower left")
    for row in axes:
        for panel in row:
            panel.grid(alpha=0.3)
    axes[0, 0].set_ylabel("share of all weights (%)")
    axes[1, 0].set_ylabel("weight")
    return figure


def class_channel_heatmap(means: pd.DataFrame, title: str, max_ticks: int = 32) -> Figure:
    """Mean weight per class (rows) and channel (columns, in the table's order), on one colour scale.

    Args:
        means: index = class names, columns = channel indices (possibly reordered), values = mean weights.
        title: the panel title (for example the module name).
        max_ticks: at most this many channel labels, so that 128 channels stay readable.

    The height grows with the classes up to ``MAX_CLASS_LABELS`` rows' worth; more classes share that
    height, and every k-th is named.
    """
    classes, channels = len(means.index), len(means.columns)
    figure, axes = plt.subplots(figsize=(12, 1.6 + 0.32 * min(classes, MAX_CLASS_LABELS)), layout="constrained")
    shown = axes.imshow(means.to_numpy(dtype=float), cmap="viridis", aspect="auto", interpolation="nearest")
    positions = tick_positions(channels, max_ticks)
    axes.set_xticks(positions, [str(means.columns[p]) for p in positions], rotation=90, fontsize=7)
    named = tick_positions(classes, MAX_CLASS_LABELS)
    axes.set_yticks(named, [str(means.index[row]) for row in named])
    axes.set(xlabel="channel", title=title)
    figure.colorbar(shown, ax=axes, label="mean weight", pad=0.01)
    return figure
