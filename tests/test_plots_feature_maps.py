"""Feature-map figures: panel counts, channel titles, shared colour scales, H/W kept straight, no NaN."""

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from cnnlens.interpret.channel_maps import activation_heatmaps, pca_rgb, select_channels, upsample
from cnnlens.plots import feature_maps as plots
from cnnlens.plots.style import CSS_DPI, figure_parts, image_labels, percentile, retina_png
from cnnlens.texts import CIFAR10_CLASS_NAMES, class_names
from cnnlens.views.feature_maps import overlay_heatmaps, pca_column, selected_channels, shared_first_channels

from helpers import assert_prints_legibly

# Non-square everywhere: a swapped H and W changes a shape the tests look at.
HEIGHT, WIDTH = 12, 20
# The defaults (config.yaml's visualise): 10 images (one per CIFAR-10 class), 9 channels of 3 layers (channels and
# side of each layer's output on 32x32 images), all three selections; the grids draw them in parts of 4 images.
DEFAULT_IMAGES, DEFAULT_CHANNELS, DEFAULT_MODES = 10, 9, ("first", "last", "top")
DEFAULT_LAYERS = {"conv1": (32, 32), "conv2": (64, 16), "conv3": (128, 8)}
FIRST_PART = figure_parts(DEFAULT_IMAGES)[0]
FEATURE_MAPS_MAX_HEIGHT = 2.4  # inches: the short edition's first figure of the section
PART_MAX_HEIGHT = 5.0  # inches: each part of a grid of one row per image


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def images(count: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (count, HEIGHT, WIDTH, 3), dtype=np.uint8)


