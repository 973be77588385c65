"""Depth figures: VGG16 and the trained CNNs from shallow to deep, and the measured per-depth summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from textwrap import wrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from cnnlens.interpret.channel_maps import normalize_map
from cnnlens.plots.projections import stretch_description, stretch_projection, support_box
from cnnlens.plots.style import (
    FIGURE_WIDTH,
    blank_axes,
    layer_kinds,
    line_style,
    listing,
    part_caption,
    run_names,
)
from cnnlens.plots.style import colours as _colours
from cnnlens.texts import text

MIN_CROP = (24, 24)  # a conv1_1 projection covers 3x3 pixels: crop no smaller than this

HEATMAP = "jet"  # the source material's colour map for channel-mean heatmaps
# The spatial concentration of an evenly spread map: the top fraction of positions that the depth analysis
# measures (depth_stats.spatial_concentration's top_fraction, which the depth step leaves at its default).
EVEN_SHARE = 0.1
EVEN_STYLE = ":"
# VggDepth.weights["kind"] of undegraded weights -> the text that says where they came from
WEIGHT_TEXTS = {"imagenet": "depth.weights_imagenet", "file": "depth.weights_file"}
# Figure heights in inches (every figure is FIGURE_WIDTH wide): a row of panels, and what the rows
# leave over for titles, labels and colour bars.
PHOTO_DEPTHS_HEIGHT = 2.0
TOP5_WIDTH = 1.5  # the top-5 list's column beside the photo, in heatmap widths
STRIP_ROW_HEIGHT = 0.5  # conv_strip: 14 columns of panels, each under half an inch wide
STRIP_MARGINS = 0.8
DECONV_ROW_HEIGHT = 1.1
DECONV_TITLES = 0.3
MODEL_ROW_HEIGHT = 1.3
MODEL_MARGINS = 0.8
DEPTH_LINES_HEIGHT = 2.6
NARROW_TEXT = 7  # points: labels as long as their panel is wide or tall (layer names, pixel ranges, photo names)
CATEGORY_CHARS = 22  # an ImageNet category longer than this continues on an indented line of the top-5 list
CONTINUED = "\n    "
LINE_SPACING = 1.4  # of labels of two lines: at matplotlib's 1.2 the lines of Chinese characters touch
COLORBAR_TICKS = 3  # at most this many ticks under a heatmap's colour bar, so that their labels stay apart
# depth_stats column prefix -> the text that heads its mean ± std in the per-depth table
MEASURE_TEXTS = {"sparsity": "depth.header_sparsity", "concentration": "depth.header_concentration"}


def photo_depths(
    image: np.ndarray, name: str, top5: Sequence[tuple[str, float]], maps: Mapping[str, np.ndarray]
) -> Figure:
    """The photo, its top-5 classes with probabilities, then one channel-mean heatmap (jet) per depth.

    Activation sizes differ by orders of magnitude between depths, so each heatmap has its own colour
    scale and colorbar: compare where a layer responds, not how strongly across layers.

    Args:
        image: ``(H, W, 3)`` uint8 photo as the network saw it.
        name: the photo's name (panel title).
        top5: ``(category, probability)`` pairs, best first.
        maps: layer name (panel title, for example ``"conv3_1"``) -> ``(h, w)`` channel-mean map.
    """
    figure, axes = plt.subplots(
        1,
        len(maps) + 2,
        figsize=(FIGURE_WIDTH, PHOTO_DEPTHS_HEIGHT),
        layout="constrained",
        width_ratios=[1.0, TOP5_WIDTH] + [1.0] * len(maps),
    )
    axes[0].imshow(image)
    axes[0].set_title(name)
    axes[0].axis("off")
    axes[1].text(
        0.0, 0.5, top_classes(top5), ha="left", va="center", linespacing=LINE_SPACING, transform=axes[1].transAxes
    )
    axes[1].axis("off")
    for panel, (title, values) in zip(axes[2:], maps.items(), strict=False):
        shown = panel.imshow(values, cmap=HEATMAP)
        panel.set_title(f"{title}\n{values.shape[0]}×{values.shape[1]}")
        blank_axes(panel)
        colorbar = figure.colorbar(shown, ax=panel, location="bottom", shrink=0.8, aspect=15)
        colorbar.ax.xaxis.set_major_locator(MaxNLocator(COLORBAR_TICKS))
    return figure


def top_classes(top5: Sequence[tuple[str, float]]) -> str:
    """The top-5 list beside the photo, long ImageNet names ("American Staffordshire terrier") wrapped onto
    indented lines so that the list stays narrow."""
    ranked = "\n".join(
        text(
            "depth.top_class",
            rank=rank,
            category=CONTINUED.join(wrap(category, CATEGORY_CHARS)),
            percent=f"{100 * probability:.2f}",
        )
        for rank, (category, probability) in enumerate(top5, start=1)
    )
    return text("depth.top_classes", count=len(top5), classes=ranked)


def conv_strip(images: np.ndarray, names: Sequence[str], maps: Mapping[str, np.ndarray]) -> Figure:
    """Every conv layer's channel-mean map left to right, one row per photo, each panel min-max scaled on its own.

    Per-panel scaling shows where each layer responds however large its values are; one colorbar reads
    0 as the panel's minimum and 1 as its maximum. Thirteen layers leave each panel under half an inch: the map
    size is written once under the first layer of each size (:func:`size_changes`), where pooling shrinks it.

    Args:
        images: ``(P, H, W, 3)`` photos (first column).
        names: the ``P`` photo names (row labels).
        maps: layer name -> ``(P, h, w)`` channel-mean maps, in depth order.
    """
    figure, axes = plt.subplots(
        len(images),
        len(maps) + 1,
        figsize=(FIGURE_WIDTH, STRIP_ROW_HEIGHT * len(images) + STRIP_MARGINS),
        layout=ConstrainedLayoutEngine(w_pad=0.01, h_pad=0.01, wspace=0.02, hspace=0.02),  # panels close together
        squeeze=False,
    )
    sizes = size_changes([np.shape(values)[1:] for values in maps.values()])
    for row, (image, name) in enumerate(zip(images, names, strict=False)):
        axes[row, 0].imshow(image)
        axes[row, 0].set_ylabel(name, fontsize=NARROW_TEXT)
        for panel, (layer, values) in zip(axes[row, 1:], maps.items(), strict=False):
            scaled = normalize_map(torch.as_tensor(np.asarray(values[row]))).numpy()
            shown = panel.imshow(scaled, cmap=HEATMAP, vmin=0.0, vmax=1.0)
            if row == 0:
                panel.set_title(layer, fontsize=NARROW_TEXT)
    for panel, size in zip(axes[-1, 1:], sizes, strict=True):
        panel.set_xlabel(size, fontsize=NARROW_TEXT)
    for panel in axes.flat:
        blank_axes(panel)
    figure.colorbar(shown, ax=axes, location="bottom", shrink=0.4, aspect=40, label=text("depth.strip_colorbar"))
    return figure


def size_changes(shapes: Sequence[tuple[int, ...]]) -> list[str]:
    """Each map's ``h×w``, or "" where it is the size of the map before it: sizes where pooling changes them."""
    return [
        f"{shape[0]}×{shape[1]}" if number == 0 or shape != shapes[number - 1] else ""
        for number, shape in enumerate(shapes)
    ]


