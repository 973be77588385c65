"""Feature-map figures: channel grids beside the input, PCA-to-RGB per layer, activation overlays.

Images are ``(H, W, 3)`` (uint8, or float in [0, 1]); layer outputs are ``(C, h, w)`` per image. The maps
are computed by :mod:`cnnlens.interpret.channel_maps`; these functions only draw them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from cnnlens.plots.style import (
    FIGURE_WIDTH,
    OVERLAY_ALPHA,
    OVERLAY_CMAP,
    describe_layer,
    layer_kinds,
    listing,
    percentile,
    run_name,
)
from cnnlens.texts import text

MAP_CMAP = "viridis"  # channel activations
OVERLAY_CHANNELS = 3  # channels per image in the "attention heatmap"
PCA_CLIP = (0.01, 0.99)  # the quantiles at which channel_maps.pca_rgb clips each component's scores
# channel_maps.select_channels mode -> the text that names the channels it selects
MODE_TEXTS = {"first": "feature_maps.mode_first", "last": "feature_maps.mode_last", "top": "feature_maps.mode_top"}

# Sizes in inches, as printed. The input panel's column is as wide as its two-line label ("#9990 true: automobile")
# at LABEL_POINTS, the smallest legible size, which the grids' dense titles (channel numbers, PCA columns) take too.
LABEL_POINTS = 7
INPUT_WIDTH = 1.3
FEATURE_MAPS_HEIGHT = 2.2  # the per-image figure, the section's first in the short edition
# A grid of one row per image is its title and a row per image, the panels under their titles: the rows of a
# figure part (style.figure_parts) stay well within a page.
GRID_TITLE_HEIGHT = 0.3
CHANNEL_ROW_HEIGHT = 0.95
PCA_COLUMN = 0.8  # at most; a PCA row is as tall as its columns are wide, plus two lines of titles
PCA_TITLES_HEIGHT = 0.3
OVERLAY_ROW_HEIGHT = 1.0
OVERLAY_COLUMN = 1.25  # room for an overlay's title, "conv3 channel 117"
COLORBAR_WIDTH = 0.7  # a colour bar with its ticks and label


def feature_maps(image: np.ndarray, title: str, maps: Mapping[str, np.ndarray], channels: Sequence[int]) -> Figure:
    """The source's layout: the input image, then per layer a grid of the chosen channels on one colour scale per layer.

    Args:
        image: ``(H, W, 3)`` uint8 image (or float in [0, 1]).
        title: caption of the input panel (for example its class).
        maps: layer name -> ``(C, h, w)`` activations of this image.
        channels: channel indices to show in every layer's grid.
    """
    side = math.ceil(math.sqrt(len(channels)))
    width = FIGURE_WIDTH
    figure = plt.figure(figsize=(width, FEATURE_MAPS_HEIGHT), layout="constrained")
    layer_width = (width - INPUT_WIDTH) / len(maps)
    panels = figure.subfigures(1, len(maps) + 1, squeeze=False, width_ratios=[INPUT_WIDTH] + [layer_width] * len(maps))
    _show_input(panels[0, 0].subplots(), image, title)
    for panel, (layer, activations) in zip(panels[0, 1:], maps.items(), strict=True):
        chosen = activations[list(channels)]
        low, high = float(chosen.min()), float(chosen.max())
        grid = panel.subplots(side, side, squeeze=False)
        for cell, channel in zip(grid.flat, channels, strict=False):
            shown = cell.imshow(activations[channel], cmap=MAP_CMAP, vmin=low, vmax=high)
            cell.set_title(str(channel), fontsize=LABEL_POINTS, pad=2)
        for cell in grid.flat:
            cell.axis("off")
        panel.suptitle(f"{layer} {tuple(activations.shape[1:])}")
        panel.colorbar(shown, ax=grid)
    return figure


def channel_grid(
    images: np.ndarray, labels: Sequence[str], maps: np.ndarray, channels: Sequence[Sequence[int]], title: str
) -> Figure:
    """Many images at once: one row per image, its input, then its chosen channels, all on one colour scale.

    One scale for the whole figure (one colorbar) makes a channel comparable across images and
    channels: a brighter panel is a larger activation wherever it sits. Each row's channels are one
    mosaic (tiles separated by blank gaps, channel numbers as tick labels): a hundred separate axes
    are many times slower to build and save. The notebook draws a long list of images in parts
    (``figure_parts``).

    Args:
        images: ``(N, H, W, 3)`` input images.
        labels: one title per input panel (for example true and predicted class).
        maps: ``(N, C, h, w)`` outputs of one layer.
        channels: per image, the channel indices to show (they may differ per image, as for top-k).
        title: the figure title (layer and selection).
    """
    mosaic_width = FIGURE_WIDTH - INPUT_WIDTH - COLORBAR_WIDTH
    figure, axes = _image_rows(len(images), [INPUT_WIDTH, mosaic_width], CHANNEL_ROW_HEIGHT, titled=True, colorbar=True)
    chosen = np.concatenate([np.asarray(maps[row])[list(picked)] for row, picked in enumerate(channels)])
    low, high = float(chosen.min()), float(chosen.max())
    for row, (image, label, picked) in enumerate(zip(images, labels, channels, strict=True)):
        _show_input(axes[row, 0], image, label)
        tiles, centres = _mosaic(np.asarray(maps[row])[list(picked)])
        shown = axes[row, 1].imshow(tiles, cmap=_VIRIDIS_BLANK, vmin=low, vmax=high, interpolation="nearest")
        axes[row, 1].set_xticks(centres, [str(channel) for channel in picked])
        axes[row, 1].xaxis.set_ticks_position("top")
        axes[row, 1].tick_params(length=0, pad=1)
        axes[row, 1].set_yticks([])
        axes[row, 1].set_frame_on(False)
    figure.colorbar(shown, ax=axes[:, 1].tolist(), label=text("feature_maps.activation_colorbar"))
    figure.suptitle(title)
    return figure


def pca_grid(
    images: np.ndarray, labels: Sequence[str], columns: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str
) -> Figure:
    """One row per image: the input, then one PCA-to-RGB picture per column, its explained variance in the title.

    The notebook draws a long list of images in parts (``figure_parts``).

    Args:
        images: ``(N, H, W, 3)`` input images.
        labels: one title per input panel.
        columns: column name (for example ``"conv2 all"``) -> ``(rgb, ratio)`` with ``rgb`` of shape
            ``(N, h, w, 3)`` in [0, 1] and ``ratio`` the ``(N, 3)`` explained variance ratios (``maps.pca_rgb``).
        title: the figure title.
    """
    column_width = min(PCA_COLUMN, (FIGURE_WIDTH - INPUT_WIDTH) / len(columns))
    widths = [INPUT_WIDTH] + [column_width] * len(columns)
    figure, axes = _image_rows(len(images), widths, column_width + PCA_TITLES_HEIGHT, titled=True, colorbar=False)
    for row, (image, label) in enumerate(zip(images, labels, strict=True)):
        _show_input(axes[row, 0], image, label)
        for cell, (name, (rgb, ratio)) in zip(axes[row, 1:], columns.items(), strict=True):
            cell.imshow(np.asarray(rgb[row]), interpolation="nearest")
            percent = "/".join(f"{100 * value:.0f}" for value in np.asarray(ratio[row]))
            cell.set_title(f"{name}\n{percent}", fontsize=LABEL_POINTS)  # in %, as the caption says
            cell.axis("off")
    figure.suptitle(title)
    return figure


def pca_part(
    columns: Mapping[str, tuple[np.ndarray, np.ndarray]], part: slice
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The columns of :func:`pca_grid` for the images of one part (``figure_parts``) of a long list."""
    return {name: (rgb[part], ratio[part]) for name, (rgb, ratio) in columns.items()}


