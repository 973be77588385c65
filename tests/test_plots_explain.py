"""Explanation figures: projection contrast stretching, crops, and the layout of the three figures."""

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnlens.plots import explain, projections
from cnnlens.plots.explain import (
    WRONG,
    deconv_grid,
    gradcam_overlays,
    zfnet_grid,
)
from cnnlens.plots.style import CSS_DPI, OVERLAY_ALPHA, OVERLAY_CMAP, figure_parts, image_label, retina_png
from cnnlens.texts import CIFAR10_CLASS_NAMES, class_names

from helpers import assert_prints_legibly

H, W = 5, 7  # non-square on purpose: a swapped axis changes shapes
SHORT_PART_HEIGHT = 5.0  # inches: the most a part of a one-row-per-image grid may take in the short edition
SIZE = 32  # CIFAR-10's images
LAYERS = ("conv1", "conv2", "conv3")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def image_axes(figure):
    return [axes for axes in figure.axes if axes.images and axes.get_label() != "<colorbar>"]


def patch(shape=(3, H, W), rows=slice(1, 4), columns=slice(2, 4), seed=0):
    """A projection that is zero except for one block, like a conv1 deconvnet projection."""
    projection = np.zeros(shape)
    projection[:, rows, columns] = np.random.default_rng(seed).normal(size=projection[:, rows, columns].shape)
    return projection


def test_gradcam_overlays_share_one_scale_and_name_the_classes(text_keys):
    images = np.zeros((2, H, W, 3), dtype=np.uint8)
    predicted, true = np.random.default_rng(0).random((2, 2, H, W))
    figure = gradcam_overlays(images, predicted, true, ["cat", "dog"], ["cat", "ship"], [4, 9])
    panels = image_axes(figure)
    assert len(panels) == 6
    overlays = [axes.images[1] for axes in panels if len(axes.images) == 2]
    assert len(overlays) == 4 and {overlay.get_clim() for overlay in overlays} == {(0, 1)}
    assert all(axes.images[0].get_array().shape == (H, W, 3) for axes in panels)
    assert overlays[0].get_array().shape == (H, W)
    assert len(figure.axes) - len(panels) == 1  # one shared colorbar
    assert [axes.get_title() for axes in panels] == [
        "⟨style.image_label index=4 true=cat predicted=cat⟩",
        "⟨explain.gradcam_predicted_true_title predicted=cat⟩",
        "⟨explain.gradcam_true_title true=cat⟩",
        "⟨style.image_label index=9 true=dog predicted=ship⟩",
        "⟨explain.gradcam_predicted_title predicted=ship⟩",
        "⟨explain.gradcam_true_title true=dog⟩",
    ]
    assert mcolors.same_color(panels[3].title.get_color(), WRONG)
    assert not mcolors.same_color(panels[0].title.get_color(), WRONG)


def test_deconv_grid_has_the_input_then_one_panel_per_layer(text_keys):
    images = np.zeros((2, H, W, 3), dtype=np.uint8)
    layers = ("conv1", "conv2", "conv3")
    projections = {layer: np.stack([patch(seed=1), patch(seed=2)]) for layer in layers}
    strongest = {layer: {"channel": np.array([3, 17]), "position": np.array([[1, 2], [0, 4]])} for layer in layers}
    panels = image_axes(deconv_grid(images, projections, strongest, ["#0 cat", "#3 dog"]))
    assert len(panels) == 2 * 4
    assert [axes.get_title() for axes in panels[4:]] == ["#3 dog"] + [
        f"⟨explain.deconv_title layer={layer} channel=17 y=0 x=4⟩" for layer in layers
    ]
    assert all(axes.images[0].get_array().shape == (H, W, 3) for axes in panels)


def test_zfnet_grid_rows_are_channels_and_columns_test_images(text_keys):
    projections = np.stack([np.stack([patch(seed=row * 3 + column) for column in range(3)]) for row in range(2)])
    indices = np.array([[10, 11, 12], [20, 21, 22]])
    figure = zfnet_grid(projections, [5, 6], indices, "conv2", crop=False)
    panels = image_axes(figure)
    assert len(panels) == 6
    assert [axes.get_title() for axes in panels] == [f"⟨style.image index={index}⟩" for index in indices.flat]
    assert [panels[0].get_ylabel(), panels[3].get_ylabel()] == [
        "⟨explain.channel_label channel=5⟩",
        "⟨explain.channel_label channel=6⟩",
    ]
    assert all(axes.images[0].get_array().shape == (H, W, 3) for axes in panels)
    assert figure.get_suptitle() == "⟨explain.zfnet_title layer=conv2 count=3⟩"


def test_zfnet_grid_crops_to_one_common_size_and_shows_patches_beside(text_keys):
    projections = np.stack([[patch(), patch(rows=slice(0, 1), columns=slice(6, 7))]])
    patches = np.zeros((1, 2, 3, H, W), dtype=np.uint8)
    panels = image_axes(zfnet_grid(projections, [0], np.array([[1, 2]]), "conv1", patches=patches))
    beside = "⟨explain.patch_title⟩"
    assert [axes.get_title() for axes in panels] == ["⟨style.image index=1⟩", beside, "⟨style.image index=2⟩", beside]
    assert {axes.images[0].get_array().shape for axes in panels} == {(3, 2, 3)}


