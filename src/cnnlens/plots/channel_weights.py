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
    FIGURE_WIDTH,
    MAX_CLASS_LABELS,
    OVERLAY_ALPHA,
    OVERLAY_CMAP,
    blank_axes,
    count_range,
    image_names,
    line_style,
    listing,
    overlay_colorbar,
    part_caption,
    percentile,
    run_name,
    tick_positions,
)
from cnnlens.plots.style import colours as _colours
from cnnlens.texts import text
from cnnlens.views.attention import SWITCHED_OFF, SWITCHED_ON
from cnnlens.views.order import chunks

NEUTRAL = 0.5  # sigmoid(0): the weight of a channel the module neither boosts nor suppresses
NEUTRAL_STYLE = "--"
WEIGHT_RANGE = (0.0, 1.0)  # every weight axis, so that models and modules compare by eye
WEIGHT_TICKS = (0.0, 0.5, 1.0)
BAND = (0.1, 0.9)  # quantiles over images of the band around each channel's mean weight
CLASS_CMAP = "viridis"
CLASSES_PER_ROW = 5  # panels per row of the per-class mean spatial maps: room for "automobile" at print size
CLASS_ROWS_PER_FIGURE = 4  # rows of classes in one figure of them: more classes go on to the next figure

# Figure heights in inches: per row of a grid, plus the titles and axis labels around it.
IMAGE_WEIGHTS_ROW, IMAGE_WEIGHTS_MARGIN = 0.8, 0.45
THUMBNAIL_RATIO = 0.6  # the thumbnail column of image_weights, as a share of a bar chart's width
DISTRIBUTIONS_HEIGHT = 3.8
HEATMAP_ROW, HEATMAP_MARGIN = 0.2, 1.1
OVERLAY_ROW, OVERLAY_MARGIN = 1.15, 0.25
CLASS_MAPS_ROW, CLASS_MAPS_MARGIN = 1.3, 0.3

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

    The notebook draws a long list of images in parts (``figure_parts``), so a figure holds a few rows and prints
    at full text width. Every bar chart shares the weight axis [0, 1]: only the first column labels it, and only
    the bottom row names the channels.

    Args:
        images: ``(N, H, W, 3)`` uint8 images (or floats in [0, 1]).
        titles: the name of each image's row (for example its true and predicted class).
        weights: module name -> ``(N, C)`` sigmoid weights of these images, in model order.
    """
    count, modules = len(images), len(weights)
    figure, axes = plt.subplots(
        count,
        modules + 1,
        figsize=(FIGURE_WIDTH, IMAGE_WEIGHTS_MARGIN + IMAGE_WEIGHTS_ROW * count),
        layout="constrained",
        squeeze=False,
        width_ratios=[THUMBNAIL_RATIO] + [1] * modules,
    )
    for row, (image, title) in enumerate(zip(images, titles, strict=False)):
        _labelled_image(axes[row, 0], image, title)
        for column, ((module, values), colour) in enumerate(zip(weights.items(), _colours(), strict=False), 1):
            panel, channels = axes[row, column], np.asarray(values[row])
            _channel_bars(panel, channels, colour)
            panel.tick_params(labelbottom=row == count - 1, labelleft=column == 1)
            if row == 0:
                panel.set_title(text("channel_weights.module_title", module=module, channels=len(channels)))
        axes[row, 1].set_ylabel(text("channel_weights.weight_axis"))
    for panel in axes[-1, 1:]:
        panel.set_xlabel(text("channel_weights.channel_axis"))
    return figure


def _channel_bars(axes: Axes, channels: np.ndarray, colour: str) -> None:
    """One bar per channel on the fixed weight range, with the neutral line."""
    axes.bar(np.arange(len(channels)), channels, width=1.0, color=colour)
    _neutral_line(axes)
    axes.set(xlim=(-0.5, len(channels) - 0.5), ylim=WEIGHT_RANGE, yticks=WEIGHT_TICKS)


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
        2, len(weights), figsize=(FIGURE_WIDTH, DISTRIBUTIONS_HEIGHT), layout="constrained", squeeze=False, sharey="row"
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
        sorted_means.legend(loc="lower left")
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
    height = HEATMAP_MARGIN + HEATMAP_ROW * min(classes, MAX_CLASS_LABELS)
    figure, axes = plt.subplots(figsize=(FIGURE_WIDTH, height), layout="constrained")
    shown = axes.imshow(means.to_numpy(dtype=float), cmap=CLASS_CMAP, aspect="auto", interpolation="nearest")
    positions = tick_positions(channels, max_ticks)
    axes.set_xticks(positions, [str(means.columns[p]) for p in positions], rotation=90)
    named = tick_positions(classes, MAX_CLASS_LABELS)
    axes.set_yticks(named, [str(means.index[row]) for row in named])
    axes.set(xlabel=text("channel_weights.channel_axis"), title=title)
    figure.colorbar(shown, ax=axes, label=text("channel_weights.class_colorbar"), pad=0.01)
    return figure


def spatial_overlays(images: np.ndarray, titles: Sequence[str], maps: Mapping[str, np.ndarray]) -> Figure:
    """One row per image: the input, then each CBAM block's spatial gate laid over it, on the gate's range [0, 1].

    The maps are bilinearly upsampled to the image (``upsample_attention``) but not rescaled: a gate value is the
    factor the block multiplied every channel at that position by. The notebook draws a long list of images in
    parts (``figure_parts``); the blocks head their columns.

    Args:
        images: ``(N, H, W, 3)`` uint8 images.
        titles: the name of each image's row (for example its true and predicted class).
        maps: block -> ``(N, h, w)`` spatial gates of these images at the block's resolution, in model order.
    """
    count, blocks = len(images), len(maps)
    figure, axes = plt.subplots(
        count,
        blocks + 1,
        figsize=(FIGURE_WIDTH, OVERLAY_MARGIN + OVERLAY_ROW * count),
        layout="compressed",  # a grid of square images: no gaps wider than the spacing between them
        squeeze=False,
    )
    size = images.shape[1:3]
    for row, (image, title) in enumerate(zip(images, titles, strict=True)):
        _labelled_image(axes[row, 0], image, title)
        for panel, (block, values) in zip(axes[row, 1:], maps.items(), strict=True):
            gate = upsample_attention(torch.as_tensor(values[row : row + 1]), size)[0].numpy()
            height, width = values.shape[1:]
            column_title = text("channel_weights.spatial_title", block=block, height=height, width=width)
            _image(panel, image, column_title if row == 0 else "")
            shown = panel.imshow(
                gate, cmap=OVERLAY_CMAP, alpha=OVERLAY_ALPHA, vmin=WEIGHT_RANGE[0], vmax=WEIGHT_RANGE[1]
            )
    overlay_colorbar(figure, shown, axes, text("channel_weights.spatial_colorbar"))
    return figure


def class_spatial_maps(means: np.ndarray, classes: Sequence[str], block: str, part: slice = slice(None)) -> Figure:
    """One block's mean spatial gate for the classes of ``part`` (one panel each, :data:`CLASSES_PER_ROW` to a
    row), on one colour scale from the lowest to the highest mean of all classes, so that the parts of a long
    list of classes (:func:`class_parts`) compare.

    Args:
        means: ``(classes, h, w)`` mean gate of each class's test images, at the block's resolution.
        classes: the name of each class (panel titles).
        block: the CBAM block (figure title).
        part: the classes this figure draws.
    """
    drawn, names = means[part], classes[part]
    rows = -(-len(names) // CLASSES_PER_ROW)
    figure, axes = plt.subplots(
        rows,
        CLASSES_PER_ROW,
        figsize=(FIGURE_WIDTH, CLASS_MAPS_MARGIN + CLASS_MAPS_ROW * rows),
        layout="compressed",  # a grid of square images: no gaps wider than the spacing between them
        squeeze=False,
    )
    low, high = float(means.min()), float(means.max())
    for panel, values, name in zip(axes.flat, drawn, names, strict=False):
        shown = panel.imshow(values, cmap=CLASS_CMAP, vmin=low, vmax=high)
        panel.set_title(name)
    for panel in axes.flat:
        panel.axis("off")
    height, width = means.shape[1:]
    figure.suptitle(text("channel_weights.class_spatial_title", block=block, height=height, width=width))
    figure.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8, label=text("channel_weights.class_spatial_colorbar"))
    return figure


def class_parts(count: int) -> list[slice]:
    """The classes of each figure of :func:`class_spatial_maps`: at most :data:`CLASS_ROWS_PER_FIGURE` rows."""
    return chunks(count, CLASSES_PER_ROW * CLASS_ROWS_PER_FIGURE)


def _image(axes: Axes, image: np.ndarray, title: str) -> None:
    axes.imshow(image)
    axes.set_title(title)
    axes.axis("off")


def _labelled_image(axes: Axes, image: np.ndarray, label: str) -> None:
    """``image`` with ``label`` beside it, level with it: a row's name that costs the grid no height."""
    axes.imshow(image)
    axes.set_anchor("E")  # against the next column; a narrower image leaves its space to the name
    blank_axes(axes)
    axes.spines[:].set_visible(False)
    axes.set_ylabel(label, rotation=0, horizontalalignment="right", verticalalignment="center")


