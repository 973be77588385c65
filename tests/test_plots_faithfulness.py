"""Faithfulness figures, tables and captions: what is drawn where, and texts that follow the numbers."""

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnlens.interpret.deletion_insertion import MODEL_METHODS
from cnnlens.plots import faithfulness as plots
from cnnlens.reporting import summaries

from helpers import faithfulness_artifact


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def runs():
    return [
        faithfulness_artifact("se", 0, {"gradcam": [0.2, 0.4], "random": [0.5, 0.5]}),
        faithfulness_artifact("se", 1, {"gradcam": [0.4, 0.6], "random": [0.5, 0.7]}),
        faithfulness_artifact("cbam", 0, {"spatial_attention": [0.1, 0.1], "gaussian": [0.3, 0.3]}),
    ]


def panels(figure):
    return [axes for axes in figure.axes if axes.get_label() != "<colorbar>"]


def test_methods_keep_one_colour_and_baselines_are_grey_and_dashed_or_dotted():
    model_colours = [plots.method_style(method)["color"] for method in MODEL_METHODS]
    assert len(set(model_colours)) == len(MODEL_METHODS) and "grey" not in model_colours
    assert plots.method_style("gradcam")["linestyle"] == "-"
    assert plots.method_style("random") == {"color": "grey", "linestyle": "--"}
    assert plots.method_style("gaussian") == {"color": "grey", "linestyle": ":"}


