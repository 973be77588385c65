"""Faithfulness figures and tables: deletion and insertion curves, scores, paired tests, channel removal, the
sanity checks and their gallery of maps.

Methods that use the model are drawn in colour, one colour per method in every figure; the two baselines that do
not, the random map and the centred Gaussian, in grey, dashed and dotted, so that a method reads against what
knowing nothing scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cnnlens.interpret.deletion_insertion import BLUR_SIGMA_FRACTION, MODEL_METHODS
from cnnlens.interpret.sanity import SSIM_WINDOW
from cnnlens.plots.style import (
    OVERLAY_CMAP,
    blank_axes,
    colours,
    image_names,
    line_style,
    listing,
    run_name,
    run_names,
)
from cnnlens.reporting.heatmap_verdict import method_name, seeds_phrase
from cnnlens.reporting.summaries import FaithfulnessSetup, in_order
from cnnlens.texts import text

BASELINE_STYLES = {"random": "--", "gaussian": ":"}  # the maps that do not use the model
BASELINE_COLOUR = "grey"
RANKING_COLOURS = {"highest": "tab:red", "lowest": "tab:blue", "random": "grey"}
RANKING_TEXTS = {
    "highest": "faithfulness.ranking_highest",
    "lowest": "faithfulness.ranking_lowest",
    "random": "faithfulness.ranking_random",
}
REFERENCE_STYLE = ":"  # the model with nothing removed
# channel_removal's ranked_by -> the text that says what ranks the channels
RANKED_BY_TEXTS = {
    "attention weight": "faithfulness.ranked_by_weight",
    "mean activation": "faithfulness.ranked_by_activation",
}
MAP_RANGE = (0, 1)  # every map is min-max scaled to this range on its own
CURVE_TEXTS = {"deletion": "faithfulness.deletion_title", "insertion": "faithfulness.insertion_title"}
AXIS_TEXTS = {"deletion": "faithfulness.deleted_axis", "insertion": "faithfulness.revealed_axis"}
# over_seeds measure -> the text that heads it in the score table
MEASURE_HEADERS = {
    "deletion_auc": "faithfulness.header_deletion",
    "insertion_auc": "faithfulness.header_insertion",
    "average_drop": "faithfulness.header_drop",
    "increase_in_confidence": "faithfulness.header_increase",
}
DIGITS = 4  # decimals of the scores: differences between methods are often in the third


def method_style(method: str) -> dict:
    """A method's line in every figure: its own colour, or grey and dashed (dotted) for a baseline."""
    if method in BASELINE_STYLES:
        return {"color": BASELINE_COLOUR, "linestyle": BASELINE_STYLES[method]}
    return {"color": colours()[MODEL_METHODS.index(method)], "linestyle": "-"}