def activation_overlays(
    images: np.ndarray, labels: Sequence[str], heatmaps: Sequence[tuple[Sequence[int], np.ndarray]], layer: str
) -> Figure:
    """The source's "attention heatmap", one row per image: the input, then each channel's map laid over it.

    The notebook draws a long list of images in parts (``figure_parts``).

    Args:
        images: ``(N, H, W, 3)`` input images.
        labels: one title per input panel (true and predicted class).
        heatmaps: per image, the channel indices and their ``(k, H, W)`` maps in [0, 1], already upsampled
            to the image size (``maps.activation_heatmaps`` then ``maps.upsample``).
        layer: the layer the channels belong to, for the panel titles.
    """
    count = max(len(channels) for channels, _ in heatmaps)
    widths = [INPUT_WIDTH] + [OVERLAY_COLUMN] * count
    figure, axes = _image_rows(len(images), widths, OVERLAY_ROW_HEIGHT, titled=False, colorbar=True)
    for row, (image, label, (channels, overlays)) in enumerate(zip(images, labels, heatmaps, strict=True)):
        _show_input(axes[row, 0], image, label)
        for cell, channel, overlay in zip(axes[row, 1:], channels, np.asarray(overlays), strict=False):
            cell.imshow(image)
            shown = cell.imshow(overlay, cmap=OVERLAY_CMAP, alpha=OVERLAY_ALPHA, vmin=0, vmax=1)
            cell.set_title(text("feature_maps.overlay_title", layer=layer, channel=channel))
        for cell in axes[row, 1:]:
            cell.axis("off")
    figure.colorbar(shown, ax=axes[:, 1:].ravel().tolist(), label=text("feature_maps.overlay_colorbar"))
    return figure


def intro() -> str:
    """What the section shows and how to read its colours, before its first figure."""
    return text("feature_maps.intro", cmap=MAP_CMAP)


def run_paragraph(model: str, seed: int, layers: Sequence[str], images: int, shown: int, classes: int) -> str:
    """Which model, layers and test images the section shows; says so when the images leave classes out.

    Args:
        shown: how many classes the images cover, of ``classes``.
    """
    left_out = text("feature_maps.left_out", shown=shown, classes=classes) if shown < classes else ""
    return text("feature_maps.run", model=model, seed=seed, layers=listing(layers), images=images, left_out=left_out)


