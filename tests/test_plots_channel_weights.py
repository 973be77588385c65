"""Channel-attention figures: panel layout, titles, fixed weight range, one colour scale, flat inputs."""

import itertools

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from cnnlens.plots import channel_weights as plots
from cnnlens.plots.style import CSS_DPI, IMAGES_PER_FIGURE, figure_parts, image_labels, retina_png
from cnnlens.texts import CIFAR10_CLASS_NAMES, class_names

from helpers import assert_prints_legibly, texts_said

CHANNELS = {"ca1": 32, "ca2": 64, "ca3": 128}  # the attention modules of the default blocks [1, 2, 3]
GATE_SIDES = {"ca1": 32, "ca2": 16, "ca3": 8}  # CBAM's spatial gates at those blocks, on 32×32 images
SHORT_PART_HEIGHT = 5.0  # inches: the short edition shows the first part of the per-image weights


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _weights(images: int, channels: dict[str, int], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(0, 1, (images, count)) for name, count in channels.items()}


def test_image_weights_rows_are_images_and_columns_modules(text_keys):
    weights = _weights(3, {"ca1": 8, "ca3": 16})
    images = np.zeros((3, 12, 20, 3), dtype=np.uint8)  # H != W
    figure = plots.image_weights(images, ["TITLE-A", "b", "c"], weights)
    axes = np.array(figure.axes).reshape(3, 3)
    assert axes[0, 0].get_ylabel() == "TITLE-A"  # the row's name, beside its image
    assert axes[0, 0].images[0].get_array().shape[:2] == (12, 20)
    assert [panel.get_title() for panel in axes[0, 1:]] == [
        "⟨channel_weights.module_title module=ca1 channels=8⟩",
        "⟨channel_weights.module_title module=ca3 channels=16⟩",
    ]
    assert [len(panel.patches) for panel in axes[1, 1:]] == [8, 16]
    assert all(panel.get_ylim() == (0, 1) for panel in axes[:, 1:].flat)
    heights = [bar.get_height() for bar in axes[2, 2].patches]
    np.testing.assert_allclose(heights, weights["ca3"][2])


def test_image_weights_single_module_single_image():
    figure = plots.image_weights(np.zeros((1, 8, 8, 3)), ["only"], _weights(1, {"ca3": 4}))
    assert len(figure.axes) == 2


def test_weight_distributions_histogram_sums_to_100_and_sorted_means_fall(text_keys):
    weights = _weights(50, {"ca1": 8, "ca2": 32})
    figure = plots.weight_distributions(weights, bins=20)
    axes = np.array(figure.axes).reshape(2, 2)
    for column, (name, values) in enumerate(weights.items()):
        title = {"module": name, "images": "50", "channels": str(values.shape[1])}
        assert texts_said(axes[0, column].get_title()) == [("channel_weights.distribution_title", title)]
        assert sum(bar.get_height() for bar in axes[0, column].patches) == pytest.approx(100)
        mean_line = axes[1, column].get_lines()[0].get_ydata()
        np.testing.assert_allclose(mean_line, np.sort(values.mean(0))[::-1])
        assert axes[1, column].get_ylim() == (0, 1)


def test_weight_distributions_flat_weights_make_no_nan():
    figure = plots.weight_distributions({"ca3": np.full((5, 16), 0.5)})
    histogram, sorted_means = figure.axes[:2]
    heights = np.array([bar.get_height() for bar in histogram.patches])
    assert np.isfinite(heights).all() and heights.max() == pytest.approx(100)
    assert np.isfinite(sorted_means.get_lines()[0].get_ydata()).all()


def test_class_channel_heatmap_one_scale_rows_are_classes_and_ticks_name_channels(text_keys):
    rng = np.random.default_rng(1)
    means = pd.DataFrame(rng.uniform(0.2, 0.8, (3, 128)), index=["cat", "dog", "ship"])
    means = means[means.var().sort_values(ascending=False).index]
    figure = plots.class_channel_heatmap(means, "ca3", max_ticks=32)
    axes, colorbar = figure.axes
    shown = axes.images[0]
    assert shown.get_array().shape == (3, 128)
    assert shown.get_clim() == pytest.approx((means.to_numpy().min(), means.to_numpy().max()))
    assert colorbar.get_ylabel() == "⟨channel_weights.class_colorbar⟩"
    assert [label.get_text() for label in axes.get_yticklabels()] == ["cat", "dog", "ship"]
    ticks = [label.get_text() for label in axes.get_xticklabels()]
    assert len(ticks) == 32 and ticks[:2] == [str(means.columns[0]), str(means.columns[4])]