def layer(count: int, channels: int = 6) -> torch.Tensor:
    """(N, C, h, w) with h != w and channel c of image i scaled by (c + 1) * (i + 1), so maxima differ per image."""
    base = torch.rand(count, channels, HEIGHT // 2, WIDTH // 2, generator=torch.Generator().manual_seed(0))
    per_channel = torch.arange(1.0, channels + 1)[None, :, None, None]
    return base * per_channel * torch.arange(1.0, count + 1)[:, None, None, None]


def map_panels(figure) -> list:
    """The axes that show a feature map (not the input image, not a colorbar)."""
    return [
        axes
        for axes in figure.axes
        if axes.images and axes.images[0].get_array().ndim == 2 and axes.images[0].get_cmap().name.startswith("viridis")
    ]


def test_feature_maps_shares_a_scale_per_layer_and_titles_channels():
    maps = {"conv1": layer(1)[0].numpy(), "conv2": layer(1, 8)[0].numpy() * 100}
    figure = plots.feature_maps(images(1)[0], "true: cat", maps, [0, 1, 2, 3])
    panels = map_panels(figure)
    assert len(panels) == 8
    assert [axes.get_title() for axes in panels] == ["0", "1", "2", "3"] * 2
    first = {axes.images[0].get_clim() for axes in panels[:4]}
    second = {axes.images[0].get_clim() for axes in panels[4:]}
    assert len(first) == 1 and len(second) == 1 and first != second


def test_channel_grid_one_row_per_image_with_per_image_channels_on_one_scale():
    output = layer(3)
    picked = [select_channels(output[0], "top", 4), [5, 0, 2, 1], select_channels(output[2], "last", 4)]
    figure = plots.channel_grid(images(3), ["a", "b", "c"], output.numpy(), picked, "conv1: top")
    rows = map_panels(figure)  # one mosaic per image: its channels side by side
    assert len(rows) == 3
    assert [[label.get_text() for label in axes.get_xticklabels()] for axes in rows] == [
        [str(channel) for channel in row] for row in picked
    ]
    clims = {axes.images[0].get_clim() for axes in rows}
    assert len(clims) == 1
    low, high = clims.pop()
    chosen = torch.cat([output[row, channels] for row, channels in enumerate(picked)])
    assert (low, high) == pytest.approx((chosen.min().item(), chosen.max().item()))
    mosaic = rows[1].images[0].get_array()
    gap = 1  # round(0.12 * 10)
    assert mosaic.shape == (HEIGHT // 2, 4 * (WIDTH // 2) + 3 * gap)
    # the second tile of image 1 is its channel 0, in place, H and W as given
    np.testing.assert_allclose(mosaic[:, WIDTH // 2 + gap : 2 * (WIDTH // 2) + gap], output[1, 0].numpy())
    assert np.ma.getmaskarray(mosaic)[:, WIDTH // 2].all() or np.isnan(np.asarray(mosaic)[:, WIDTH // 2]).all()
    inputs = [axes for axes in figure.axes if axes.get_title() in ("a", "b", "c")]
    assert [axes.images[0].get_array().shape for axes in inputs] == [(HEIGHT, WIDTH, 3)] * 3
    assert len(figure.axes) == 3 * 2 + 1  # inputs, mosaics and one colorbar


def test_channel_grid_of_flat_maps_draws_without_nan():
    figure = plots.channel_grid(images(2), ["a", "b"], np.zeros((2, 3, 4, 5), dtype=np.float32), [[0, 1], [2, 1]], "x")
    figure.canvas.draw()
    assert all(np.isfinite(axes.images[0].get_clim()).all() for axes in map_panels(figure))


def test_pca_grid_titles_carry_the_explained_variance():
    output = layer(2)
    pictures = [pca_rgb(one) for one in output]
    rgb = torch.stack([picture for picture, _ in pictures]).numpy()
    ratio = torch.stack([variance for _, variance in pictures]).numpy()
    figure = plots.pca_grid(images(2), ["a", "b"], {"conv1 all": (rgb, ratio), "conv1 again": (rgb, ratio)}, "PCA")
    panels = [axes for axes in figure.axes if axes.get_title().startswith("conv1")]
    assert len(panels) == 4
    expected = "/".join(f"{100 * value:.0f}" for value in ratio[1])
    assert panels[2].get_title() == f"conv1 all\n{expected}"
    assert panels[2].images[0].get_array().shape == (HEIGHT // 2, WIDTH // 2, 3)


def test_activation_overlays_are_one_by_four_per_image_at_image_size(text_keys):
    output = layer(2)
    heatmaps = []
    for one in output:
        channels, normalised = activation_heatmaps(one, k=3)
        heatmaps.append((channels, upsample(normalised, (HEIGHT, WIDTH)).numpy()))
    figure = plots.activation_overlays(images(2), ["LABEL-A", "LABEL-B"], heatmaps, "conv3")
    overlays = [axes for axes in figure.axes if len(axes.images) == 2]
    assert len(overlays) == 2 * 3
    assert [axes.get_title() for axes in overlays[:3]] == [
        f"⟨feature_maps.overlay_title layer=conv3 channel={channel}⟩" for channel in heatmaps[0][0]
    ]
    assert {axes.images[1].get_cmap().name for axes in overlays} == {plots.OVERLAY_CMAP}
    assert {axes.images[1].get_alpha() for axes in overlays} == {plots.OVERLAY_ALPHA}
    assert {axes.images[1].get_clim() for axes in overlays} == {(0.0, 1.0)}
    assert all(axes.images[1].get_array().shape == (HEIGHT, WIDTH) for axes in overlays)
    assert {"LABEL-A", "LABEL-B"} <= {axes.get_title() for axes in figure.axes}


def test_activation_overlays_of_a_flat_map_are_finite():
    channels, normalised = activation_heatmaps(torch.full((4, 3, 5), 2.0), k=3)
    figure = plots.activation_overlays(
        images(1), ["x"], [(channels, upsample(normalised, (HEIGHT, WIDTH)).numpy())], "conv3"
    )
    figure.canvas.draw()
    overlays = [axes for axes in figure.axes if len(axes.images) == 2]
    assert all(np.isfinite(axes.images[1].get_array()).all() for axes in overlays)


def test_pca_caption_names_the_quantiles_pca_rgb_clips_at(text_keys):
    low, high = plots.PCA_CLIP
    assert plots.pca_caption("plain", 0) == (
        f"⟨feature_maps.pca_caption run=⟨style.run model=plain seed=0⟩ low={percentile(low)} high={percentile(high)}⟩"
    )
    # one channel rising 0..100 over 101 positions: its scores are clipped at the quantiles the caption names
    red = pca_rgb(torch.arange(101.0).reshape(1, 1, 101))[0][0, :, 0]
    assert int((red == 0).sum()) == round(100 * low) + 1
    assert int((red == 1).sum()) == round(100 * (1 - high)) + 1


def test_overlay_caption_and_figure_share_alpha_colour_map_and_channel_count(monkeypatch, text_keys):
    monkeypatch.setattr(plots, "OVERLAY_ALPHA", 0.25)
    assert plots.activation_overlays_caption("plain", 3, "conv3", has_attention=False) == (
        "⟨feature_maps.overlays_caption run=⟨style.run model=plain seed=3⟩ count=3 layer=conv3 cmap=jet "
        "transparent=75 where=⟨feature_maps.overlays_no_attention⟩⟩"
    )
    with_attention = plots.activation_overlays_caption("se", 0, "conv3", has_attention=True)
    assert with_attention.endswith(" where=⟨feature_maps.overlays_attention⟩⟩")
    channels, normalised = activation_heatmaps(layer(1)[0], k=plots.OVERLAY_CHANNELS)
    figure = plots.activation_overlays(
        images(1), ["x"], [(channels, upsample(normalised, (HEIGHT, WIDTH)).numpy())], "c"
    )
    overlays = [axes.images[1] for axes in figure.axes if len(axes.images) == 2]
    assert len(overlays) == plots.OVERLAY_CHANNELS
    assert {overlay.get_alpha() for overlay in overlays} == {0.25}
    assert {overlay.get_cmap().name for overlay in overlays} == {plots.OVERLAY_CMAP}


def test_feature_map_captions_name_image_run_channels_and_layers(text_keys):
    assert plots.feature_maps_caption(7, "cat", "dog", "plain", 1, [0, 1, 2], ["conv1", "relu2"]) == (
        "⟨feature_maps.feature_maps_caption index=7 true=cat predicted=dog run=⟨style.run model=plain seed=1⟩ "
        "first=0 last=2 layers=conv1⟨style.list_separator⟩relu2 "
        "kinds=⟨style.layer_kind layer=conv1 kind=⟨style.layer_conv⟩⟩⟨style.clause_separator⟩"
        "⟨style.layer_kind layer=relu2 kind=⟨style.layer_relu⟩⟩ cmap=viridis⟩"
    )
    assert plots.channel_grid_caption("conv2", "se", 0, "top", 4) == (
        "⟨feature_maps.channel_grid_caption layer=conv2 run=⟨style.run model=se seed=0⟩ kind=⟨style.layer_conv⟩ "
        "selection=⟨feature_maps.mode_top n=4⟩ cmap=viridis per_image=⟨feature_maps.per_image_channels⟩⟩"
    )
    for mode in ("first", "last"):  # the same channels in every row
        caption = plots.channel_grid_caption("conv2", "se", 0, mode, 4)
        assert f"selection=⟨feature_maps.mode_{mode} n=4⟩ cmap=viridis per_image=⟩" in caption
    assert plots.channel_grid_title("conv2", "last", 9) == (
        "⟨feature_maps.grid_title layer=conv2 selection=⟨feature_maps.mode_last n=9⟩⟩"
    )
    assert plots.pca_column_name("conv2") == "⟨feature_maps.pca_column layer=conv2 channels=⟨feature_maps.pca_all⟩⟩"
    assert plots.pca_column_name("conv2", "top") == "⟨feature_maps.pca_column layer=conv2 channels=top⟩"
    assert plots.pca_chosen_caption("se", 0, 9, ["first", "top"]) == (
        "⟨feature_maps.pca_chosen_caption run=⟨style.run model=se seed=0⟩ count=9 modes=first⟨style.list_separator⟩top⟩"
    )


def test_run_paragraph_says_when_the_images_leave_classes_out(text_keys):
    assert plots.run_paragraph("plain", 0, ["conv1"], 3, 3, 10) == (
        "⟨feature_maps.run model=plain seed=0 layers=conv1 images=3 "
        "left_out=⟨feature_maps.left_out shown=3 classes=10⟩⟩"
    )
    assert plots.run_paragraph("plain", 0, ["conv1", "conv2"], 10, 10, 10) == (
        "⟨feature_maps.run model=plain seed=0 layers=conv1⟨style.list_separator⟩conv2 images=10 left_out=⟩"
    )


def default_run() -> tuple[np.ndarray, list[str], dict[str, torch.Tensor]]:
    """The first part of the default images: 32x32, labelled with four-digit test indices and the longest class
    name (true and predicted "automobile"), and their outputs of the default layers."""
    count = FIRST_PART.stop
    pictures = np.random.default_rng(0).integers(0, 255, (count, 32, 32, 3), dtype=np.uint8)
    automobile = [CIFAR10_CLASS_NAMES.index("automobile")] * count
    labels = image_labels(range(9990, 9990 + count), automobile, automobile, class_names(CIFAR10_CLASS_NAMES))
    generator = torch.Generator().manual_seed(0)
    outputs = {
        name: 1000 * torch.randn(count, channels, side, side, generator=generator)  # four-digit colour-bar ticks
        for name, (channels, side) in DEFAULT_LAYERS.items()
    }
    return pictures, labels, outputs


def shown_height(figure) -> float:
    return retina_png(figure)[1]["height"] / CSS_DPI


def test_feature_maps_print_legibly_and_short(language):
    pictures, labels, outputs = default_run()
    channels = shared_first_channels(outputs, DEFAULT_CHANNELS)
    figure = plots.feature_maps(
        pictures[0], labels[0], {name: output[0].numpy() for name, output in outputs.items()}, channels
    )
    assert_prints_legibly(figure)
    assert shown_height(figure) <= FEATURE_MAPS_MAX_HEIGHT


def test_a_part_of_the_channel_grid_prints_legibly(language):
    pictures, labels, outputs = default_run()
    # the longest title, and three-digit channel numbers
    picked = selected_channels(outputs["conv3"], "top", DEFAULT_CHANNELS)
    title = plots.channel_grid_title("conv3", "top", DEFAULT_CHANNELS)
    figure = plots.channel_grid(pictures, labels, outputs["conv3"].numpy(), picked, title)
    assert_prints_legibly(figure)
    assert shown_height(figure) <= PART_MAX_HEIGHT


@pytest.mark.parametrize("chosen", [False, True], ids=["all channels", "chosen channels"])
def test_a_part_of_the_pca_grid_prints_legibly(language, chosen):
    pictures, labels, outputs = default_run()
    modes = DEFAULT_MODES if chosen else (None,)
    columns = {
        plots.pca_column_name(name, mode): pca_column(output, mode, DEFAULT_CHANNELS)
        for name, output in outputs.items()
        for mode in modes
    }
    figure = plots.pca_grid(pictures, labels, columns, plots.pca_title(DEFAULT_CHANNELS if chosen else None))
    assert_prints_legibly(figure)
    assert shown_height(figure) <= PART_MAX_HEIGHT


def test_a_part_of_the_activation_overlays_prints_legibly(language):
    pictures, labels, outputs = default_run()
    heatmaps = overlay_heatmaps(outputs["conv3"], pictures.shape[1:3], plots.OVERLAY_CHANNELS)
    figure = plots.activation_overlays(pictures, labels, heatmaps, "conv3")
    assert_prints_legibly(figure)
    assert shown_height(figure) <= PART_MAX_HEIGHT


def test_pca_part_keeps_the_columns_of_the_part_s_images():
    rgb, ratio = np.arange(5 * 2 * 2 * 3).reshape(5, 2, 2, 3), np.arange(15).reshape(5, 3)
    part = plots.pca_part({"conv1 all": (rgb, ratio)}, slice(4, 5))
    assert list(part) == ["conv1 all"]
    np.testing.assert_array_equal(part["conv1 all"][0], rgb[4:5])
    np.testing.assert_array_equal(part["conv1 all"][1], ratio[4:5])