def feature_maps_caption(
    index: int, true: str, predicted: str, model: str, seed: int, channels: Sequence[int], layers: Sequence[str]
) -> str:
    """The caption of :func:`feature_maps` for test image ``index``."""
    return text(
        "feature_maps.feature_maps_caption",
        index=index,
        true=true,
        predicted=predicted,
        run=run_name(model, seed),
        first=channels[0],
        last=channels[-1],
        layers=listing(layers),
        kinds=layer_kinds(layers),
        cmap=MAP_CMAP,
    )


def selection(mode: str, count: int) -> str:
    """The channels a ``select_channels`` mode picks, in words: "the first 9 channels"."""
    return text(MODE_TEXTS[mode], n=count)


def channel_grid_title(layer: str, mode: str, count: int) -> str:
    return text("feature_maps.grid_title", layer=layer, selection=selection(mode, count))


def channel_grid_caption(layer: str, model: str, seed: int, mode: str, count: int) -> str:
    """The caption of :func:`channel_grid` of ``count`` channels per image, selected by ``mode``."""
    return text(
        "feature_maps.channel_grid_caption",
        layer=layer,
        run=run_name(model, seed),
        kind=describe_layer(layer),
        selection=selection(mode, count),
        cmap=MAP_CMAP,
        per_image=text("feature_maps.per_image_channels") if mode == "top" else "",
    )


def pca_column_name(layer: str, mode: str | None = None) -> str:
    """The title of a :func:`pca_grid` column: the layer and its channels (all, or those ``mode`` selects)."""
    return text("feature_maps.pca_column", layer=layer, channels=mode or text("feature_maps.pca_all"))


def pca_title(count: int | None = None) -> str:
    """The title of a :func:`pca_grid` of all channels, or of ``count`` selected ones."""
    return text("feature_maps.pca_title") if count is None else text("feature_maps.pca_chosen_title", count=count)


def pca_caption(model: str, seed: int) -> str:
    """The caption of :func:`pca_grid` of all channels of every layer."""
    return text(
        "feature_maps.pca_caption", run=run_name(model, seed), low=percentile(PCA_CLIP[0]), high=percentile(PCA_CLIP[1])
    )


def pca_chosen_caption(model: str, seed: int, count: int, modes: Sequence[str]) -> str:
    """The caption of :func:`pca_grid` of ``count`` channels per layer and selection mode."""
    return text("feature_maps.pca_chosen_caption", run=run_name(model, seed), count=count, modes=listing(modes))


def activation_overlays_caption(model: str, seed: int, layer: str, has_attention: bool) -> str:
    """The caption of :func:`activation_overlays` of ``layer``, with :data:`OVERLAY_CHANNELS` channels per image;
    it sends readers to the attention section, or says the model has none."""
    return text(
        "feature_maps.overlays_caption",
        run=run_name(model, seed),
        count=OVERLAY_CHANNELS,
        layer=layer,
        cmap=OVERLAY_CMAP,
        transparent=f"{100 * (1 - OVERLAY_ALPHA):g}",
        where=text("feature_maps.overlays_attention" if has_attention else "feature_maps.overlays_no_attention"),
    )


_VIRIDIS_BLANK = plt.get_cmap(MAP_CMAP).with_extremes(bad="white")  # NaN gaps between tiles stay blank


def _mosaic(tiles: np.ndarray, gap_fraction: float = 0.12) -> tuple[np.ndarray, list[float]]:
    """``(K, h, w)`` maps side by side with NaN gaps, and the x centre of each tile (for its tick label)."""
    count, height, width = tiles.shape
    gap = max(1, round(gap_fraction * width))
    mosaic = np.full((height, count * width + (count - 1) * gap), np.nan, dtype=np.float32)
    for index, tile in enumerate(tiles):
        start = index * (width + gap)
        mosaic[:, start : start + width] = tile
    return mosaic, [index * (width + gap) + (width - 1) / 2 for index in range(count)]


def _image_rows(
    rows: int, widths: Sequence[float], row_height: float, *, titled: bool, colorbar: bool
) -> tuple[Figure, np.ndarray]:
    """One row of panels per image, ``row_height`` inches tall, in columns ``widths`` inches wide, under the figure's
    title (if ``titled``) and beside a colour bar (if ``colorbar``): the figure is drawn at the size it prints."""
    width = sum(widths) + (COLORBAR_WIDTH if colorbar else 0)
    return plt.subplots(
        rows,
        len(widths),
        figsize=(width, rows * row_height + (GRID_TITLE_HEIGHT if titled else 0)),
        layout="constrained",
        squeeze=False,
        width_ratios=widths,
    )


def _show_input(axes: Axes, image: np.ndarray, label: str) -> None:
    """The input image with its label and no ticks: the first panel of every row."""
    axes.imshow(image)
    axes.set_title(label, fontsize=LABEL_POINTS)
    axes.axis("off")
