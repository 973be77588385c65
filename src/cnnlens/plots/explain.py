"""Explanation figures: Grad-CAM overlays, deconvnet projections per image, ZFNet's top images per channel.

Deconvnet projections are signed maps in the model's (normalised) pixel space, with magnitudes that shrink
by orders of magnitude from conv1 to conv3. They are shown as ZFNet showed them: each panel contrast-stretched
on its own, so the pattern is visible and zero is mid-gray, but brightness is not comparable across panels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from cnnlens.plots.projections import stretch_description, stretch_projection, support_box
from cnnlens.plots.style import (
    FIGURE_WIDTH,
    OVERLAY_ALPHA,
    OVERLAY_CMAP,
    TEXT_WIDTH,
    image_label,
    image_names,
    listing,
    overlay_colorbar,
    run_name,
)
from cnnlens.texts import text

GRADCAM_RANGE = (0, 1)  # every Grad-CAM map is scaled to this range on its own
WRONG = "tab:red"

# A row of images under two-line titles: the rows of a figure part (style.figure_parts) stay well within a page,
# short enough for two to share a page of the short edition. The panels take the height left under the titles,
# about 0.65 in.
IMAGE_ROW_HEIGHT = 1.0  # inches
# The widths of the one-row-per-image grids: enough for their columns' two-line titles side by side.
GRADCAM_WIDTH = 0.75 * TEXT_WIDTH  # three image columns and the colour bar
DECONV_WIDTH = 0.85 * TEXT_WIDTH  # the input and three layers
# ZFNet's grid takes the text width (less the margins of the notebook's tight PNG); each row is its panels' height
# plus this much for the one-line titles.
ZFNET_TITLE_HEIGHT = 0.3  # inches
ZFNET_ROW_LABEL_WIDTH = 0.3  # inches left of the first column: the channel's name
ZFNET_SUPTITLE_HEIGHT = 0.35  # inches
ZFNET_PANEL_SPACING = 0.85  # the share of a column's width that its panel takes


def gradcam_overlays(
    images: np.ndarray,
    predicted: np.ndarray,
    true: np.ndarray,
    labels: Sequence[str],
    predictions: Sequence[str],
    indices: Sequence[int],
) -> Figure:
    """One row per image: the input, Grad-CAM for the predicted class, Grad-CAM for the true class.

    Both maps are overlaid on the image (jet, alpha 0.5) on one shared ``[0, 1]`` scale with one colorbar,
    so evidence for the two classes can be compared panel to panel. Wrong predictions are titled in red.

    Args:
        images: ``(N, H, W, 3)`` uint8 inputs.
        predicted: ``(N, H, W)`` Grad-CAM maps in ``[0, 1]`` for each image's predicted class.
        true: ``(N, H, W)`` Grad-CAM maps in ``[0, 1]`` for each image's true class.
        labels: true class name per image.
        predictions: predicted class name per image.
        indices: test-set index per image, for the titles.
    """
    figure, axes = _image_rows(len(images), 3, GRADCAM_WIDTH)
    for row, image in enumerate(images):
        label, prediction = labels[row], predictions[row]
        colour = "black" if label == prediction else WRONG
        _image_panel(axes[row, 0], image, image_label(indices[row], label, prediction), colour)
        same = "explain.gradcam_predicted_true_title" if label == prediction else "explain.gradcam_predicted_title"
        for panel, cam, title in (
            (axes[row, 1], predicted[row], text(same, predicted=prediction)),
            (axes[row, 2], true[row], text("explain.gradcam_true_title", true=label)),
        ):
            _image_panel(panel, image, title)
            overlay = panel.imshow(
                cam, cmap=OVERLAY_CMAP, alpha=OVERLAY_ALPHA, vmin=GRADCAM_RANGE[0], vmax=GRADCAM_RANGE[1]
            )
    overlay_colorbar(figure, overlay, axes, text("explain.gradcam_colorbar", high=GRADCAM_RANGE[1]))
    return figure


def deconv_grid(
    images: np.ndarray,
    projections: Mapping[str, np.ndarray],
    strongest: Mapping[str, Mapping[str, np.ndarray]],
    titles: Sequence[str],
) -> Figure:
    """One row per image: the input, then per layer the projection of that image's strongest activation.

    Args:
        images: ``(N, H, W, 3)`` uint8 inputs.
        projections: layer -> ``(N, 3, H, W)`` signed deconvnet projections (stretched per panel here).
        strongest: layer -> ``{"channel": (N,), "position": (N, 2)}``, the kept activation's channel and its
            ``(y, x)`` in the layer's output, for the titles.
        titles: title of each input panel (for example its index and classes).
    """
    figure, axes = _image_rows(len(images), len(projections) + 1, DECONV_WIDTH)
    for row, image in enumerate(images):
        _image_panel(axes[row, 0], image, titles[row])
        for panel, (layer, projection) in zip(axes[row, 1:], projections.items(), strict=False):
            channel = int(strongest[layer]["channel"][row])
            y, x = (int(v) for v in strongest[layer]["position"][row])
            title = text("explain.deconv_title", layer=layer, channel=channel, y=y, x=x)
            _image_panel(panel, stretch_projection(projection[row]), title)
    return figure


def zfnet_grid(
    projections: np.ndarray,
    channels: Sequence[int],
    image_indices: np.ndarray,
    layer: str,
    patches: np.ndarray | None = None,
    crop: bool = True,
) -> Figure:
    """ZFNet's figure for one layer: rows are channels, columns the test images that excite each channel most.

    Args:
        projections: ``(C, k, 3, H, W)`` signed projections of each channel's strongest activation in each of its
            top ``k`` images (stretched per panel here).
        channels: the channel number of each row.
        image_indices: ``(C, k)`` test-set index of each image, for the titles.
        layer: layer name, for the figure title.
        patches: optional ``(C, k, 3, H, W)`` uint8 images; each is then shown right of its projection.
        crop: cut every panel (and its image) to the pixels the projection reaches, as ZFNet did.
    """
    projections = np.asarray(projections)
    rows, count = projections.shape[:2]
    per_image = 1 if patches is None else 2
    size = _crop_size(projections) if crop else projections.shape[-2:]
    figure, axes = plt.subplots(
        rows, count * per_image, figsize=_zfnet_size(rows, count * per_image, size), layout="constrained", squeeze=False
    )
    for row, channel in enumerate(channels):
        for column in range(count):
            projection = projections[row, column]
            box = support_box(projection, size) if crop else (slice(None), slice(None))
            cell = axes[row, column * per_image]
            index = text("style.image", index=int(image_indices[row, column]))
            _image_panel(cell, stretch_projection(projection)[box], index, frame=True)
            if patches is not None:
                image = np.moveaxis(np.asarray(patches[row, column]), 0, -1)
                _image_panel(axes[row, column * per_image + 1], image[box], text("explain.patch_title"), frame=True)
        axes[row, 0].set_ylabel(text("explain.channel_label", channel=channel))
    figure.suptitle(text("explain.zfnet_title", layer=layer, count=count))
    return figure


def intro() -> str:
    """What the section shows and how to read its colours, before its first figure."""
    return text("explain.intro", cmap=OVERLAY_CMAP)


def gradcam_caption(layer: str, model: str, seed: int, indices: Sequence[int]) -> str:
    """The caption of :func:`gradcam_overlays` for the test images ``indices``."""
    return text(
        "explain.gradcam_caption",
        layer=layer,
        run=run_name(model, seed),
        images=image_names(indices),
        cmap=OVERLAY_CMAP,
        alpha=f"{OVERLAY_ALPHA:g}",
        low=GRADCAM_RANGE[0],
        high=GRADCAM_RANGE[1],
    )


def deconv_caption(model: str, seed: int, indices: Sequence[int], layers: Sequence[str]) -> str:
    """The caption of :func:`deconv_grid` for the test images ``indices``."""
    return text(
        "explain.deconv_caption",
        run=run_name(model, seed),
        images=image_names(indices),
        layers=listing(layers),
        stretch=stretch_description(),
    )


def zfnet_caption(layer: str, model: str, seed: int, channels: Sequence[int], images: int, beside: bool) -> str:
    """The caption of :func:`zfnet_grid` drawn with its default crop; ``beside``: with the image patches."""
    return text(
        "explain.zfnet_caption",
        layer=layer,
        run=run_name(model, seed),
        channels=listing(channels),
        images=images,
        beside=text("explain.zfnet_beside") if beside else "",
        stretch=stretch_description(),
    )


def _image_rows(count: int, columns: int, width: float) -> tuple[Figure, np.ndarray]:
    """The panels of a grid of one row per image, ``width`` inches wide: each row :data:`IMAGE_ROW_HEIGHT` tall."""
    figsize = (width, IMAGE_ROW_HEIGHT * count)
    return plt.subplots(count, columns, figsize=figsize, layout="constrained", squeeze=False)


def _zfnet_size(rows: int, columns: int, crop: Sequence[int]) -> tuple[float, float]:
    """The text width, and the height at which panels of the ``(height, width)`` crop fill that width."""
    width = FIGURE_WIDTH
    panel_width = ZFNET_PANEL_SPACING * (width - ZFNET_ROW_LABEL_WIDTH) / columns
    panel_height = panel_width * crop[0] / crop[1]
    return width, rows * (panel_height + ZFNET_TITLE_HEIGHT) + ZFNET_SUPTITLE_HEIGHT


def _crop_size(projections: np.ndarray) -> tuple[int, int]:
    """The ``(height, width)`` of the largest box that any of the ``(..., 3, H, W)`` projections reaches: every
    crop of a grid grows to it, so that all its panels share one scale."""
    height, width = projections.shape[-2:]
    boxes = [support_box(projection) for projection in projections.reshape(-1, *projections.shape[-3:])]
    return (
        max(_length(vertical, height) for vertical, _ in boxes),
        max(_length(horizontal, width) for _, horizontal in boxes),
    )


def _image_panel(axes: Axes, image: np.ndarray, title: str, colour: str = "black", frame: bool = False) -> None:
    """An ``(H, W, 3)`` image without ticks, titled; ``frame`` keeps the border (and room for a row label)."""
    axes.imshow(image)
    axes.set_title(title, color=colour)
    if frame:
        axes.set(xticks=[], yticks=[])
    else:
        axes.axis("off")


def _length(part: slice, extent: int) -> int:
    """How many pixels a slice from :func:`support_box` spans along an axis of ``extent`` pixels."""
    return len(range(*part.indices(extent)))
