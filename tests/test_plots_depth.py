"""Depth figures: panel counts, titles, colour scales, H/W order, flat inputs."""

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from cnnlens.interpret.vgg_depth import SAMPLE_PHOTOS
from cnnlens.plots import depth as plots
from cnnlens.plots import projections
from cnnlens.plots.style import CSS_DPI, IMAGES_PER_FIGURE, retina_png
from cnnlens.texts import CIFAR10_CLASS_NAMES, class_names

from helpers import assert_prints_legibly

TOP5 = [("tabby", 0.5), ("tiger cat", 0.2), ("Egyptian cat", 0.1), ("lynx", 0.05), ("wardrobe", 0.01)]
# The longest ImageNet categories, each in the top-5 list at once: the list at its widest and tallest.
LONG_TOP5 = [
    ("American Staffordshire terrier", 0.9999),
    ("black and gold garden spider", 0.0001),
    ("German short-haired pointer", 0.0),
    ("West Highland white terrier", 0.0),
    ("soft-coated wheaten terrier", 0.0),
]
# VGG16's photos (224x224), as many as one part of a grid shows, and its maps at the default depths and at every
# conv layer, by layer name and side.
PHOTO = 224
VGG_PHOTOS = list(SAMPLE_PHOTOS)[:IMAGES_PER_FIGURE]
SHORT_EDITION_HEIGHT = 2.4  # inches: the photo_depths figure that the short edition shows
VGG_DEPTHS = {"conv1_1": 224, "conv3_1": 56, "relu4_2": 28}
VGG_CONVS = {
    f"conv{block}_{number}": PHOTO >> (block - 1)
    for block, convs in enumerate((2, 2, 3, 3, 3), start=1)
    for number in range(1, convs + 1)
}


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


def test_photo_depths_titles_panels_and_lists_the_top5(text_keys):
    rng = np.random.default_rng(0)
    maps = {"features[0] conv1_1": rng.random((12, 20)), "features[10] conv3_1": rng.random((6, 10))}
    figure = plots.photo_depths(np.zeros((24, 40, 3), np.uint8), "chelsea", TOP5, maps)
    heatmaps = [axes for axes in figure.axes if axes.get_title().startswith("features[")]
    assert [axes.get_title().split("\n")[0] for axes in heatmaps] == list(maps)
    assert [images_in(axes)[0].get_array().shape for axes in heatmaps] == [(12, 20), (6, 10)]
    assert images_in(figure.axes[0])[0].get_array().shape[:2] == (24, 40)
    ranked = "\n".join(
        f"⟨depth.top_class rank={rank} category={category} percent={100 * probability:.2f}⟩"
        for rank, (category, probability) in enumerate(TOP5, start=1)
    )
    assert [text.get_text() for text in figure.axes[1].texts] == [f"⟨depth.top_classes count=5 classes={ranked}⟩"]
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


def test_deconv_grid_crops_projection_and_patch_to_the_same_field(text_keys):
    projections = np.zeros((1, 3, 30, 50))
    projections[0, :, 2:4, 40:45] = np.array([1.0, -1.0, 0.5])[:, None, None]
    figure = plots.deconv_grid(np.zeros((1, 30, 50, 3), np.uint8), ["rocket"], {"features[0] conv1_1": projections})
    photo, shown, patch = figure.axes
    assert len(photo.patches) == 1
    assert images_in(shown)[0].get_array().shape == images_in(patch)[0].get_array().shape == (24, 24, 3)
    assert shown.get_title() == "⟨depth.projection_title depth=features[0] conv1_1⟩"
    assert patch.get_title() == "⟨depth.patch_title depth=features[0] conv1_1⟩"
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


def test_depth_table_formats_mean_and_spread(text_keys):
    table = plots.depth_table(depth_csv("plain", [0.4, 0.5]))
    assert list(table["⟨depth.header_sparsity⟩"]) == [
        "⟨depth.mean_std mean=0.400 std=0.010⟩",
        "⟨depth.mean_std mean=0.500 std=0.010⟩",
    ]
    assert list(table["⟨depth.header_output⟩"]) == ["32×32×32", "64×16×16"]