def test_class_channel_heatmap_flat_table_is_finite():
    figure = plots.class_channel_heatmap(pd.DataFrame(np.full((2, 8), 0.5), index=["a", "b"]), "ca1")
    assert np.isfinite(figure.axes[0].images[0].get_array()).all()


def test_image_weights_caption_and_figure_share_the_neutral_line(monkeypatch, text_keys):
    monkeypatch.setattr(plots, "NEUTRAL", 0.4)
    assert plots.image_weights_caption(["ca1", "ca3"], "attention", 2, [5, 9], slice(0, 2)) == (
        "⟨channel_weights.image_weights_caption modules=ca1⟨style.list_separator⟩ca3 "
        "run=⟨style.run model=attention seed=2⟩ images=⟨style.image index=5⟩⟨style.list_separator⟩⟨style.image index=9⟩"
        " low=0 high=1 neutral=0.4 line=⟨style.line_dashed⟩⟩"
    )
    figure = plots.image_weights(np.zeros((1, 4, 4, 3)), ["a"], _weights(1, {"ca1": 4}))
    [line] = figure.axes[1].get_lines()
    assert line.get_ydata()[0] == 0.4 and line.get_linestyle() == plots.NEUTRAL_STYLE


def test_weight_distributions_caption_names_the_band_the_table_columns_and_thresholds(text_keys):
    caption = plots.weight_distributions_caption("attention", 0, 10000)
    band = "low=⟨style.ordinal_th n=10⟩ high=⟨style.ordinal_th n=90⟩"
    headers = list(plots.summary_table(pd.DataFrame(columns=list(plots.SUMMARY_HEADERS))).columns)
    assert caption == (
        "⟨channel_weights.distributions_caption images=10000 run=⟨style.run model=attention seed=0⟩ neutral=0.5 "
        f"line=⟨style.line_dashed⟩ {band} channel_mean_std={headers[4]} image_std_mean={headers[5]} off=0.1 on=0.9⟩"
    )
    figure = plots.weight_distributions(_weights(20, {"ca1": 4}))
    legend = [text.get_text() for text in figure.axes[1].get_legend().get_texts()]
    assert f"⟨channel_weights.band_label {band}⟩" in legend


def test_weight_distributions_band_spans_the_quantiles_it_is_named_after():
    values = np.linspace(0, 1, 11)[:, None].repeat(2, axis=1)  # 11 images, the same 0.0 ... 1.0 for both channels
    band = plots.weight_distributions({"ca1": values}).axes[1].collections[0]
    heights = band.get_paths()[0].vertices[:, 1]
    assert heights.min() == pytest.approx(plots.BAND[0]) and heights.max() == pytest.approx(plots.BAND[1])


def test_summary_table_renames_every_summary_column(text_keys):
    summary = pd.DataFrame([range(len(plots.SUMMARY_HEADERS))], columns=list(plots.SUMMARY_HEADERS))
    table = plots.summary_table(summary)
    assert list(table.columns)[3:6] == [
        "⟨channel_weights.header_std⟩",
        "⟨channel_weights.header_channel_mean_std⟩",
        "⟨channel_weights.header_image_std_mean⟩",
    ]
    assert list(table.iloc[0]) == list(range(len(plots.SUMMARY_HEADERS)))


def test_class_heatmap_caption_reports_the_drawn_range_and_the_spread(text_keys):
    means = pd.DataFrame([[0.3, 0.5, 0.55], [0.8, 0.5, 0.2]], index=["cat", "dog"], columns=[2, 0, 1])
    spread = means.std()
    assert plots.class_heatmap_caption("ca3", "se", 1, (4, 6), means, spread) == (
        "⟨channel_weights.class_caption module=ca3 run=⟨style.run model=se seed=1⟩ "
        "per_class=⟨style.range low=4 high=6⟩ cmap=viridis low=0.200 high=0.800 "
        f"most={spread.max():.3f} median={spread.median():.3f}⟩"
    )
    shown = plots.class_channel_heatmap(means, plots.class_heatmap_title("ca3")).axes[0].images[0]
    assert shown.get_clim() == pytest.approx((0.2, 0.8)) and shown.get_cmap().name == plots.CLASS_CMAP