def intro() -> str:
    """What the section shows and how to read a weight, before its first figure."""
    return text("attention.intro", neutral=f"{NEUTRAL:g}", line=line_style(NEUTRAL_STYLE))


def run_paragraph(model: str, seed: int, modules: Sequence[str], images: int) -> str:
    """Which model, which attention modules and how many test images the section measures."""
    return text("channel_weights.run", model=model, seed=seed, modules=listing(modules), images=images)


def image_weights_caption(modules: Sequence[str], model: str, seed: int, indices: Sequence[int], part: slice) -> str:
    """The caption of :func:`image_weights` for the test images ``indices[part]``, one part of ``indices``."""
    words = text(
        "channel_weights.image_weights_caption",
        modules=listing(modules),
        run=run_name(model, seed),
        images=image_names(indices[part]),
        low=f"{WEIGHT_RANGE[0]:g}",
        high=f"{WEIGHT_RANGE[1]:g}",
        neutral=f"{NEUTRAL:g}",
        line=line_style(NEUTRAL_STYLE),
    )
    return part_caption(words, part, indices)


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


def spatial_overlays_caption(
    maps: Mapping[str, np.ndarray], model: str, seed: int, indices: Sequence[int], part: slice
) -> str:
    """The caption of :func:`spatial_overlays` of ``maps`` (block -> ``(N, h, w)``) for the test images
    ``indices[part]``, one part of ``indices``."""
    sizes = (f"{block} {values.shape[1]}×{values.shape[2]}" for block, values in maps.items())
    words = text(
        "channel_weights.spatial_caption",
        blocks=listing(maps),
        run=run_name(model, seed),
        images=image_names(indices[part]),
        sizes=listing(sizes),
        cmap=OVERLAY_CMAP,
        alpha=f"{OVERLAY_ALPHA:g}",
        low=f"{WEIGHT_RANGE[0]:g}",
        high=f"{WEIGHT_RANGE[1]:g}",
        neutral=f"{NEUTRAL:g}",
    )
    return part_caption(words, part, indices)


def class_spatial_caption(
    block: str,
    model: str,
    seed: int,
    per_class: tuple[int, int],
    means: np.ndarray,
    classes: Sequence[str],
    part: slice,
) -> str:
    """The caption of :func:`class_spatial_maps` of ``means`` (``(classes, h, w)``) for the classes of ``part``:
    the first part's says what the panels show, a later one only which classes it holds. ``per_class``: the fewest
    and the most test images of a class."""
    if part.start:
        return text("channel_weights.class_spatial_next_part", classes=listing(classes[part]))
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
