"""Depth figures: VGG16 and the trained CNNs from shallow to deep, and the measured per-depth summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from cnnlens.interpret.channel_maps import normalize_map
from cnnlens.plots.projections import stretch_projection, support_box
from cnnlens.plots.style import colours as _colours
from cnnlens.plots.style import panel_grid

MIN_CROP = (24, 24)  # a conv1_1 projection covers 3x3 pixels: crop no smaller than this

HEATMAP = "jet"  # the source material's colour map for channel-mean heatmaps


def _blank(axes: plt.Axes) -> None:
    """No ticks, but keep the y label free for row names (``axis("off")`` would hide it)."""
    axes.set_xticks([])
    axes.set_yticks([])


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
        maps: panel title (for example ``"features[10] conv3_1"``) -> ``(h, w)`` channel-mean map.
    """
    figure, axes = plt.subplots(
        1,
        len(maps) + 2,
        figsize=(3.0 + 2.9 * len(maps) + 2.2, 3.0),
        layout="constrained",
        width_ratios=[1.0, 0.8] + [1.15] * len(maps),
    )
    axes[0].imshow(image)
    axes[0].set_title(name)
    axes[0].axis("off")
    ranked = "\n".join(
        f"{rank}. {category}: {100 * probability:.2f} %" for rank, (category, probability) in enumerate(top5, start=1)
    )
    axes[1].text(
        0.0,
        0.5,
        f"top-5 classes\n{ranked}",
        ha="left",
        va="center",
        fontsize=9,
        linespacing=1.5,
        transform=axes[1].transAxes,
    )
    axes[1].axis("off")
    for panel, (title, values) in zip(axes[2:], maps.items(), strict=False):
        shown = panel.imshow(values, cmap=HEATMAP)
        panel.set_title(f"{title}\n{values.shape[0]}×{values.shape[1]}", fontsize=10)
        _blank(panel)
        figure.colorbar(shown, ax=panel, shrink=0.8)
    return figure


def conv_strip(images: np.ndarray, names: Sequence[str], maps: Mapping[str, np.ndarray]) -> Figure:
    """Every conv layer's channel-mean map left to right, one row per photo, each panel min-max scaled on its own.

    Per-panel scaling shows where each layer responds however large its values are; one colorbar reads
    0 as the panel's minimum and 1 as its maximum.

    Args:
        images: ``(P, H, W, 3)`` photos (first column).
        names: the ``P`` photo names (row labels).
        maps: layer name -> ``(P, h, w)`` channel-mean maps, in depth order.
    """
    columns = len(maps) + 1
    figure, axes = panel_grid(len(images), columns, figsize=(1.2 * columns + 1.0, 1.3 * len(images) + 0.5))
    for row, (image, name) in enumerate(zip(images, names, strict=False)):
        axes[row, 0].imshow(image)
        axes[row, 0].set_ylabel(name, fontsize=9)
        for panel, (layer, values) in zip(axes[row, 1:], maps.items(), strict=False):
            scaled = normalize_map(torch.as_tensor(np.asarray(values[row]))).numpy()
            shown = panel.imshow(scaled, cmap=HEATMAP, vmin=0.0, vmax=1.0)
            if row == 0:
                panel.set_title(f"{layer}\n{values.shape[1]}×{values.shape[2]}", fontsize=8)
    for panel in axes.flat:
        _blank(panel)
    figure.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.7, label="panel min (0) to max (1)")
    return figure