def deletion_insertion(curves: pd.DataFrame) -> Figure:
    """Deletion (left) and insertion (right) mean curves, one row per model, one line per method.

    Args:
        curves: ``summaries.mean_curves``: model, method, curve, fraction, probability.
    """
    models = in_order(curves["model"])
    figure, axes = plt.subplots(
        len(models), 2, figsize=(10, 3.0 * len(models) + 0.4), layout="constrained", squeeze=False, sharey="row"
    )
    for row, model in enumerate(models):
        for panel, curve in zip(axes[row], ("deletion", "insertion"), strict=True):
            drawn = curves[(curves["model"] == model) & (curves["curve"] == curve)]
            for method in in_order(drawn["method"]):
                line = drawn[drawn["method"] == method]
                panel.plot(line["fraction"], line["probability"], label=method_name(method), **method_style(method))
            panel.set(title=text(CURVE_TEXTS[curve], model=model), xlabel=text(AXIS_TEXTS[curve]), xlim=(0, 1))
            panel.grid(alpha=0.3)
        axes[row, 0].set_ylabel(text("faithfulness.probability_axis"))
        axes[row, 1].legend(fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    return figure


def removal_curves(table: pd.DataFrame, model: str) -> Figure:
    """One model's channel removal: per site (columns) accuracy (top) and true-class probability (bottom) against
    the share of channels removed, one line per ranking starting from the reference (nothing removed, also drawn
    as a dotted line).

    Args:
        table: ``summaries.removal_over_seeds`` of every model.
    """
    removal = table[table["model"] == model]
    sites = in_order(removal["site"])
    figure, axes = plt.subplots(
        2, len(sites), figsize=(1.5 + 3.3 * len(sites), 5.6), layout="constrained", squeeze=False, sharey="row"
    )
    for column, site in enumerate(sites):
        rows = removal[removal["site"] == site]
        reference = rows[rows["ranking"] == "reference"].iloc[0]
        for panel, measure in zip(axes[:, column], ("accuracy", "true_class_probability"), strict=True):
            for ranking, colour in RANKING_COLOURS.items():
                line = rows[rows["ranking"] == ranking]
                panel.plot(
                    [0.0, *line["fraction"]],
                    [reference[measure], *line[measure]],
                    color=colour,
                    marker="o",
                    label=text(RANKING_TEXTS[ranking]),
                )
            panel.axhline(
                reference[measure], color="black", linestyle=REFERENCE_STYLE, label=text("faithfulness.reference_label")
            )
            panel.set(xlim=(0, 1), xlabel=text("faithfulness.removed_axis"))
            panel.grid(alpha=0.3)
        axes[0, column].set_title(text("faithfulness.site_title", site=site, channels=int(reference["channels"])))
    axes[0, 0].set(ylabel=text("faithfulness.accuracy_axis"), ylim=(0, 1))
    axes[1, 0].set(ylabel=text("faithfulness.true_probability_axis"), ylim=(0, 1))
    axes[0, -1].legend(fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    return figure


def sanity_gallery(
    images: np.ndarray, indices: Sequence[int], steps: Sequence[str], maps: Mapping[str, np.ndarray]
) -> Figure:
    """The maps of each image (rows: image × method) from the trained model to the fully randomised one (columns).

    Args:
        images: ``(G, H, W, 3)`` uint8 images, shown in the first column of each of their rows.
        indices: their indices in the test split (row labels).
        steps: the gallery's step names: ``"original"``, then the layers re-initialised so far (``fc2+fc1``).
        maps: method -> ``(steps, G, H, W)`` maps in [0, 1].
    """
    rows = [(image, method) for image in range(len(images)) for method in maps]
    figure, axes = plt.subplots(
        len(rows),
        len(steps) + 1,
        figsize=(2.0 + 1.5 * (len(steps) + 1), 1.5 * len(rows) + 0.6),
        layout="constrained",
        squeeze=False,
    )
    for row, (image, method) in enumerate(rows):
        blank_axes(axes[row, 0])
        axes[row, 0].imshow(images[image])
        label = text("faithfulness.gallery_row", image=image_names([indices[image]]), method=method_name(method))
        axes[row, 0].set_ylabel(label, fontsize=9)
        for column, values in enumerate(maps[method][:, image], start=1):
            blank_axes(axes[row, column])
            shown = axes[row, column].imshow(values, cmap=OVERLAY_CMAP, vmin=MAP_RANGE[0], vmax=MAP_RANGE[1])
    for column, step in enumerate(steps, start=1):
        axes[0, column].set_title(step_title(step, column - 1), fontsize=9)
    figure.colorbar(shown, ax=axes[:, 1:].ravel().tolist(), shrink=0.6, label=text("faithfulness.map_colorbar"))
    return figure


def step_title(step: str, number: int) -> str:
    """A randomisation step as a column title: "trained" first, then the layer that step re-initialised."""
    if number == 0:
        return text("faithfulness.step_trained")
    return text("faithfulness.step_title", layer=step_layers([step])[0])


def step_layers(randomised: Sequence[str]) -> list[str]:
    """The layer each step re-initialised, from the cumulative names ``fc2``, ``fc2+fc1``, ... of the sanity table."""
    return [name.split("+")[-1] for name in randomised]


def score_table(table: pd.DataFrame) -> pd.DataFrame:
    """The scores over seeds (``summaries.over_seeds``) as readers see them: mean ± std over seeds, or the mean
    alone from one seed."""

    def spread(measure: str) -> list[str]:
        values = zip(table[f"{measure}_mean"], table[f"{measure}_std"], table["seeds"], strict=True)
        return [mean_std(mean, std, seeds) for mean, std, seeds in values]

    return pd.DataFrame(
        {
            text("faithfulness.header_model"): table["model"],
            text("faithfulness.header_method"): [method_name(method) for method in table["method"]],
            **{text(key): spread(measure) for measure, key in MEASURE_HEADERS.items()},
        }
    )


def mean_std(mean: float, std: float, seeds: int) -> str:
    """A score over seeds as the table shows it: "0.2134 ± 0.0051", or "0.2134" from one seed."""
    if seeds == 1:
        return f"{mean:.{DIGITS}f}"
    return text("faithfulness.mean_std", mean=f"{mean:.{DIGITS}f}", std=f"{std:.{DIGITS}f}")


def paired_table(paired: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """The paired tests (``summaries.run_tables`` of ``paired``) as readers see them, significance at ``alpha``; the
    seed of each model is the paragraph's (:func:`paired_paragraph`)."""
    return pd.DataFrame(
        {
            text("faithfulness.header_model"): paired["model"],
            text("faithfulness.header_method_a"): [method_name(method) for method in paired["method_a"]],
            text("faithfulness.header_method_b"): [method_name(method) for method in paired["method_b"]],
            text("faithfulness.header_median"): paired["median_difference"],
            text("faithfulness.header_p"): paired["p_value"],
            text("faithfulness.header_p_holm"): paired["p_holm"],
            text("faithfulness.header_favours"): [
                method_name(method) if method else "" for method in paired["favours"]
            ],
            text("table.significant"): [yes_no(p < alpha) for p in paired["p_holm"]],
        }
    )


def sanity_table(steps: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """The sanity checks (``summaries.run_tables`` of ``sanity`` and ``sanity_verdict``, one seed per model) as readers
    see them: one row per model and method, one column per randomisation step holding "Spearman / SSIM" (two
    decimals), and whether the method fails."""
    layers = step_layers(in_order(steps["randomised"]))
    pairs = zip(steps["spearman"], steps["ssim"], strict=True)
    cells = steps.assign(cell=[f"{two_decimals(spearman)} / {two_decimals(ssim)}" for spearman, ssim in pairs])
    order = in_order(zip(steps["model"], steps["method"], strict=True))
    wide = cells.pivot(index=["model", "method"], columns="step", values="cell").loc[order]
    fails = verdicts.set_index(["model", "method"])["fails"].loc[order]
    return pd.DataFrame(
        {
            text("faithfulness.header_model"): [model for model, _ in order],
            text("faithfulness.header_method"): [method_name(method) for _, method in order],
            **{
                text("faithfulness.step_header", layer=layer): wide[step].to_numpy()
                for step, layer in zip(wide.columns, layers, strict=True)
            },
            text("faithfulness.header_fails", threshold=f"{verdicts['threshold'].iloc[0]:g}"): [
                yes_no(bool(failed)) for failed in fails
            ],
        }
    )


def two_decimals(value: float) -> str:
    """A similarity with two decimals, without the "-0.00" that a small negative value would round to."""
    return f"{round(value, 2) + 0.0:.2f}"


def yes_no(answer: bool) -> str:
    return text("faithfulness.yes" if answer else "faithfulness.no")


# ---- the texts beside the figures and tables ----


def fill_name(setup: FaithfulnessSetup) -> str:
    """What a deleted pixel became: a blur of the image (with its sigma in pixels) or the image's mean colour."""
    if setup.baseline == "blur":
        return text("faithfulness.fill_blur", sigma=f"{BLUR_SIGMA_FRACTION * min(setup.size):g}")
    return text("faithfulness.fill_mean")


def intro() -> str:
    """What the section measures and how to read it, before its first figure."""
    return text("faithfulness.intro")


def methods_paragraph() -> str:
    """The heatmap methods and the two baselines, after :func:`intro`."""
    return text("faithfulness.methods")


def curves_caption(setup: FaithfulnessSetup) -> str:
    """The caption of :func:`deletion_insertion`."""
    return text(
        "faithfulness.curves_caption",
        models=listing(setup.models),
        fill=fill_name(setup),
        steps=setup.steps,
        images=setup.images,
        over=seeds_phrase(setup.seeds),
        random_line=line_style(BASELINE_STYLES["random"]),
        gaussian_line=line_style(BASELINE_STYLES["gaussian"]),
    )


def score_paragraph(setup: FaithfulnessSetup) -> str:
    """What the score table (:func:`score_table`) holds, on which images and seeds."""
    if len(setup.seeds) == 1:
        spread = text("faithfulness.spread_one_seed", seed=setup.seeds[0])
    else:
        spread = text("faithfulness.spread_seeds", seeds=listing(setup.seeds))
    return text(
        "faithfulness.score_paragraph", images=setup.images, fill=fill_name(setup), steps=setup.steps, spread=spread
    )


def paired_paragraph(setup: FaithfulnessSetup, runs: Sequence[tuple[str, int]], alpha: float) -> str:
    """What the paired-test table (:func:`paired_table`) holds, for the representative ``runs`` (model, seed)."""
    return text("faithfulness.paired_paragraph", images=setup.images, runs=run_names(runs), alpha=f"{alpha:g}")


def removal_caption(table: pd.DataFrame, model: str, setup: FaithfulnessSetup) -> str:
    """The caption of :func:`removal_curves` of ``model``."""
    removal = table[table["model"] == model]
    kept = removal[removal["ranking"] != "reference"]
    return text(
        "faithfulness.removal_caption",
        model=model,
        sites=listing(in_order(removal["site"])),
        ranked_by=listing(text(RANKED_BY_TEXTS[rank]) for rank in in_order(removal["ranked_by"])),
        fractions=listing(f"{100 * fraction:g} %" for fraction in in_order(kept["fraction"])),
        images=setup.images,
        over=seeds_phrase(setup.seeds),
        line=line_style(REFERENCE_STYLE),
    )


def sanity_paragraph(setup: FaithfulnessSetup, steps: pd.DataFrame) -> str:
    """What the sanity table (:func:`sanity_table`) holds: the runs, the steps and the images."""
    return text(
        "faithfulness.sanity_paragraph",
        runs=run_names(in_order(zip(steps["model"], steps["seed"], strict=True))),
        steps=listing(step_layers(in_order(steps["randomised"]))),
        images=setup.sanity_images,
        window=SSIM_WINDOW,
    )


def gallery_caption(model: str, seed: int, indices: Sequence[int], steps: Sequence[str], methods: Sequence[str]) -> str:
    """The caption of :func:`sanity_gallery` of one run, for the test images ``indices``."""
    return text(
        "faithfulness.gallery_caption",
        run=run_name(model, seed),
        images=image_names(indices),
        methods=listing(method_name(method) for method in methods),
        steps=listing(step_title(step, number) for number, step in enumerate(steps)),
        cmap=OVERLAY_CMAP,
        low=MAP_RANGE[0],
        high=MAP_RANGE[1],
    )
