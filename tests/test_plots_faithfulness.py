"""Faithfulness figures, tables and captions: what is drawn where, and texts that follow the numbers."""

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnlens.interpret.deletion_insertion import MODEL_METHODS
from cnnlens.plots import faithfulness as plots
from cnnlens.views.faithfulness import (
    faithfulness_setup,
    gallery_maps,
    mean_curves,
    removal_over_seeds,
    run_tables,
    sanity_over_seeds,
)

from helpers import faithfulness_artifact, faithfulness_runs


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
    assert [text.get_text() for text in axes[1, 1].get_legend().get_texts()] == [
        "⟨faithfulness.method_spatial_attention⟩",
        "⟨faithfulness.method_gaussian⟩",
    ]


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
        "⟨faithfulness.step_title layer=fc2⟩",
        "⟨faithfulness.step_title layer=fc1⟩",
    ]
    np.testing.assert_array_equal(grid[2, 3].images[0].get_array(), maps["gradcam"][2, 1])  # image #3, last step
    assert grid[2, 3].images[0].get_clim() == (0, 1)


def test_step_names_are_the_layer_each_step_added(text_keys):
    assert plots.step_layers(["fc2", "fc2+fc1", "fc2+fc1+block3"]) == ["fc2", "fc1", "block3"]
    assert plots.step_title("original", 0) == "⟨faithfulness.step_trained⟩"
    assert plots.step_title("fc2+fc1", 2) == "⟨faithfulness.step_title layer=fc1⟩"


def test_captions_state_images_fill_steps_and_seeds(text_keys):
    setup = faithfulness_setup(faithfulness_runs())
    caption = plots.curves_caption(setup)
    assert caption.startswith("⟨faithfulness.curves_caption models=se⟨style.list_separator⟩cbam")
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
    assert "steps=⟨faithfulness.step_trained⟩⟨style.list_separator⟩⟨faithfulness.step_title layer=fc2⟩" in caption
    assert "low=0 high=1" in caption


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
        "⟨faithfulness.step_title layer=fc2⟩",
        "⟨faithfulness.step_title layer=fc1⟩",
    ]
    caption = plots.sanity_curves_caption(faithfulness_setup(runs), 0.45)
    assert "images=2" in caption and "threshold=0.45" in caption and "line=⟨style.line_dashdot⟩" in caption