def test_gradcam_colorbar_reaches_the_strongest_value_its_label_names(text_keys):
    images = np.zeros((1, H, W, 3), dtype=np.uint8)
    figure = gradcam_overlays(images, np.ones((1, H, W)), np.ones((1, H, W)), ["cat"], ["cat"], [0])
    colorbar = next(axes for axes in figure.axes if axes.get_label() == "<colorbar>")
    assert colorbar.get_ylabel() == f"⟨explain.gradcam_colorbar high={explain.GRADCAM_RANGE[1]}⟩"
    assert colorbar.get_ylim()[1] == explain.GRADCAM_RANGE[1]


def test_gradcam_caption_names_layer_run_images_and_the_overlay(text_keys):
    assert explain.gradcam_caption("conv3", "plain", 4, [3, 8]) == (
        "⟨explain.gradcam_caption layer=conv3 run=⟨style.run model=plain seed=4⟩ "
        "images=⟨style.image index=3⟩⟨style.list_separator⟩⟨style.image index=8⟩ "
        f"cmap={OVERLAY_CMAP} alpha={OVERLAY_ALPHA:g} low=0 high=1⟩"
    )


def test_projection_captions_name_run_layers_and_the_clip_quantile(monkeypatch, text_keys):
    monkeypatch.setattr(projections, "CLIP_QUANTILE", 0.95)
    stretch = "stretch=⟨projections.stretch quantile=⟨style.ordinal_th n=95⟩⟩"
    assert explain.deconv_caption("se", 1, [2], ["conv1", "conv2"]) == (
        "⟨explain.deconv_caption run=⟨style.run model=se seed=1⟩ images=⟨style.image index=2⟩ "
        f"layers=conv1⟨style.list_separator⟩conv2 {stretch}⟩"
    )
    assert explain.zfnet_caption("conv2", "se", 1, [4, 7], 5, beside=True) == (
        "⟨explain.zfnet_caption layer=conv2 run=⟨style.run model=se seed=1⟩ channels=4⟨style.list_separator⟩7 "
        f"images=5 beside=⟨explain.zfnet_beside⟩ {stretch}⟩"
    )
    assert " beside= " in explain.zfnet_caption("conv2", "se", 1, [4], 5, beside=False)


def first_part_of_default_images() -> range:
    """The images of the first figure of the default ten (the short edition's one): a full part."""
    return range(10)[figure_parts(10)[0]]


def long_labels(count: int) -> tuple[list[str], list[str], list[int]]:
    """True and predicted class names, the longest CIFAR-10 names and wrong, and four-digit test-set indices."""
    names = class_names(CIFAR10_CLASS_NAMES)
    longest = sorted(names, key=len)[-2:]
    return [longest[row % 2] for row in range(count)], [longest[1 - row % 2] for row in range(count)], [9999] * count


def shown_height(figure) -> float:
    _, shown = retina_png(figure)
    return shown["height"] / CSS_DPI


def test_gradcam_overlays_print_legibly_and_short(language):
    count = len(first_part_of_default_images())
    labels, predictions, indices = long_labels(count)
    maps = np.random.default_rng(0).random((2, count, SIZE, SIZE))
    images = np.zeros((count, SIZE, SIZE, 3), dtype=np.uint8)
    figure = gradcam_overlays(images, maps[0], maps[1], labels, predictions, indices)
    assert_prints_legibly(figure)
    assert shown_height(figure) <= SHORT_PART_HEIGHT


def test_deconv_grid_prints_legibly_and_short(language):
    count = len(first_part_of_default_images())
    labels, predictions, indices = long_labels(count)
    projections = {layer: np.stack([patch((3, SIZE, SIZE), seed=row) for row in range(count)]) for layer in LAYERS}
    widest = {"channel": np.full(count, 127), "position": np.full((count, 2), 31)}
    titles = [image_label(*row) for row in zip(indices, labels, predictions, strict=True)]
    figure = deconv_grid(
        np.zeros((count, SIZE, SIZE, 3), dtype=np.uint8), projections, dict.fromkeys(LAYERS, widest), titles
    )
    assert_prints_legibly(figure)
    assert shown_height(figure) <= SHORT_PART_HEIGHT


@pytest.mark.parametrize("reach", [slice(0, 3), slice(0, SIZE)], ids=["conv1 crop", "whole image"])
def test_zfnet_grid_prints_legibly_with_patches_beside(language, reach):
    channels, images = 4, 4  # the default zfnet_channels and zfnet_images: one part of channels
    projections = np.stack(
        [np.stack([patch((3, SIZE, SIZE), reach, reach, seed=column) for column in range(images)])] * channels
    )
    patches = np.zeros((channels, images, 3, SIZE, SIZE), dtype=np.uint8)
    indices = np.full((channels, images), 9999)
    assert_prints_legibly(zfnet_grid(projections, [127] * channels, indices, "conv3", patches=patches))
