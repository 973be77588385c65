"""Faithfulness figures, tables and captions: what is drawn where, and texts that follow the numbers."""

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from cnnlens.interpret.deletion_insertion import MODEL_METHODS
from cnnlens.plots import faithfulness as plots
from cnnlens.plots.style import CSS_DPI, IMAGES_PER_FIGURE, retina_png
from cnnlens.views.faithfulness import (
    faithfulness_setup,
    gallery_maps,
    mean_curves,
    removal_over_seeds,
    run_tables,
    sanity_over_seeds,
)

from helpers import assert_prints_legibly, faithfulness_artifact, faithfulness_runs

pytestmark = pytest.mark.filterwarnings(r"error:Glyph \d+ .* missing from font")  # a box where a letter should be


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def panels(figure):
    return [axes for axes in figure.axes if axes.get_label() != "<colorbar>"]


def test_methods_keep_one_colour_and_baselines_are_grey_and_dashed_or_dotted():
    model_colours = [plots.method_style(method)["color"] for method in MODEL_METHODS]
    assert len(set(model_colours)) == len(MODEL_METHODS) and "grey" not in model_colours
    assert plots.method_style("gradcam")["linestyle"] == "-"
    assert plots.method_style("random") == {"color": "grey", "linestyle": "--"}
    assert plots.method_style("gaussian") == {"color": "grey", "linestyle": ":"}