def deconv_grid(images: np.ndarray, names: Sequence[str], projections: Mapping[str, np.ndarray]) -> Figure:
    """Per photo (rows): the photo with each depth's receptive field boxed, then per depth the deconvnet
    projection and the photo patch it covers, both cropped to the field (:func:`support_box`).

    Projections are signed: each is shown with :func:`stretch_projection` on its own (grey = 0).

    Args:
        images: ``(P, H, W, 3)`` photos.
        names: the ``P`` photo names (row labels).
        projections: layer name (column title) -> ``(P, 3, H, W)`` projections of the strongest activation at
            that depth.
    """
    panels = 1 + 2 * len(projections)
    figure, axes = plt.subplots(
        len(images),
        panels,
        figsize=(FIGURE_WIDTH, DECONV_ROW_HEIGHT * len(images) + DECONV_TITLES),
        layout="constrained",
        squeeze=False,
    )
    for row, (image, name) in enumerate(zip(images, names, strict=False)):
        axes[row, 0].imshow(image)
        axes[row, 0].set_ylabel(name)
        for depth, ((title, projection), colour) in enumerate(zip(projections.items(), _colours(), strict=False)):
            rows, columns = support_box(np.asarray(projection[row]), MIN_CROP)
            top, bottom, left, right = rows.start, rows.stop, columns.start, columns.stop
            axes[row, 0].add_patch(
                Rectangle(
                    (left - 0.5, top - 0.5), right - left, bottom - top, fill=False, edgecolor=colour, linewidth=1.5
                )
            )
            shown, patch = axes[row, 1 + 2 * depth], axes[row, 2 + 2 * depth]
            shown.imshow(stretch_projection(np.asarray(projection[row])[:, rows, columns]))
            patch.imshow(image[top:bottom, left:right])
            for panel in (shown, patch):
                for side in panel.spines.values():
                    side.set(edgecolor=colour, linewidth=2)
            box = text("depth.box_label", top=top, bottom=bottom - 1, left=left, right=right - 1)
            shown.set_xlabel(box, fontsize=NARROW_TEXT, linespacing=LINE_SPACING)
            if row == 0:
                shown.set_title(text("depth.projection_title", depth=title), linespacing=LINE_SPACING)
                patch.set_title(text("depth.patch_title", depth=title), linespacing=LINE_SPACING)
    for panel in axes.flat:
        blank_axes(panel)
    return figure