def deconv_grid(images: np.ndarray, names: Sequence[str], projections: Mapping[str, np.ndarray]) -> Figure:
    """Per photo (rows): the photo with each depth's receptive field boxed, then per depth the deconvnet
    projection and the photo patch it covers, both cropped to the field (:func:`support_box`).

    Projections are signed: each is shown with :func:`stretch_projection` on its own (grey = 0).

    Args:
        images: ``(P, H, W, 3)`` photos.
        names: the ``P`` photo names (row labels).
        projections: panel title -> ``(P, 3, H, W)`` projections of the strongest activation at that depth.
    """
    columns = 1 + 2 * len(projections)
    figure, axes = plt.subplots(
        len(images), columns, figsize=(1.75 * columns, 1.9 * len(images) + 0.4), layout="constrained", squeeze=False
    )
    for row, (image, name) in enumerate(zip(images, names, strict=False)):
        axes[row, 0].imshow(image)
        axes[row, 0].set_ylabel(name, fontsize=9)
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
            shown.set_xlabel(f"rows {top}-{bottom - 1}, cols {left}-{right - 1}", fontsize=7)
            if row == 0:
                shown.set_title(f"{title}\nprojection", fontsize=9)
                patch.set_title(f"{title}\nphoto patch", fontsize=9)
    for panel in axes.flat:
        _blank(panel)
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
    figure = plt.figure(figsize=(2.4 + 2.3 * len(layers), 0.6 + 2.0 * len(maps)), layout="constrained")
    left, right = figure.subfigures(1, 2, width_ratios=[1, len(layers)])
    axes = left.subplots()
    axes.imshow(image)
    axes.set_title(title, fontsize=10)
    axes.axis("off")
    grid = right.subplots(len(maps), len(layers), squeeze=False)
    for column, layer in enumerate(layers):
        values = [np.asarray(per_layer[layer]) for per_layer in maps.values()]
        low, high = min(map(np.min, values)), max(map(np.max, values))
        for row, (label, value) in enumerate(zip(maps, values, strict=False)):
            shown = grid[row, column].imshow(value, cmap=HEATMAP, vmin=low, vmax=high)
            grid[row, 0].set_ylabel(label, fontsize=9)
            _blank(grid[row, column])
        grid[0, column].set_title(f"{layer} {values[0].shape[0]}×{values[0].shape[1]}", fontsize=10)
        right.colorbar(shown, ax=grid[:, column].tolist(), location="bottom", shrink=0.85, aspect=12)
    return figure


def depth_table(table: pd.DataFrame) -> pd.DataFrame:
    """The per-depth summaries (``cnnlens depth-stats`` CSVs, concatenated) as readers see them: mean ± std."""

    def spread(prefix: str) -> list[str]:
        return [f"{mean:.3f} ± {std:.3f}" for mean, std in zip(table[f"{prefix}_mean"], table[f"{prefix}_std"], strict=False)]

    return pd.DataFrame(
        {
            "model": table["model"],
            "seed": table["seed"],
            "layer": table["layer"],
            "output (C×H×W)": [f"{c}×{h}×{w}" for c, h, w in zip(table["channels"], table["height"], table["width"], strict=False)],
            "sparsity (share of zeros)": spread("sparsity"),
            "spatial concentration": spread("concentration"),
            "images": table["images"],
        }
    )


def depth_lines(table: pd.DataFrame, uniform: float = 0.1) -> Figure:
    """Sparsity and spatial concentration against depth, one line per model and seed, bars = ± std over images.

    Args:
        table: concatenated ``cnnlens depth-stats`` CSVs; layers are placed in their order of first appearance.
        uniform: the concentration of an evenly spread map (the top fraction measured), drawn as a reference.
    """
    layers = list(dict.fromkeys(table["layer"]))
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
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
                label=f"{model} (seed {seed})",
            )
    axes[1].axhline(uniform, color="grey", linestyle=":", label=f"evenly spread ({uniform:g})")
    axes[0].set(ylabel="share of zero activations", title="Sparsity", ylim=(0, 1))
    axes[1].set(ylabel=f"share of mass in top {100 * uniform:g} % of positions", title="Spatial concentration")
    for panel in axes:
        panel.set_xticks(range(len(layers)), layers)
        panel.set_xlabel("layer (shallow to deep)")
        panel.grid(alpha=0.3)
        panel.legend(fontsize="small")
    return figure