def test_deletion_insertion_draw_each_models_mean_curves_in_its_row(text_keys):
    figure = plots.deletion_insertion(mean_curves(faithfulness_runs()))
    axes = np.array(figure.axes).reshape(2, 2)
    assert [panel.get_title() for panel in axes.flat] == [
        "⟨faithfulness.deletion_title model=se⟩",
        "⟨faithfulness.insertion_title model=se⟩",
        "⟨faithfulness.deletion_title model=cbam⟩",
        "⟨faithfulness.insertion_title model=cbam⟩",
    ]
    gradcam, random = axes[0, 0].get_lines()
    np.testing.assert_allclose(gradcam.get_xdata(), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(gradcam.get_ydata(), [1.0, 0.5, 0.4])  # the last points: 0.3 and 0.5 over seeds
    assert gradcam.get_label() == "⟨faithfulness.method_gradcam⟩" and random.get_linestyle() == "--"
    np.testing.assert_allclose(axes[1, 1].get_lines()[0].get_ydata(), [0.0, 0.5, 0.9])
    (legend,) = figure.legends  # every model's methods once, in the methods' order
    assert [text.get_text() for text in legend.get_texts()] == [
        "⟨faithfulness.method_gradcam⟩",
        "⟨faithfulness.method_spatial_attention⟩",
        "⟨faithfulness.method_random⟩",
        "⟨faithfulness.method_gaussian⟩",
    ]


def test_deletion_insertion_parts_hold_at_most_three_models():
    assert plots.model_parts(["a", "b", "c", "d"]) == [["a", "b", "c"], ["d"]]
    assert plots.model_parts(["a", "b"]) == [["a", "b"]]


def test_removal_curves_start_at_the_reference_and_draw_each_criterion_and_ranking(text_keys):
    first, second = faithfulness_artifact("se", 0), faithfulness_artifact("se", 1)
    second.removal["accuracy"] = [0.5, 0.5, 0.5, 0.5]
    table = removal_over_seeds(run_tables([first, second], "removal"))
    accuracy, probability = plots.removal_curves(table, "se").axes
    highest, lowest, random, reference = accuracy.get_lines()
    np.testing.assert_allclose(highest.get_xdata(), [0.0, 0.5])  # 2 of 4 channels removed
    np.testing.assert_allclose(highest.get_ydata(), [0.75, 0.25])  # seed means of the reference, then highest
    assert highest.get_color() == plots.RANKING_COLOURS["highest"]
    assert lowest.get_label() == "⟨faithfulness.ranking_lowest_by criterion=⟨faithfulness.criterion_activation⟩⟩"
    assert highest.get_linestyle() == "--" and random.get_linestyle() == "-."  # activation dashed, random dash-dotted
    np.testing.assert_allclose(reference.get_ydata(), [0.75, 0.75])
    assert reference.get_linestyle() == plots.REFERENCE_STYLE
    np.testing.assert_allclose(probability.get_lines()[2].get_ydata(), [0.9, 0.5])
    assert accuracy.get_title() == "⟨faithfulness.site_title site=relu1 channels=4⟩" and accuracy.get_ylim() == (0, 1)
    assert [label.get_text() for label in accuracy.get_xticklabels()] == ["0", "2"]  # the channels removed, counted
    np.testing.assert_allclose(accuracy.get_xlim(), [0, 0.55])  # up to the largest share removed, and a margin


def test_sanity_gallery_rows_are_image_and_method_columns_the_steps(text_keys):
    run = faithfulness_artifact(deletion={"gradcam": [0.1, 0.2], "channels": [0.2, 0.3]})
    maps = gallery_maps(run)
    figure = plots.sanity_gallery(np.zeros((2, 8, 8, 3), dtype=np.uint8), [5, 3], run.gallery_steps, maps)
    grid = np.array(panels(figure)).reshape(4, 4)
    assert [grid[1, 0].get_ylabel(), grid[2, 0].get_ylabel()] == [
        "⟨faithfulness.gallery_row image=⟨style.image index=5⟩ method=⟨faithfulness.method_channels⟩⟩",
        "⟨faithfulness.gallery_row image=⟨style.image index=3⟩ method=⟨faithfulness.method_gradcam⟩⟩",
    ]
    assert [panel.get_title() for panel in grid[0, 1:]] == [
        "⟨faithfulness.step_trained⟩",
        "⟨faithfulness.step_header layer=fc2⟩",
        "⟨faithfulness.step_header layer=fc1⟩",
    ]
    np.testing.assert_array_equal(grid[2, 3].images[0].get_array(), maps["gradcam"][2, 1])  # image #3, last step
    assert grid[2, 3].images[0].get_clim() == (0, 1)


def test_sanity_gallery_draws_the_images_of_its_part(text_keys):
    run = faithfulness_artifact(deletion={"gradcam": [0.1, 0.2], "channels": [0.2, 0.3]})
    maps = gallery_maps(run)
    figure = plots.sanity_gallery(np.zeros((2, 8, 8, 3), dtype=np.uint8), [5, 3], run.gallery_steps, maps, slice(1, 2))
    grid = np.array(panels(figure)).reshape(2, 4)
    assert grid[0, 0].get_ylabel() == (
        "⟨faithfulness.gallery_row image=⟨style.image index=3⟩ method=⟨faithfulness.method_gradcam⟩⟩"
    )
    np.testing.assert_array_equal(grid[0, 3].images[0].get_array(), maps["gradcam"][2, 1])  # image #3, last step


def test_gallery_parts_hold_at_most_a_figures_rows_and_at_least_one_image():
    assert IMAGES_PER_FIGURE == 3  # rows: one per image and method
    assert plots.gallery_parts(5, 1) == [slice(0, 3), slice(3, 5)]
    assert plots.gallery_parts(2, 3) == [slice(0, 1), slice(1, 2)]
    assert plots.gallery_parts(2, 5) == [slice(0, 1), slice(1, 2)]  # one image, though its methods need more rows


def test_step_names_are_the_layer_each_step_added(text_keys):
    assert plots.step_layers(["fc2", "fc2+fc1", "fc2+fc1+block3"]) == ["fc2", "fc1", "block3"]
    assert plots.step_title("original", 0) == "⟨faithfulness.step_trained⟩"
    assert plots.step_title("fc2+fc1", 2) == "⟨faithfulness.step_header layer=fc1⟩"


def test_captions_state_images_fill_steps_and_seeds(text_keys):
    setup = faithfulness_setup(faithfulness_runs())
    caption = plots.curves_caption(setup, setup.models)
    assert caption.startswith("⟨faithfulness.curves_caption models=se⟨style.list_separator⟩cbam")
    assert plots.curves_caption(setup, ["cbam"]).startswith("⟨faithfulness.curves_caption models=cbam fill=")
    assert "fill=⟨faithfulness.fill_blur sigma=1⟩" in caption  # 8 pixels / 8
    assert "steps=2 images=2 over=⟨faithfulness.over_seeds seeds=0⟨style.list_separator⟩1⟩" in caption
    assert "random_line=⟨style.line_dashed⟩ gaussian_line=⟨style.line_dotted⟩" in caption
    assert plots.fill_name("mean", (8, 8)) == "⟨faithfulness.fill_mean⟩"
    assert plots.knob_phrase("steps", {"baseline": "blur", "steps": 16}) == "⟨faithfulness.knob_steps steps=16⟩"
    assert plots.knob_phrase("fill", {"baseline": "mean", "steps": 8}) == "⟨faithfulness.knob_fill_mean⟩"


def test_removal_caption_counts_the_channels_removed_at_each_site(text_keys):
    table = removal_over_seeds(run_tables(faithfulness_runs(), "removal"))
    caption = plots.removal_caption(table, "cbam", faithfulness_setup(faithfulness_runs()))
    assert caption.startswith("⟨faithfulness.removal_caption model=cbam sites=relu1")
    assert "criteria=⟨faithfulness.criterion_activation⟩ (⟨style.line_dashed⟩)" in caption
    assert (
        "counts=⟨faithfulness.removed_at_site site=relu1 counts=⟨faithfulness.removed_count removed=2 share=50.0⟩"
        in caption
    )
    assert "channels=4⟩" in caption


def test_gallery_caption_names_the_run_steps_and_images(text_keys):
    caption = plots.gallery_caption("se", 0, [5, 3], ["original", "fc2", "fc2+fc1"], ["gradcam"])
    assert caption.startswith("⟨faithfulness.gallery_caption run=⟨style.run model=se seed=0⟩")
    assert "steps=⟨faithfulness.step_trained⟩⟨style.list_separator⟩⟨faithfulness.step_header layer=fc2⟩" in caption
    assert "low=0 high=1" in caption


def test_gallery_caption_of_a_part_names_its_images_and_the_rest(text_keys):
    steps = ["original", "fc2"]
    first = plots.gallery_caption("se", 0, [5, 3], steps, ["gradcam"], slice(0, 1))
    assert first.startswith("⟨style.first_part caption=⟨faithfulness.gallery_caption run=")
    assert "images=⟨style.image index=5⟩ methods=" in first and first.endswith("rest=1⟩")
    second = plots.gallery_caption("se", 0, [5, 3], steps, ["gradcam"], slice(1, 2))
    assert second == "⟨style.next_part images=⟨style.image index=3⟩⟩"


def test_sanity_curves_start_at_one_and_mark_the_steps_a_method_does_not_read(text_keys):
    runs = [faithfulness_artifact("se", 0, {"gradcam": [0.1, 0.2], "random": [0.5, 0.5]})]
    steps, _ = sanity_over_seeds(runs)
    (panel,) = panels(plots.sanity_curves(steps, 0.45))
    curves = [line for line in panel.get_lines() if line.get_linestyle() != "None"]
    gradcam, random, threshold = curves
    np.testing.assert_allclose(gradcam.get_ydata(), [1.0, 0.6, 0.2])  # trained, then the helper's 0.6 and 0.2
    np.testing.assert_allclose(random.get_ydata(), [1.0, 1.0, 1.0])
    assert random.get_linestyle() == "--" and threshold.get_ydata()[0] == 0.45
    markers = [line for line in panel.get_lines() if line.get_linestyle() == "None"]
    faces = [(line.get_markerfacecolor(), line.get_color()) for line in markers]
    assert all(face == colour for face, colour in faces[:2])  # Grad-CAM reads every layer: filled
    assert all(face == "white" for face, _ in faces[2:])  # the random map reads none: hollow
    assert [label.get_text() for label in panel.get_xticklabels()] == [
        "⟨faithfulness.step_trained⟩",
        "⟨faithfulness.step_header layer=fc2⟩",
        "⟨faithfulness.step_header layer=fc1⟩",
    ]
    caption = plots.sanity_curves_caption(faithfulness_setup(runs), 0.45)
    assert "images=2" in caption and "threshold=0.45" in caption and "line=⟨style.line_dashdot⟩" in caption


# ---- the figures at the default config's largest sizes, as they print ----

DEFAULT_MODELS = ("attention", "cbam")  # the longest model name, and the model with every method
METHODS = {"attention": (*MODEL_METHODS[:3], "random", "gaussian"), "cbam": (*MODEL_METHODS, "random", "gaussian")}
RANDOMISED = ("fc2", "fc2+fc1", "fc2+fc1+block3", "fc2+fc1+block3+block2", "fc2+fc1+block3+block2+block1")


def default_curves() -> pd.DataFrame:
    """Mean deletion and insertion curves of two models in 8 steps, every method of each."""
    fractions = np.linspace(0, 1, 9)
    rows = [
        {"model": model, "method": method, "curve": curve, "fraction": fraction, "probability": probability}
        for model in DEFAULT_MODELS
        for rank, method in enumerate(METHODS[model])
        for curve, probabilities in (("deletion", 1 - fractions ** (rank + 1)), ("insertion", fractions ** (rank + 1)))
        for fraction, probability in zip(fractions, probabilities, strict=True)
    ]
    return pd.DataFrame(rows)


def default_removal() -> pd.DataFrame:
    """The attention model's channel removal at its three sites, both criteria, the default fractions."""
    rows = []
    for site, channels in (("ca1", 32), ("ca2", 64), ("ca3", 128)):
        rows.append(removal_row(site, "", "reference", 0, channels))
        for fraction in (0.1, 0.25, 0.5):
            removed = round(fraction * channels)
            for criterion in ("weight", "activation"):
                rows += [removal_row(site, criterion, ranking, removed, channels) for ranking in ("highest", "lowest")]
            rows.append(removal_row(site, "", "random", removed, channels))
    return pd.DataFrame(rows).assign(model="attention")


def removal_row(site: str, criterion: str, ranking: str, removed: int, channels: int) -> dict:
    share = removed / channels
    accuracy = {"reference": 0.8, "highest": 0.8 - share, "lowest": 0.8 - share / 4, "random": 0.8 - share / 2}
    return {
        "site": site,
        "criterion": criterion,
        "ranking": ranking,
        "fraction": share,
        "removed": removed,
        "channels": channels,
        "accuracy": accuracy[ranking],
        "true_class_probability": accuracy[ranking] - 0.1,
    }


def default_sanity() -> pd.DataFrame:
    """Two models' sanity curves (fixed target) over the five randomisation steps, every method of each."""
    rows = [
        {
            "model": model,
            "method": method,
            "target": "fixed",
            "step": step,
            "randomised": randomised,
            "uses": method not in ("random", "gaussian") and step > 1,
            "spearman": 1.0 if method in ("random", "gaussian") else 0.9 - 0.2 * step,
        }
        for model in DEFAULT_MODELS
        for method in METHODS[model]
        for step, randomised in enumerate(RANDOMISED, start=1)
    ]
    return pd.DataFrame(rows)


def default_gallery() -> tuple[np.ndarray, list[int], list[str], dict[str, np.ndarray]]:
    """The cbam model's gallery: two 32×32 images, four-digit indices, every model method, every step."""
    generator = np.random.default_rng(0)
    images = generator.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    maps = {method: generator.random((len(RANDOMISED) + 1, 2, 32, 32)) for method in MODEL_METHODS}
    return images, [9998, 9999], ["original", *RANDOMISED], maps


def test_deletion_insertion_prints_legibly_and_short(language):
    figure = plots.deletion_insertion(default_curves())
    assert_prints_legibly(figure)
    assert retina_png(figure)[1]["height"] / CSS_DPI <= 4.2  # the short edition's figure of the section


def test_removal_curves_print_legibly(language):
    assert_prints_legibly(plots.removal_curves(default_removal(), "attention"))


def test_sanity_curves_print_legibly(language):
    assert_prints_legibly(plots.sanity_curves(default_sanity(), 0.5))


def test_sanity_gallery_prints_legibly_in_parts(language):
    images, indices, steps, maps = default_gallery()
    for part in plots.gallery_parts(len(images), len(maps)):
        assert_prints_legibly(plots.sanity_gallery(images, indices, steps, maps, part))