def models_by_depth(image: np.ndarray, title: str, maps: Mapping[str, Mapping[str, np.ndarray]]) -> Figure:
    """One input image, then rows = models and columns = layers (shallow to deep) of channel-mean heatmaps.

    Each column (layer) shares one colour scale over the models, so the same layer compares directly
    between models; layers keep their own scales.

    Args:
        image: ``(H, W, 3)`` input image.
        title: its caption, for example the true class.
        maps: row label (model, seed, prediction) -> layer name -> ``(h, w)`` channel-mean map.
    """
    layers = list(next(iter(maps.values())))
    figure = plt.figure(figsize=(FIGURE_WIDTH, MODEL_ROW_HEIGHT * len(maps) + MODEL_MARGINS), layout="constrained")
    left, right = figure.subfigures(1, 2, squeeze=False, width_ratios=[1, len(layers)])[0]
    axes = left.subplots()
    axes.imshow(image)
    axes.set_title(title, linespacing=LINE_SPACING)
    axes.axis("off")
    grid = right.subplots(len(maps), len(layers), squeeze=False)
    for column, layer in enumerate(layers):
        values = [np.asarray(per_layer[layer]) for per_layer in maps.values()]
        low, high = min(map(np.min, values)), max(map(np.max, values))
        for row, (label, value) in enumerate(zip(maps, values, strict=False)):
            shown = grid[row, column].imshow(value, cmap=HEATMAP, vmin=low, vmax=high)
            grid[row, 0].set_ylabel(label, linespacing=LINE_SPACING)
            blank_axes(grid[row, column])
        grid[0, column].set_title(f"{layer} {values[0].shape[0]}×{values[0].shape[1]}")
        colorbar = right.colorbar(shown, ax=grid[:, column].tolist(), location="bottom", shrink=0.85, aspect=12)
        colorbar.ax.xaxis.set_major_locator(MaxNLocator(COLORBAR_TICKS))
    return figure


def depth_table(table: pd.DataFrame) -> pd.DataFrame:
    """The per-depth summaries (``views.depth.depth_table``) as readers see them: mean ± std."""

    def spread(prefix: str) -> list[str]:
        means, stds = table[f"{prefix}_mean"], table[f"{prefix}_std"]
        return [
            text("depth.mean_std", mean=f"{mean:.3f}", std=f"{std:.3f}") for mean, std in zip(means, stds, strict=True)
        ]

    shapes = zip(table["channels"], table["height"], table["width"], strict=True)
    return pd.DataFrame(
        {
            text("depth.header_model"): table["model"],
            text("depth.header_seed"): table["seed"],
            text("depth.header_layer"): table["layer"],
            text("depth.header_output"): [f"{c}×{h}×{w}" for c, h, w in shapes],
            **{text(key): spread(prefix) for prefix, key in MEASURE_TEXTS.items()},
            text("depth.header_images"): table["images"],
        }
    )


def depth_lines(table: pd.DataFrame) -> Figure:
    """Sparsity and spatial concentration against depth, one line per model and seed, bars = ± std over images;
    the concentration of an evenly spread map (:data:`EVEN_SHARE`) is drawn as a reference.

    Args:
        table: the per-layer statistics of the models (``views.depth.depth_table``); layers are placed in their
            order of first appearance.
    """
    layers = list(dict.fromkeys(table["layer"]))
    figure, axes = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, DEPTH_LINES_HEIGHT), layout="constrained")
    runs = table.groupby(["model", "seed"], sort=False)
    for number, (((model, seed), rows), colour) in enumerate(zip(runs, _colours(), strict=False)):
        dodge = 0.04 * (number - (runs.ngroups - 1) / 2)  # so overlapping error bars stay apart
        positions = [layers.index(layer) + dodge for layer in rows["layer"]]
        for panel, prefix in zip(axes, ("sparsity", "concentration"), strict=False):
            panel.errorbar(
                positions,
                rows[f"{prefix}_mean"],
                yerr=rows[f"{prefix}_std"],
                color=colour,
                marker="o",
                capsize=3,
                label=text("depth.run_label", model=model, seed=seed),
            )
    even = f"{EVEN_SHARE:g}"
    axes[1].axhline(EVEN_SHARE, color="grey", linestyle=EVEN_STYLE, label=text("depth.even_label", even=even))
    axes[0].set(ylabel=text("depth.sparsity_axis"), title=text("depth.sparsity_title"), ylim=(0, 1))
    axes[1].set(
        ylabel=text("depth.concentration_axis", top=f"{100 * EVEN_SHARE:g}"), title=text("depth.concentration_title")
    )
    for panel in axes:
        panel.set_xticks(range(len(layers)), layers)
        panel.set_xlabel(text("depth.layer_axis"))
        panel.grid(alpha=0.3)
        panel.legend()
    return figure


