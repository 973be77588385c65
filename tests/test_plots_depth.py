"""Depth figures: panel counts, titles, colour scales, H/W order, flat inputs."""

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from cnnlens.plots import depth as plots
from cnnlens.plots import projections

TOP5 = [("tabby", 0.5), ("tiger cat", 0.2), ("Egyptian cat", 0.1), ("lynx", 0.05), ("wardrobe", 0.01)]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def images_in(axes):
    return axes.get_images()


def depth_csv(model: str, sparsity: list[float]) -> pd.DataFrame:
    layers = [f"relu{i + 1}" for i in range(len(sparsity))]
    return pd.DataFrame(
        {
            "layer": layers,
            "channels": [32, 64, 128][: len(layers)],
            "height": [32, 16, 8][: len(layers)],
            "width": [32, 16, 8][: len(layers)],
            "sparsity_mean": sparsity,
            "sparsity_std": [0.01] * len(layers),
            "concentration_mean": [0.12] * len(layers),
            "concentration_std": [0.002] * len(layers),
            "images": 100,
            "model": model,
            "seed": 0,
        }
    )


def test_photo_depths_titles_panels_and_lists_the_top5():
    rng = np.random.default_rng(0)
    maps = {"features[0] conv1_1": rng.random((12, 20)), "features[10] conv3_1": rng.random((6, 10))}
    figure = plots.photo_depths(np.zeros((24, 40, 3), np.uint8), "chelsea", TOP5, maps)
    heatmaps = [axes for axes in figure.axes if axes.get_title().startswith("features[")]
    assert [axes.get_title().split("\n")[0] for axes in heatmaps] == list(maps)
    assert [images_in(axes)[0].get_array().shape for axes in heatmaps] == [(12, 20), (6, 10)]
    assert images_in(figure.axes[0])[0].get_array().shape[:2] == (24, 40)
    text = " ".join(t.get_text() for t in figure.axes[1].texts)
    assert all(category in text for category, _ in TOP5) and "50.00 %" in text
    assert len(figure.axes) == 2 + 2 * len(maps)  # photo, text, and a heatmap with its colorbar per depth


def test_conv_strip_has_one_panel_per_layer_and_photo_scaled_per_panel():
    rng = np.random.default_rng(0)
    maps = {"conv1_1": rng.random((2, 8, 12)) * 100, "conv2_1": rng.random((2, 4, 6)), "conv3_1": np.ones((2, 2, 3))}
    figure = plots.conv_strip(np.zeros((2, 16, 24, 3), np.uint8), ["a", "b"], maps)
    panels = [axes for axes in figure.axes if images_in(axes)]
    assert len(panels) == 2 * (len(maps) + 1)
    assert [axes.get_title().split("\n")[0] for axes in panels[1:4]] == list(maps)
    assert [axes.get_ylabel() for axes in (panels[0], panels[4])] == ["a", "b"]
    first = images_in(panels[1])[0]
    assert first.get_array().shape == (8, 12) and first.get_clim() == (0.0, 1.0)
    assert np.isclose(first.get_array().max(), 1.0)
    flat = images_in(panels[3])[0].get_array()
    assert not np.isnan(flat).any()


def test_deconv_grid_crops_projection_and_patch_to_the_same_field():
    projections = np.zeros((1, 3, 30, 50))
    projections[0, :, 2:4, 40:45] = np.array([1.0, -1.0, 0.5])[:, None, None]
    figure = plots.deconv_grid(np.zeros((1, 30, 50, 3), np.uint8), ["rocket"], {"features[0] conv1_1": projections})
    photo, shown, patch = figure.axes
    assert len(photo.patches) == 1
    assert images_in(shown)[0].get_array().shape == images_in(patch)[0].get_array().shape == (24, 24, 3)
    assert "projection" in shown.get_title() and "patch" in patch.get_title()
    assert photo.get_ylabel() == "rocket"


def test_models_by_depth_shares_each_layers_colour_scale_across_models():
    maps = {
        "plain": {"conv1": np.full((8, 12), 1.0), "conv2": np.zeros((4, 6))},
        "attention": {"conv1": np.full((8, 12), 5.0), "conv2": np.zeros((4, 6))},
    }
    figure = plots.models_by_depth(np.zeros((8, 12, 3), np.uint8), "true: cat", maps)
    panels = [axes for axes in figure.axes if images_in(axes)][1:]
    assert len(panels) == 4
    conv1 = [images_in(axes)[0] for axes in panels if axes.get_subplotspec().colspan.start == 0]
    assert conv1[0].get_clim() == conv1[1].get_clim() == (1.0, 5.0)
    assert conv1[0].get_array().shape == (8, 12)
    assert {axes.get_ylabel() for axes in panels} == {"plain", "attention", ""}
    assert any(axes.get_title().startswith("conv2") for axes in panels)