def test_depth_lines_draw_one_line_per_model_in_layer_order(text_keys):
    table = pd.concat([depth_csv("plain", [0.4, 0.5, 0.6]), depth_csv("attention", [0.3, 0.4, 0.5])])
    figure = plots.depth_lines(table)
    sparsity, concentration = figure.axes
    labels = [text.get_text() for text in sparsity.get_legend().get_texts()]
    assert labels == ["⟨depth.run_label model=plain seed=0⟩", "⟨depth.run_label model=attention seed=0⟩"]
    assert [tick.get_text() for tick in sparsity.get_xticklabels()] == ["relu1", "relu2", "relu3"]
    heights = [line.get_ydata() for line in sparsity.lines if line.get_marker() == "o"]  # not the error-bar caps
    assert np.allclose(heights[0], [0.4, 0.5, 0.6]) and np.allclose(heights[1], [0.3, 0.4, 0.5])
    assert any(np.allclose(line.get_ydata(), 0.1) for line in concentration.lines)


@pytest.mark.parametrize(("quantile", "percent"), [(0.99, "99"), (0.995, "99.5"), (0.9, "90")])
def test_deconv_caption_names_the_quantile_the_projections_are_clipped_at(monkeypatch, text_keys, quantile, percent):
    monkeypatch.setattr(projections, "CLIP_QUANTILE", quantile)
    caption = plots.deconv_caption("VGG16", ["features[0] conv1_1"])
    assert caption.endswith(f" stretch=⟨projections.stretch quantile=⟨style.ordinal_th n={percent}⟩⟩⟩")
    # the figure reads the same constant: about 1 - quantile of the reached pixels end up clipped to black or white
    values = np.random.default_rng(0).normal(size=(3, 40, 50))
    shown = plots.deconv_grid(np.zeros((1, 40, 50, 3), np.uint8), ["rocket"], {"conv1_1": values[None]}).axes[1]
    clipped = np.isclose(np.abs(images_in(shown)[0].get_array() - 0.5), 0.5).mean()
    assert clipped == pytest.approx(1 - quantile, abs=0.01)


def test_deconv_caption_names_the_smallest_crop(text_keys):
    assert f" height={plots.MIN_CROP[0]} width={plots.MIN_CROP[1]} " in plots.deconv_caption("VGG16", ["a"])


def test_depth_captions_name_network_layers_colour_map_and_photo(text_keys):
    caption = plots.photo_depths_caption("chelsea", plots.network_name(True), (224, 200), TOP5, ["conv1_1", "conv3_1"])
    assert caption == (
        "⟨depth.photo_depths_caption photo=chelsea network=⟨depth.network_random⟩ height=224 width=200 count=5 "
        f"best=tabby percent=50.00 depths=conv1_1⟨style.list_separator⟩conv3_1 cmap={plots.HEATMAP}⟩"
    )
    assert plots.network_name(False) == "⟨depth.network⟩"
    assert (
        plots.conv_strip_caption("VGG16", 13)
        == f"⟨depth.conv_strip_caption network=VGG16 layers=13 cmap={plots.HEATMAP}⟩"
    )
    assert plots.weights_note("imagenet", "torchvision") == (
        "⟨depth.weights_note weights=⟨depth.weights_imagenet⟩ source=torchvision⟩"
    )


def test_models_by_depth_caption_names_image_models_seeds_and_layers(text_keys):
    assert plots.models_by_depth_caption(7, "cat", [("plain", 0), ("se", 3)], ["conv1", "relu2"]) == (
        "⟨depth.models_by_depth_caption index=7 true=cat "
        "runs=⟨style.run_short model=plain seed=0⟩⟨style.list_separator⟩⟨style.run_short model=se seed=3⟩ "
        "layers=conv1⟨style.list_separator⟩relu2 kinds=⟨style.layer_kind layer=conv1 kind=⟨style.layer_conv⟩⟩"
        f"⟨style.clause_separator⟩⟨style.layer_kind layer=relu2 kind=⟨style.layer_relu⟩⟩ cmap={plots.HEATMAP}⟩"
    )
    assert plots.model_label("se", 3, "dog") == "⟨depth.model_label model=se seed=3 predicted=dog⟩"