def intro() -> str:
    """What the section shows and how to read its heatmaps, before its first figure."""
    return text("depth.intro", cmap=HEATMAP)


def network_name(degraded: bool) -> str:
    """VGG16 as the captions name it: with a note when its weights are random."""
    return text("depth.network_random" if degraded else "depth.network")


def weights_note(kind: str, source: str) -> str:
    """Where VGG16's trained weights came from, shown before its figures (degraded weights show a banner)."""
    return text("depth.weights_note", weights=text(WEIGHT_TEXTS[kind]), source=source)


def vgg_layer_title(index: int, name: str) -> str:
    """A VGG16 depth by its index into ``features`` and its name: "features[10] conv3_1"."""
    return text("depth.vgg_layer", index=index, name=name)


def photo_depths_caption(
    photo: str, network: str, size: tuple[int, int], top5: Sequence[tuple[str, float]], depths: Sequence[str]
) -> str:
    """The caption of :func:`photo_depths`.

    Args:
        size: ``(height, width)`` of the photo as the network saw it.
        depths: the titles of its heatmaps, shallow to deep.
    """
    best, probability = top5[0]
    return text(
        "depth.photo_depths_caption",
        photo=photo,
        network=network,
        height=size[0],
        width=size[1],
        count=len(top5),
        best=best,
        percent=f"{100 * probability:.2f}",
        depths=listing(depths),
        cmap=HEATMAP,
    )


def photos_part_caption(caption: str, part: slice, photos: Sequence[str]) -> str:
    """The caption of one part of a grid of one row per photo cut by :func:`figure_parts`: as
    :func:`part_caption`, but a later part names its photos (they are no test images)."""
    if part.start:
        return text("depth.next_photos", photos=listing(photos[part]))
    return part_caption(caption, part, range(len(photos)))


def conv_strip_caption(network: str, layers: int) -> str:
    """The caption of :func:`conv_strip` of ``layers`` convolution layers."""
    return text("depth.conv_strip_caption", network=network, layers=layers, cmap=HEATMAP)


def deconv_caption(network: str, depths: Sequence[str]) -> str:
    """The caption of :func:`deconv_grid`: how the projections are cropped (:data:`MIN_CROP`) and stretched."""
    return text(
        "depth.deconv_caption",
        network=network,
        depths=listing(depths),
        height=MIN_CROP[0],
        width=MIN_CROP[1],
        stretch=stretch_description(),
    )


def image_title(index: int, true: str) -> str:
    """The title of the input panel of :func:`models_by_depth`."""
    return text("depth.image_title", index=index, true=true)


def model_label(model: str, seed: int, predicted: str) -> str:
    """The row label of one model in :func:`models_by_depth`: the model, its seed and its prediction."""
    return text("depth.model_label", model=model, seed=seed, predicted=predicted)


def models_by_depth_caption(index: int, true: str, runs: Sequence[tuple[str, int]], layers: Sequence[str]) -> str:
    """The caption of :func:`models_by_depth` for test image ``index`` of class ``true``."""
    return text(
        "depth.models_by_depth_caption",
        index=index,
        true=true,
        runs=run_names(runs),
        layers=listing(layers),
        kinds=layer_kinds(layers),
        cmap=HEATMAP,
    )


def table_paragraph(images: int, runs: Sequence[tuple[str, int]]) -> str:
    """What the per-depth table (:func:`depth_table`) measures, over how many images, for which models."""
    return text("depth.table_paragraph", images=images, runs=run_names(runs))


def depth_lines_caption(layers: Sequence[str], runs: Sequence[tuple[str, int]]) -> str:
    """The caption of :func:`depth_lines`."""
    return text(
        "depth.depth_lines_caption",
        layers=listing(layers),
        runs=run_names(runs),
        top=f"{100 * EVEN_SHARE:g}",
        even=f"{EVEN_SHARE:g}",
        line=line_style(EVEN_STYLE),
    )