def test_deletion_insertion_draw_each_models_mean_curves_in_its_row():
    figure = plots.deletion_insertion(summaries.mean_curves(runs()))
    axes = np.array(figure.axes).reshape(2, 2)
    assert [panel.get_title() for panel in axes.flat] == [
        "se: deletion",
        "se: insertion",
        "cbam: deletion",
        "cbam: insertion",
    ]
    gradcam, random = axes[0, 0].get_lines()
    np.testing.assert_allclose(gradcam.get_xdata(), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(gradcam.get_ydata(), [1.0, 0.5, 0.4])  # the last points: 0.3 and 0.5 over seeds
    assert gradcam.get_label() == "Grad-CAM" and random.get_linestyle() == "--"
    np.testing.assert_allclose(axes[1, 1].get_lines()[0].get_ydata(), [0.0, 0.5, 0.9])
    assert [text.get_text() for text in axes[1, 1].get_legend().get_texts()] == [
        "CBAM spatial attention",
        "centred Gaussian",
    ]


def test_removal_curves_start_at_the_reference_and_draw_each_ranking():
    first, second = faithfulness_artifact("se", 0), faithfulness_artifact("se", 1)
    second.removal["accuracy"] = [0.5, 0.5, 0.5, 0.5]
    table = summaries.removal_over_seeds(summaries.run_tables([first, second], "removal"))
    accuracy, probability = plots.removal_curves(table, "se").axes
    highest, lowest, _, reference = accuracy.get_lines()
    np.testing.assert_allclose(highest.get_xdata(), [0.0, 0.5])
    np.testing.assert_allclose(highest.get_ydata(), [0.75, 0.25])  # seed means of the reference, then highest
    assert highest.get_color() == plots.RANKING_COLOURS["highest"] and lowest.get_label() == "lowest first"
    np.testing.assert_allclose(reference.get_ydata(), [0.75, 0.75])
    assert reference.get_linestyle() == plots.REFERENCE_STYLE
    np.testing.assert_allclose(probability.get_lines()[2].get_ydata(), [0.9, 0.5])
    assert accuracy.get_title() == "relu1 (4 channels)" and accuracy.get_ylim() == (0, 1)


def test_sanity_gallery_rows_are_image_and_method_columns_the_steps():
    run = faithfulness_artifact(deletion={"gradcam": [0.1, 0.2], "channels": [0.2, 0.3]})
    maps = summaries.gallery_maps(run)
    figure = plots.sanity_gallery(np.zeros((2, 8, 8, 3), dtype=np.uint8), [5, 3], run.gallery_steps, maps)
    grid = np.array(panels(figure)).reshape(4, 4)
    assert grid[1, 0].get_ylabel() == "#5\nactivation heatmap" and grid[2, 0].get_ylabel() == "#3\nGrad-CAM"
    assert [panel.get_title() for panel in grid[0, 1:]] == ["trained", "+fc2 random", "+fc1 random"]
    np.testing.assert_array_equal(grid[2, 3].images[0].get_array(), maps["gradcam"][2, 1])  # image #3, last step
    assert grid[2, 3].images[0].get_clim() == (0, 1)


def test_step_names_are_the_layer_each_step_added():
    assert plots.step_layers(["fc2", "fc2+fc1", "fc2+fc1+block3"]) == ["fc2", "fc1", "block3"]
    assert plots.step_title("original", 0) == "trained" and plots.step_title("fc2+fc1", 2) == "+fc1 random"


def test_score_table_shows_mean_and_std_over_seeds_or_the_mean_of_one():
    table = plots.score_table(summaries.over_seeds(summaries.run_tables(runs(), "scores")))
    assert list(table.columns) == [
        "model",
        "method",
        "deletion AUC ↓",
        "insertion AUC ↑",
        "Average Drop ↓",
        "Increase in Confidence ↑",
    ]
    first = table.iloc[0]
    assert (first["model"], first["method"]) == ("se", "Grad-CAM")
    assert first["deletion AUC ↓"] == f"0.4000 ± {np.std([0.3, 0.5], ddof=1):.4f}"
    assert table.iloc[2]["deletion AUC ↓"] == "0.1000"  # cbam: one seed, no ±
    assert plots.mean_std(0.12345, 0.01, 2) == "0.1235 ± 0.0100" and plots.mean_std(0.12345, np.nan, 1) == "0.1235"


def test_paired_table_names_methods_and_marks_significance_at_alpha():
    paired = summaries.run_tables(
        [
            faithfulness_artifact(
                "se", 0, paired=[{"method_a": "gradcam", "method_b": "random", "p_holm": 0.049, "favours": "gradcam"}]
            ),
            faithfulness_artifact("cbam", 0, paired=[{"method_a": "gradcam", "method_b": "random", "p_holm": 0.05}]),
        ],
        "paired",
    )
    table = plots.paired_table(paired, 0.05)
    assert list(table["method A"]) == ["Grad-CAM", "Grad-CAM"] and list(table["method B"]) == ["random map"] * 2
    assert list(table["favours"]) == ["Grad-CAM", ""]
    assert list(table["significant"]) == ["yes", "no"]
    assert list(table["p (Holm)"]) == [0.049, 0.05]


def test_sanity_table_one_row_per_model_and_method_with_each_steps_similarities():
    run = faithfulness_artifact("se", 0)
    run.sanity["spearman"][2] = -0.001  # gradcam after step 2 rounds to 0.00, not -0.00
    steps = summaries.run_tables([run], "sanity")
    table = plots.sanity_table(steps, summaries.run_tables([run], "sanity_verdict"))
    assert list(table.columns) == ["model", "method", "+fc2", "+fc1", "fails (Spearman ≥ 0.5 at the end)"]
    assert list(table["method"]) == ["Grad-CAM", "random map"]
    assert list(table["+fc2"]) == ["0.10 / 0.90", "0.50 / 0.90"]
    assert table.iloc[0]["+fc1"] == "0.00 / 0.90"
    assert list(table["fails (Spearman ≥ 0.5 at the end)"]) == ["no", "yes"]


def test_captions_state_images_fill_steps_and_seeds():
    setup = summaries.faithfulness_setup(runs())
    caption = plots.curves_caption(setup)
    assert "curves of the se, cbam CNNs (rows)" in caption
    assert "replaced by a Gaussian blur of the image (sigma 1 pixels) (deletion)" in caption  # 8 pixels / 8
    assert "in 2 equal steps" in caption and "mean over the 2 scored test images" in caption
    assert (
        "then the mean over seeds 0, 1" in caption and "dashed the random map, dotted the centred Gaussian" in caption
    )
    paragraph = plots.score_paragraph(setup)
    assert (
        "on the 2 scored test images of each run" in paragraph
        and "± the standard deviation over seeds 0, 1" in paragraph
    )
    one_seed = summaries.faithfulness_setup(runs()[:1])
    assert "from one seed (0): no spread" in plots.score_paragraph(one_seed)
    one_seed.__dict__["baseline"] = "mean"
    assert plots.fill_name(one_seed) == "the image's mean colour"


def test_removal_caption_names_sites_ranking_and_fractions():
    table = summaries.removal_over_seeds(summaries.run_tables(runs(), "removal"))
    caption = plots.removal_caption(table, "cbam", summaries.faithfulness_setup(runs()))
    assert caption.startswith("Channel removal in the cbam CNN: at each site (columns: relu1)")
    assert "ranked by their mean activation for the image (the model has no attention weights)" in caption
    assert "for 50 % of the site's channels" in caption and "The black dotted line" in caption


def test_sanity_paragraph_and_gallery_caption_name_runs_steps_and_images():
    representative = summaries.representative_runs(runs(), 0)
    steps = summaries.run_tables(representative, "sanity")
    paragraph = plots.sanity_paragraph(summaries.faithfulness_setup(runs()), steps)
    assert "on se seed 0, cbam seed 0" in paragraph and "cumulatively (fc2, fc1)" in paragraph
    assert "maps of the first 2 scored test images" in paragraph and "(7×7 window)" in paragraph
    caption = plots.gallery_caption("se", 0, [5, 3], ["original", "fc2", "fc2+fc1"], ["gradcam"])
    assert caption.startswith("The maps of the se CNN (seed 0) for test images #5, #3")
    assert "(columns: trained, +fc2 random, +fc1 random)" in caption and "min-max scaled to 0 to 1" in caption


def test_paired_paragraph_names_runs_and_alpha():
    paragraph = plots.paired_paragraph(summaries.faithfulness_setup(runs()), [("se", 0), ("cbam", 0)], 0.01)
    assert "of the same 2 test images, on se seed 0, cbam seed 0" in paragraph and "below 0.01" in paragraph


def test_texts_before_the_figures_say_what_better_means():
    assert "lower area under the deletion curve" in plots.intro()
    assert "higher" in plots.intro() and "scattered" in plots.intro()
    methods = plots.methods_paragraph()
    assert "do not use the model" in methods and "fixed numbers" in methods and "CBAM" in methods


def test_two_decimals_and_yes_no():
    assert plots.two_decimals(-0.004) == "0.00" and plots.two_decimals(-0.006) == "-0.01"
    assert plots.yes_no(True) == "yes" and plots.yes_no(False) == "no"