def test_depth_lines_caption_and_reference_line_follow_the_even_share(monkeypatch, text_keys):
    monkeypatch.setattr(plots, "EVEN_SHARE", 0.25)
    assert plots.depth_lines_caption(["relu1", "relu2"], [("plain", 0)]) == (
        "⟨depth.depth_lines_caption layers=relu1⟨style.list_separator⟩relu2 runs=⟨style.run_short model=plain seed=0⟩ "
        "top=25 even=0.25 line=⟨style.line_dotted⟩⟩"
    )
    figure = plots.depth_lines(depth_csv("plain", [0.4, 0.5]))
    reference = [line for line in figure.axes[1].lines if line.get_linestyle() == plots.EVEN_STYLE]
    assert len(reference) == 1 and np.allclose(reference[0].get_ydata(), 0.25)


def test_conv_strip_writes_each_map_size_once_under_the_first_layer_of_that_size():
    assert plots.size_changes([(8, 8), (8, 8), (4, 4), (4, 6), (4, 6)]) == ["8×8", "", "4×4", "4×6", ""]
    maps = {"conv1_1": np.ones((1, 8, 8)), "conv1_2": np.ones((1, 8, 8)), "conv2_1": np.ones((1, 4, 4))}
    figure = plots.conv_strip(np.zeros((1, 8, 8, 3), np.uint8), ["a"], maps)
    panels = [axes for axes in figure.axes if images_in(axes)]
    assert [axes.get_xlabel() for axes in panels[1:]] == ["8×8", "", "4×4"]


def test_a_later_part_of_a_photo_grid_names_its_photos(text_keys):
    photos = ["a", "b", "c", "d", "e", "f"]
    assert plots.photos_part_caption("⟨grid⟩", slice(0, 4), photos) == "⟨style.first_part caption=⟨grid⟩ rest=2⟩"
    assert plots.photos_part_caption("⟨grid⟩", slice(4, 6), photos) == (
        "⟨depth.next_photos photos=e⟨style.list_separator⟩f⟩"
    )
    assert plots.photos_part_caption("⟨grid⟩", slice(0, 4), photos[:4]) == "⟨grid⟩"


def vgg_photos(count: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, PHOTO, PHOTO, 3), dtype=np.uint8)


def random_maps(sides: dict[str, int], *leading: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {name: rng.normal(size=(*leading, side, side)) for name, side in sides.items()}


def test_photo_depths_print_legibly(language):
    figure = plots.photo_depths(vgg_photos(1)[0], VGG_PHOTOS[0], LONG_TOP5, random_maps(VGG_DEPTHS))
    assert_prints_legibly(figure)


def test_photo_depths_fit_the_short_editions_height():
    figure = plots.photo_depths(vgg_photos(1)[0], VGG_PHOTOS[0], LONG_TOP5, random_maps(VGG_DEPTHS))
    _, shown = retina_png(figure)
    assert shown["height"] / CSS_DPI <= SHORT_EDITION_HEIGHT


def test_conv_strip_prints_legibly(language):
    count = len(VGG_PHOTOS)
    assert_prints_legibly(plots.conv_strip(vgg_photos(count), VGG_PHOTOS, random_maps(VGG_CONVS, count)))


def test_deconv_grid_prints_legibly(language):
    count = len(VGG_PHOTOS)
    projections = random_maps(VGG_DEPTHS.fromkeys(VGG_DEPTHS, PHOTO), count, 3)
    assert_prints_legibly(plots.deconv_grid(vgg_photos(count), VGG_PHOTOS, projections))


def test_models_by_depth_prints_legibly(language):
    automobile = class_names(CIFAR10_CLASS_NAMES)[CIFAR10_CLASS_NAMES.index("automobile")]
    maps = {
        plots.model_label(model, 0, automobile): random_maps({"conv1": 32, "conv2": 16, "conv3": 8})
        for model in ("plain", "attention", "cbam")
    }
    image = np.zeros((32, 32, 3), np.uint8)
    assert_prints_legibly(plots.models_by_depth(image, plots.image_title(9999, automobile), maps))


def test_depth_lines_print_legibly(language):
    table = pd.concat([depth_csv("plain", [0.4, 0.5, 0.6]), depth_csv("attention", [0.3, 0.4, 0.5])])
    assert_prints_legibly(plots.depth_lines(table))
