"""Channel-attention figures: the sigmoid channel weights per image, over the test set, and per class.

A weight of 0.5 is the sigmoid of 0: a module whose weights all sit there rescales its block uniformly;
a selective one pushes some channels toward 0 and others toward 1. Every figure draws weights on the
fixed range [0, 1] so that models and modules can be compared by eye; so do the overlays of CBAM's spatial
gates, whose values are factors the block multiplied its features by. Only the per-class means use the range
of the means drawn, stated in their captions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from cnnlens.interpret.spatial_attention import upsample_attention
from cnnlens.plots.style import (
    MAX_CLASS_LABELS,
    OVERLAY_ALPHA,
    OVERLAY_CMAP,
    count_range,
    image_names,
    line_style,
    listing,
    overlay_colorbar,
    percentile,
    run_name,
    tick_positions,
)
from cnnlens.plots.style import colours as _colours
from cnnlens.texts import text
from cnnlens.views.attention import SWITCHED_OFF, SWITCHED_ON

NEUTRAL = 0.5  # sigmoid(0): the weight of a channel the module neither boosts nor suppresses
NEUTRAL_STYLE = "--"
WEIGHT_RANGE = (0.0, 1.0)  # every weight axis, so that models and modules compare by eye
BAND = (0.1, 0.9)  # quantiles over images of the band around each channel's mean weight
CLASS_CMAP = "viridis"
CLASSES_PER_ROW = 10  # panels per row of the per-class mean spatial maps

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


def spatial_overlays(images: np.ndarray, titles: Sequence[str], maps: Mapping[str, np.ndarray]) -> Figure:
    """One row per image: the input, then each CBAM block's spatial gate laid over it, on the gate's range [0, 1].

    The maps are bilinearly upsampled to the image (``upsample_attention``) but not rescaled: a gate value is the
    factor the block multiplied every channel at that position by.

    Args:
        images: ``(N, H, W, 3)`` uint8 images.
        titles: one title per image (for example its true and predicted class).
        maps: block -> ``(N, h, w)`` spatial gates of these images at the block's resolution, in model order.
    """
    count, blocks = len(images), len(maps)
    figure, axes = plt.subplots(
        count, blocks + 1, figsize=(1.2 + 2.3 * (blocks + 1), 2.3 * count), layout="constrained", squeeze=False
    )
    size = images.shape[1:3]
    for row, (image, title) in enumerate(zip(images, titles, strict=True)):
        _image(axes[row, 0], image, title)
        for panel, (block, values) in zip(axes[row, 1:], maps.items(), strict=True):
            gate = upsample_attention(torch.as_tensor(values[row : row + 1]), size)[0].numpy()
            height, width = values.shape[1:]
            _image(panel, image, text("channel_weights.spatial_title", block=block, height=height, width=width))
            shown = panel.imshow(
                gate, cmap=OVERLAY_CMAP, alpha=OVERLAY_ALPHA, vmin=WEIGHT_RANGE[0], vmax=WEIGHT_RANGE[1]
            )
    overlay_colorbar(figure, shown, axes, text("channel_weights.spatial_colorbar"))
    return figure


def class_spatial_maps(means: np.ndarray, classes: Sequence[str], block: str) -> Figure:
    """One block's mean spatial gate per class (one panel each, :data:`CLASSES_PER_ROW` to a row), on one colour
    scale from the lowest to the highest mean drawn.

    Args:
        means: ``(classes, h, w)`` mean gate of each class's test images, at the block's resolution.
        classes: the name of each class (panel titles).
        block: the CBAM block (figure title).
    """
    count = len(classes)
    columns = min(count, CLASSES_PER_ROW)
    rows = -(-count // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(1.0 + 1.5 * columns, 0.6 + 1.6 * rows), layout="constrained", squeeze=False
    )
    low, high = float(means.min()), float(means.max())
    for panel, values, name in zip(axes.flat, means, classes, strict=False):
        shown = panel.imshow(values, cmap=CLASS_CMAP, vmin=low, vmax=high)
        panel.set_title(name, fontsize=9)
    for panel in axes.flat:
        panel.axis("off")
    height, width = means.shape[1:]
    figure.suptitle(text("channel_weights.class_spatial_title", block=block, height=height, width=width))
    figure.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8, label=text("channel_weights.class_spatial_colorbar"))
    return figure


def _image(axes: Axes, image: np.ndarray, title: str) -> None:
    axes.imshow(image)
    axes.set_title(title, fontsize=9)
    axes.axis("off")


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
    """The attention summary (``views.attention.attention_summary``) with the column headings readers see."""
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


def spatial_overlays_caption(maps: Mapping[str, np.ndarray], model: str, seed: int, indices: Sequence[int]) -> str:
    """The caption of :func:`spatial_overlays` of ``maps`` (block -> ``(N, h, w)``) for the test images ``indices``."""
    sizes = (f"{block} {values.shape[1]}×{values.shape[2]}" for block, values in maps.items())
    return text(
        "channel_weights.spatial_caption",
        blocks=listing(maps),
        run=run_name(model, seed),
        images=image_names(indices),
        sizes=listing(sizes),
        cmap=OVERLAY_CMAP,
        alpha=f"{OVERLAY_ALPHA:g}",
        low=f"{WEIGHT_RANGE[0]:g}",
        high=f"{WEIGHT_RANGE[1]:g}",
        neutral=f"{NEUTRAL:g}",
    )


def class_spatial_caption(block: str, model: str, seed: int, per_class: tuple[int, int], means: np.ndarray) -> str:
    """The caption of :func:`class_spatial_maps` of ``means`` (``(classes, h, w)``); ``per_class``: the fewest and
    the most test images of a class."""
    return text(
        "channel_weights.class_spatial_caption",
        block=block,
        run=run_name(model, seed),
        per_class=count_range(*per_class),
        height=means.shape[1],
        width=means.shape[2],
        cmap=CLASS_CMAP,
        low=f"{means.min():.3f}",
        high=f"{means.max():.3f}",
    )