def test_spatial_overlays_draw_each_blocks_gate_upsampled_on_the_fixed_range(text_keys):
    gates = {"ca2": np.full((2, 4, 4), 0.25), "ca3": np.zeros((2, 2, 2))}
    gates["ca3"][1] = [[0.0, 1.0], [0.0, 1.0]]  # the right half of image 1 passes whole
    figure = plots.spatial_overlays(np.zeros((2, 8, 8, 3), dtype=np.uint8), ["a", "b"], gates)
    panels = [axes for axes in figure.axes if axes.get_label() != "<colorbar>"]
    assert len(panels) == 2 * 3
    assert [panel.get_title() for panel in panels[1:3]] == [
        "⟨channel_weights.spatial_title block=ca2 height=4 width=4⟩",
        "⟨channel_weights.spatial_title block=ca3 height=2 width=2⟩",
    ]
    overlay = panels[5].images[1]
    assert overlay.get_array().shape == (8, 8) and overlay.get_clim() == (0, 1)
    assert overlay.get_cmap().name == plots.OVERLAY_CMAP and overlay.get_alpha() == plots.OVERLAY_ALPHA
    values = overlay.get_array()
    assert values[:, 0].max() == 0 and values[:, -1].min() == 1  # upsampled, not rescaled: the edges keep 0 and 1
    np.testing.assert_allclose(panels[1].images[1].get_array(), 0.25)  # a flat gate stays at its value
    colorbar = next(axes for axes in figure.axes if axes.get_label() == "<colorbar>")
    assert colorbar.get_ylim() == (0, 1) and colorbar.get_ylabel() == "⟨channel_weights.spatial_colorbar⟩"


def test_class_spatial_maps_one_panel_per_class_on_the_range_drawn(text_keys):
    means = np.linspace(0.4, 0.6, 12 * 4).reshape(12, 2, 2)
    classes = [f"class{index}" for index in range(12)]
    figure = plots.class_spatial_maps(means, classes, "ca3")
    panels = [axes for axes in figure.axes if axes.get_label() != "<colorbar>"]
    assert len(panels) == 3 * plots.CLASSES_PER_ROW  # 12 classes wrap onto three rows of 5
    assert [panel.get_title() for panel in panels[:2]] == ["class0", "class1"] and not panels[-1].images
    assert {panel.images[0].get_clim() for panel in panels[:12]} == {(0.4, 0.6)}
    assert figure.get_suptitle() == "⟨channel_weights.class_spatial_title block=ca3 height=2 width=2⟩"


def test_spatial_captions_name_blocks_sizes_and_the_drawn_range(text_keys):
    gates = {"ca2": np.zeros((3, 16, 12)), "ca3": np.zeros((3, 8, 6))}  # height × width
    assert plots.spatial_overlays_caption(gates, "cbam", 1, [0, 4], slice(0, 4)) == (
        "⟨channel_weights.spatial_caption blocks=ca2⟨style.list_separator⟩ca3 run=⟨style.run model=cbam seed=1⟩ "
        "images=⟨style.image index=0⟩⟨style.list_separator⟩⟨style.image index=4⟩ "
        "sizes=ca2 16×12⟨style.list_separator⟩ca3 8×6 cmap=jet alpha=0.5 low=0 high=1 neutral=0.5⟩"
    )
    means = np.array([[[0.4, 0.5]], [[0.55, 0.6123]]])
    assert plots.class_spatial_caption("ca3", "cbam", 0, (2, 3), means, ["cat", "dog"], slice(0, 20)) == (
        "⟨channel_weights.class_spatial_caption block=ca3 run=⟨style.run model=cbam seed=0⟩ "
        "per_class=⟨style.range low=2 high=3⟩ height=1 width=2 cmap=viridis low=0.400 high=0.612⟩"
    )


