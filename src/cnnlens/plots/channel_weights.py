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

from cnnlens.plots.style import (
    MAX_CLASS_LABELS,
    count_range,
    image_names,
    line_style,
    listing,
    percentile,
    run_name,
    tick_positions,
)
from cnnlens.plots.style import colours as _colours
from cnnlens.reporting.summaries import SWITCHED_OFF, SWITCHED_ON
from cnnlens.texts import text

NEUTRAL = 0.5  # sigmoid(0): the weight of a channel the module neither boosts nor suppresses
NEUTRAL_STYLE = "--"
WEIGHT_RANGE = (0.0, 1.0)  # every weight axis, so that models and modules compare by eye
BAND = (0.1, 0.9)  # quantiles over images of the band around each channel's mean weight
CLASS_CMAP = "viridis"

# summary column -> the text that heads it in the report's table, in the summary's order
SUMMARY_HEADERS = {
    "module": "channel_weights.header_module",
    "channels": "channel_weights.header_channels",
    "mean": "channel_weights.header_mean",
    "std": "channel_weights.header_std",
    "channel_mean_std": "channel_weights.header_channel_mean_std",
    "image_std_mean": "channel_weights.header_image_std_mean",
    "off_percent": "channel_weights.header_off_percent",
    "on_percent": "channel_weights.header_on_percent",
}


def _neutral_line(axes: Axes) -> None:
    """Mark weight 0.5 so that boosted and suppressed channels read as above and below the line."""
    axes.axhline(NEUTRAL, color="grey", linestyle=NEUTRAL_STYLE, linewidth=0.8)


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
            panel.set(xlim=(-0.5, len(channels) - 0.5), ylim=WEIGHT_RANGE)
            if row == 0:
                panel.set_title(
                    text("channel_weights.module_title", module=module, channels=len(channels)), fontsize=10
                )
            if row == count - 1:
                panel.set_xlabel(text("channel_weights.channel_axis"))
        axes[row, 1].set_ylabel(text("channel_weights.weight_axis"))
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
    edges = np.linspace(*WEIGHT_RANGE, bins + 1)
    band = text("channel_weights.band_label", low=percentile(BAND[0]), high=percentile(BAND[1]))
    for column, ((module, given), colour) in enumerate(zip(weights.items(), _colours(), strict=False)):
        values = np.asarray(given, dtype=float)
        histogram, sorted_means = axes[0, column], axes[1, column]
        histogram.hist(values.ravel(), bins=edges, weights=np.full(values.size, 100 / values.size), color=colour)
        histogram.axvline(NEUTRAL, color="grey", linestyle=NEUTRAL_STYLE, linewidth=0.8, zorder=3)
        title = text("channel_weights.distribution_title", module=module, images=len(values), channels=values.shape[1])
        histogram.set(xlim=WEIGHT_RANGE, xlabel=text("channel_weights.weight_axis"), title=title)
        order = np.argsort(-values.mean(0), kind="stable")
        ranks = np.arange(values.shape[1])
        low, high = np.quantile(values[:, order], BAND, axis=0)
        sorted_means.fill_between(ranks, low, high, color=colour, alpha=0.3, linewidth=0, label=band)
        sorted_means.plot(ranks, values.mean(0)[order], color=colour, label=text("channel_weights.mean_label"))
        _neutral_line(sorted_means)
        sorted_means.set(
            xlim=(0, max(1, values.shape[1] - 1)), ylim=WEIGHT_RANGE, xlabel=text("channel_weights.rank_axis")
        )
        sorted_means.legend(fontsize="small", loc="lower left")
    for row in axes:
        for panel in row:
            panel.grid(alpha=0.3)
    axes[0, 0].set_ylabel(text("channel_weights.share_axis"))
    axes[1, 0].set_ylabel(text("channel_weights.weight_axis"))
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
    shown = axes.imshow(means.to_numpy(dtype=float), cmap=CLASS_CMAP, aspect="auto", interpolation="nearest")
    positions = tick_positions(channels, max_ticks)
    axes.set_xticks(positions, [str(means.columns[p]) for p in positions], rotation=90, fontsize=7)
    named = tick_positions(classes, MAX_CLASS_LABELS)
    axes.set_yticks(named, [str(means.index[row]) for row in named])
    axes.set(xlabel=text("channel_weights.channel_axis"), title=title)
    figure.colorbar(shown, ax=axes, label=text("channel_weights.class_colorbar"), pad=0.01)
    return figure


def intro() -> str:
    """What the section shows and how to read a weight, before its first figure."""
    return text("attention.intro", neutral=f"{NEUTRAL:g}", line=line_style(NEUTRAL_STYLE))


def run_paragraph(model: str, seed: int, modules: Sequence[str], images: int) -> str:
    """Which model, which attention modules and how many test images the section measures."""
    return text("channel_weights.run", model=model, seed=seed, modules=listing(modules), images=images)


def image_weights_caption(modules: Sequence[str], model: str, seed: int, indices: Sequence[int]) -> str:
    """The caption of :func:`image_weights` for the test images ``indices``."""
    return text(
        "channel_weights.image_weights_caption",
        modules=listing(modules),
        run=run_name(model, seed),
        images=image_names(indices),
        low=f"{WEIGHT_RANGE[0]:g}",
        high=f"{WEIGHT_RANGE[1]:g}",
        neutral=f"{NEUTRAL:g}",
        line=line_style(NEUTRAL_STYLE),
    )


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The attention summary (``summaries.attention_summary``) with the column headings readers see."""
    return summary.rename(columns={column: text(key) for column, key in SUMMARY_HEADERS.items()})


def weight_distributions_caption(model: str, seed: int, images: int) -> str:
    """The caption of :func:`weight_distributions` and of the :func:`summary_table` shown with it."""
    return text(
        "channel_weights.distributions_caption",
        images=images,
        run=run_name(model, seed),
        neutral=f"{NEUTRAL:g}",
        line=line_style(NEUTRAL_STYLE),
        low=percentile(BAND[0]),
        high=percentile(BAND[1]),
        channel_mean_std=text(SUMMARY_HEADERS["channel_mean_std"]),
        image_std_mean=text(SUMMARY_HEADERS["image_std_mean"]),
        off=f"{SWITCHED_OFF:g}",
        on=f"{SWITCHED_ON:g}",
    )


def class_heatmap_title(module: str) -> str:
    return text("channel_weights.class_title", module=module)


def class_heatmap_caption(
    module: str, model: str, seed: int, per_class: tuple[int, int], means: pd.DataFrame, spread: pd.Series
) -> str:
    """The caption of :func:`class_channel_heatmap`: its colour range and how class-dependent the channels are.

    Args:
        per_class: the fewest and the most test images of a class.
        means: the drawn table (classes × channels, sorted by ``spread``).
        spread: each channel's standard deviation of its mean weight across classes.
    """
    values = means.to_numpy(dtype=float)
    return text(
        "channel_weights.class_caption",
        module=module,
        run=run_name(model, seed),
        per_class=count_range(*per_class),
        cmap=CLASS_CMAP,
        low=f"{values.min():.3f}",
        high=f"{values.max():.3f}",
        most=f"{spread.max():.3f}",
        median=f"{spread.median():.3f}",
    )