def test_depth_table_formats_mean_and_spread():
    table = plots.depth_table(depth_csv("plain", [0.4, 0.5]))
    assert list(table["sparsity (share of zeros)"]) == ["0.400 ± 0.010", "0.500 ± 0.010"]
    assert list(table["output (C×H×W)"]) == ["32×32×32", "64×16×16"]


def test_depth_lines_draw_one_line_per_model_in_layer_order():
    table = pd.concat([depth_csv("plain", [0.4, 0.5, 0.6]), depth_csv("attention", [0.3, 0.4, 0.5])])
    figure = plots.depth_lines(table)
    sparsity, concentration = figure.axes
    labels = [text.get_text() for text in sparsity.get_legend().get_texts()]
    assert labels == ["plain (seed 0)", "attention (seed 0)"]
    assert [tick.get_text() for tick in sparsity.get_xticklabels()] == ["relu1", "relu2", "relu3"]
    heights = [line.get_ydata() for line in sparsity.lines if line.get_marker() == "o"]  # not the error-bar caps
    assert np.allclose(heights[0], [0.4, 0.5, 0.6]) and np.allclose(heights[1], [0.3, 0.4, 0.5])
    assert any(np.allclose(line.get_ydata(), 0.1) for line in concentration.lines)


@pytest.mark.parametrize(("quantile", "named"), [(0.99, "99th"), (0.995, "99.5th"), (0.9, "90th")])
def test_deconv_caption_names_the_quantile_the_projections_are_clipped_at(monkeypatch, quantile, named):
    monkeypatch.setattr(projections, "CLIP_QUANTILE", quantile)
    caption = plots.deconv_caption("VGG16", ["features[0] conv1_1"])
    assert f"by the {named} percentile of their magnitudes" in caption
    assert "99.5th" not in caption or quantile == 0.995
    # the figure reads the same constant: about 1 - quantile of the reached pixels end up clipped to black or white
    values = np.random.default_rng(0).normal(size=(3, 40, 50))
    shown = plots.deconv_grid(np.zeros((1, 40, 50, 3), np.uint8), ["rocket"], {"conv1_1": values[None]}).axes[1]
    clipped = np.isclose(np.abs(images_in(shown)[0].get_array() - 0.5), 0.5).mean()
    assert clipped == pytest.approx(1 - quantile, abs=0.01)


def test_deconv_caption_names_the_smallest_crop():
    assert f"at least {plots.MIN_CROP[0]}×{plots.MIN_CROP[1]} pixels" in plots.deconv_caption("VGG16", ["a"])


def test_depth_captions_name_network_layers_colour_map_and_photo():
    caption = plots.photo_depths_caption("chelsea", plots.network_name(True), (224, 200), TOP5, ["conv1_1", "conv3_1"])
    assert "“chelsea” as VGG16 with random weights" in caption and "224×200" in caption
    assert "its 5 most probable" in caption and "top: tabby, 50.00 %" in caption
    assert "conv1_1, conv3_1" in caption and f"; {plots.HEATMAP})" in caption
    assert "13 convolution layers" in plots.conv_strip_caption("VGG16", 13)
    assert plots.weights_note("imagenet", "torchvision") == (
        "VGG16 uses ImageNet-trained weights from torchvision: torchvision."
    )


def test_models_by_depth_caption_names_image_models_seeds_and_layers():
    caption = plots.models_by_depth_caption(7, "cat", [("plain", 0), ("se", 3)], ["conv1", "relu2"])
    assert caption.startswith("Test image #7 (cat)") and "rows: plain seed 0, se seed 3" in caption
    assert "conv1: conv output, before BatchNorm and ReLU; relu2: ReLU output" in caption
    assert plots.model_label("se", 3, "dog") == "se (seed 3)\npredicts dog"


def test_depth_lines_caption_and_reference_line_follow_the_even_share(monkeypatch):
    monkeypatch.setattr(plots, "EVEN_SHARE", 0.25)
    caption = plots.depth_lines_caption(["relu1", "relu2"], [("plain", 0)])
    assert "top 25 % of spatial positions (0.25, dotted line, means evenly spread" in caption
    assert "(relu1, relu2), one line per trained CNN (plain seed 0)" in caption
    figure = plots.depth_lines(depth_csv("plain", [0.4, 0.5]))
    reference = [line for line in figure.axes[1].lines if line.get_linestyle() == plots.EVEN_STYLE]
    assert len(reference) == 1 and np.allclose(reference[0].get_ydata(), 0.25)