def _default_figures() -> dict:
    """Every figure at the largest sizes of the default config: CIFAR-10's class names (the longest, "automobile",
    in every image title), a full part of the 10 visualised images, 3 modules of 32 to 128 channels, the whole test
    split; the per-class figures also for 100 classes."""
    rng = np.random.default_rng(0)
    classes = class_names(CIFAR10_CLASS_NAMES)
    part = figure_parts(10)[0]
    images = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)[part]
    titles = image_labels(range(10), range(10), [1] * 10, classes)[part]
    gates = {block: rng.uniform(0, 1, (len(images), side, side)) for block, side in GATE_SIDES.items()}
    many = [f"class{index:03d}" for index in range(100)]
    return {
        "image_weights": lambda: plots.image_weights(images, titles, _weights(len(images), CHANNELS)),
        "weight_distributions": lambda: plots.weight_distributions(_weights(10_000, CHANNELS)),
        "class_channel_heatmap": lambda: plots.class_channel_heatmap(
            pd.DataFrame(rng.uniform(0, 1, (10, 128)), index=classes), plots.class_heatmap_title("ca3")
        ),
        "class_channel_heatmap_100": lambda: plots.class_channel_heatmap(
            pd.DataFrame(rng.uniform(0, 1, (100, 128)), index=many), plots.class_heatmap_title("ca3")
        ),
        "spatial_overlays": lambda: plots.spatial_overlays(images, titles, gates),
        "class_spatial_maps": lambda: plots.class_spatial_maps(rng.uniform(0, 1, (10, 32, 32)), classes, "ca1"),
        "class_spatial_maps_100": lambda: plots.class_spatial_maps(
            rng.uniform(0, 1, (100, 8, 8)), many, "ca3", plots.class_parts(100)[0]
        ),
    }


def _overlapping_texts(figure, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The pairs of texts that drawing ``figure`` puts on top of each other (only what it draws: the tick labels
    outside the view and the axes switched off are not drawn)."""
    drawn = []
    draw = Text.draw

    def recording_draw(text: Text, renderer) -> None:
        draw(text, renderer)
        if text.get_visible() and text.get_text().strip():
            drawn.append((text.get_text(), text.get_window_extent(renderer)))

    with monkeypatch.context() as patched:
        patched.setattr(Text, "draw", recording_draw)
        figure.canvas.draw()
    return [
        (first, second) for (first, one), (second, other) in itertools.combinations(drawn, 2) if one.overlaps(other)
    ]


@pytest.mark.filterwarnings("error:Glyph")  # a glyph the font lacks prints as a box
@pytest.mark.parametrize("figure", list(_default_figures()))
def test_every_figure_prints_legibly_at_the_default_sizes(figure, language, monkeypatch):
    drawn = _default_figures()[figure]()
    assert_prints_legibly(drawn)
    assert _overlapping_texts(drawn, monkeypatch) == []


def test_a_part_of_the_image_grid_fits_the_short_editions_height():
    figure = _default_figures()["image_weights"]()
    _, shown = retina_png(figure)
    assert len(figure.axes) == IMAGES_PER_FIGURE * (1 + len(CHANNELS))
    assert shown["height"] / CSS_DPI <= SHORT_PART_HEIGHT


def test_a_long_list_of_classes_is_drawn_in_parts_on_one_colour_scale(text_keys):
    means = np.linspace(0.2, 0.8, 100 * 4).reshape(100, 2, 2)
    classes = [f"class{index}" for index in range(100)]
    parts = plots.class_parts(100)
    assert [len(range(100)[part]) for part in parts] == [4 * plots.CLASSES_PER_ROW] * 5
    figure = plots.class_spatial_maps(means, classes, "ca3", parts[1])
    panels = [axes for axes in figure.axes if axes.get_label() != "<colorbar>"]
    assert [panel.get_title() for panel in panels] == classes[parts[1]]
    assert {panel.images[0].get_clim() for panel in panels} == {(0.2, 0.8)}
    assert plots.class_spatial_caption("ca3", "cbam", 0, (2, 3), means, classes, parts[1]) == (
        f"⟨channel_weights.class_spatial_next_part classes={'⟨style.list_separator⟩'.join(classes[20:40])}⟩"
    )


def test_a_part_of_the_image_grids_is_captioned_with_its_own_images(text_keys):
    indices = [3, 7, 11, 15, 19, 23]
    first = plots.image_weights_caption(["ca1"], "attention", 0, indices, slice(0, 4))
    assert [key for key, _ in texts_said(first)][-2:] == ["channel_weights.image_weights_caption", "style.first_part"]
    assert "index=19" not in first and texts_said(first)[-1][1]["rest"] == "2"
    gates = {"ca2": np.zeros((6, 4, 4))}
    later = plots.spatial_overlays_caption(gates, "cbam", 0, indices, slice(4, 6))
    assert later == "⟨style.next_part images=⟨style.image index=19⟩⟨style.list_separator⟩⟨style.image index=23⟩⟩"
