"""Faithfulness figures: deletion and insertion curves, channel removal, and the sanity checks' gallery of maps, with
their captions and the names that figures and tables share.

Methods that use the model are drawn in colour, one colour per method in every figure; the two baselines that do
not, the random map and the centred Gaussian, in grey, dashed and dotted, so that a method reads against what
knowing nothing scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.figure import Figure

from cnnlens.interpret.deletion_insertion import BLUR_SIGMA_FRACTION
from cnnlens.interpret.heatmap_methods import MODEL_METHODS
from cnnlens.plots.style import (
    FIGURE_WIDTH,
    IMAGES_PER_FIGURE,
    OVERLAY_CMAP,
    blank_axes,
    colours,
    image_names,
    line_style,
    listing,
    overlay_colorbar,
    part_caption,
    run_name,
)
from cnnlens.texts import text
from cnnlens.views.faithfulness import FaithfulnessSetup
from cnnlens.views.order import in_order

BASELINE_STYLES = {"random": "--", "gaussian": ":"}  # the maps that do not use the model
BASELINE_COLOUR = "grey"
# method -> the text that names it to readers
METHOD_TEXTS = {
    "channels": "faithfulness.method_channels",
    "gradcam": "faithfulness.method_gradcam",
    "deconvnet": "faithfulness.method_deconvnet",
    "spatial_attention": "faithfulness.method_spatial_attention",
    "random": "faithfulness.method_random",
    "gaussian": "faithfulness.method_gaussian",
}
RANKING_COLOURS = {"highest": "tab:red", "lowest": "tab:blue", "random": "grey"}
CRITERION_STYLES = {"weight": "-", "activation": "--", "": "-."}  # what ranked the removed channels
RANKING_TEXTS = {  # a line of the removal figure: ranked by a criterion, or random
    "highest": "faithfulness.ranking_highest_by",
    "lowest": "faithfulness.ranking_lowest_by",
    "random": "faithfulness.ranking_random",
}
METHOD_SUBJECTS = {  # method -> how a sentence names it, with the article it takes
    "channels": "faithfulness.subject_channels",
    "gradcam": "faithfulness.subject_gradcam",
    "deconvnet": "faithfulness.subject_deconvnet",
    "spatial_attention": "faithfulness.subject_spatial_attention",
    "random": "faithfulness.subject_random",
    "gaussian": "faithfulness.subject_gaussian",
}
FILL_KNOB_TEXTS = {"blur": "faithfulness.knob_fill_blur", "mean": "faithfulness.knob_fill_mean"}
CRITERION_TEXTS = {"weight": "faithfulness.criterion_weight", "activation": "faithfulness.criterion_activation"}
REFERENCE_STYLE = ":"  # the model with nothing removed
THRESHOLD_STYLE = "-."  # the sanity checks' threshold
MAP_RANGE = (0, 1)  # every map is min-max scaled to this range on its own
METHOD_ORDER = tuple(METHOD_TEXTS)  # the methods' order in every legend
CURVE_TEXTS = {"deletion": "faithfulness.deletion_title", "insertion": "faithfulness.insertion_title"}
AXIS_TEXTS = {"deletion": "faithfulness.deleted_axis", "insertion": "faithfulness.revealed_axis"}
# Figure heights in inches at their print size (the width is the page's text width).
CURVE_ROW_HEIGHT = 1.8  # a model's deletion and insertion panels, with their titles
LEGEND_HEIGHT = 0.45  # the x labels and a legend of two lines below the panels
LEGEND_LINE_LENGTH = 3  # in font sizes: long enough to tell a dashed line from a dotted one
MODELS_PER_FIGURE = 3  # deletion and insertion rows in one figure
REMOVAL_HEIGHT = 4.0
SHARE_MARGIN = 1.1  # the removal panels' x axis: the largest share of channels removed and a margin
SANITY_HEIGHT = 3.0
GALLERY_ROW_HEIGHT = 0.64  # a panel of the width that the row labels, seven columns and the colour bar leave
GALLERY_HEADER_HEIGHT = 0.3  # the step titles
EVERY_IMAGE = slice(0, None)  # the gallery in one part


def method_name(method: str) -> str:
    """A heatmap method as readers read it ("Grad-CAM", "random map")."""
    return text(METHOD_TEXTS[method])


def method_subject(method: str, starts_sentence: bool = False) -> str:
    """A heatmap method as a sentence names it ("the activation heatmap", "Grad-CAM"), capitalised where it starts
    the sentence."""
    subject = text(METHOD_SUBJECTS[method])
    return subject[:1].upper() + subject[1:] if starts_sentence else subject


def seeds_phrase(seeds: Sequence[int]) -> str:
    """Which seeds a number comes from: "seed 0", or "mean over seeds 0, 1"."""
    if len(seeds) == 1:
        return text("faithfulness.one_seed", seed=seeds[0])
    return text("faithfulness.over_seeds", seeds=listing(seeds))


def fill_name(baseline: str, size: tuple[int, int]) -> str:
    """What a deleted pixel became: a blur of the image (with its sigma in pixels) or the image's mean colour."""
    if baseline == "blur":
        return text("faithfulness.fill_blur", sigma=f"{BLUR_SIGMA_FRACTION * min(size):g}")
    return text("faithfulness.fill_mean")


def knob_phrase(knob: str, setting: Mapping[str, object]) -> str:
    """A knob of the ranking as a reader reads it: "the mean-colour fill", "16 steps"."""
    if knob == "fill":
        return text(FILL_KNOB_TEXTS[str(setting["baseline"])])
    return text("faithfulness.knob_steps", steps=setting["steps"])


def criterion_name(criterion: str) -> str:
    """What ranked the removed channels: "attention weight", "mean activation"."""
    return text(CRITERION_TEXTS[criterion])


def method_style(method: str) -> dict:
    """A method's line in every figure: its own colour, or grey and dashed (dotted) for a baseline."""
    if method in BASELINE_STYLES:
        return {"color": BASELINE_COLOUR, "linestyle": BASELINE_STYLES[method]}
    return {"color": colours()[MODEL_METHODS.index(method)], "linestyle": "-"}


def deletion_insertion(curves: pd.DataFrame) -> Figure:
    """Deletion (left) and insertion (right) mean curves, one row per model, one line per method, one legend of
    every method below.

    Args:
        curves: ``views.faithfulness.mean_curves``: model, method, curve, fraction, probability.
    """
    models = in_order(curves["model"])
    figure, axes = plt.subplots(
        len(models),
        2,
        figsize=(FIGURE_WIDTH, LEGEND_HEIGHT + CURVE_ROW_HEIGHT * len(models)),
        layout="constrained",
        squeeze=False,
        sharex=True,
        sharey="row",
    )
    for row, model in enumerate(models):
        for panel, curve in zip(axes[row], ("deletion", "insertion"), strict=True):
            drawn = curves[(curves["model"] == model) & (curves["curve"] == curve)]
            for method in in_order(drawn["method"]):
                line = drawn[drawn["method"] == method]
                panel.plot(line["fraction"], line["probability"], label=method_name(method), **method_style(method))
            panel.set(title=text(CURVE_TEXTS[curve], model=model), xlim=(0, 1))
            panel.grid(alpha=0.3)
    for panel, curve in zip(axes[-1], ("deletion", "insertion"), strict=True):
        panel.set_xlabel(text(AXIS_TEXTS[curve]))
    figure.supylabel(text("faithfulness.probability_axis"))
    figure_legend(figure, columns=3, order=METHOD_ORDER)
    return figure


def model_parts(models: Sequence[str]) -> list[list[str]]:
    """The models of :func:`deletion_insertion` cut into figures of at most :data:`MODELS_PER_FIGURE` rows, so that
    each fits a page at its print size."""
    return [list(models[start : start + MODELS_PER_FIGURE]) for start in range(0, len(models), MODELS_PER_FIGURE)]


def figure_legend(figure: Figure, columns: int, order: Sequence[str] = (), above: bool = False) -> None:
    """One legend of every labelled line of ``figure``'s panels, each label once, below the panels inside the
    figure (a legend beside the axes would widen the figure past the page), or ``above`` them where a figure's x
    label takes the place below. Lines named in ``order`` (methods: the keys of :data:`METHOD_TEXTS`) come first in
    that order, so that a method has the same place whichever panel drew it first."""
    handles: dict[str, Artist] = {}
    for panel in figure.axes:
        for handle, label in zip(*panel.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    names = [method_name(method) for method in order]
    ordered = sorted(handles, key=lambda label: names.index(label) if label in names else len(names))
    figure.legend(
        [handles[label] for label in ordered],
        ordered,
        loc="outside upper center" if above else "outside lower center",
        ncols=min(columns, len(ordered)),
        handlelength=LEGEND_LINE_LENGTH,
    )


def removal_curves(table: pd.DataFrame, model: str) -> Figure:
    """One model's channel removal: per site (columns) accuracy (top) and true-class probability (bottom) against
    the share of the channels actually removed, one line per criterion and ranking (colour: highest, lowest or
    random; line style: the criterion, dash-dotted for random) starting from the reference (nothing removed, also
    drawn as a dotted black line), the legend above. Ticks name the number of channels removed.

    Args:
        table: ``views.faithfulness.removal_over_seeds`` of every model.
    """
    removal = table[table["model"] == model]
    sites = in_order(removal["site"])
    largest_share = (removal["removed"] / removal["channels"]).max()
    figure, axes = plt.subplots(
        2, len(sites), figsize=(FIGURE_WIDTH, REMOVAL_HEIGHT), layout="constrained", squeeze=False, sharey="row"
    )
    for column, site in enumerate(sites):
        rows = removal[removal["site"] == site]
        reference = rows[rows["ranking"] == "reference"].iloc[0]
        removed = rows[rows["ranking"] != "reference"].drop_duplicates("removed")
        for panel, measure in zip(axes[:, column], ("accuracy", "true_class_probability"), strict=True):
            for (criterion, ranking), line in rows[rows["ranking"] != "reference"].groupby(
                ["criterion", "ranking"], sort=False
            ):
                panel.plot(
                    [0.0, *(line["removed"] / line["channels"])],
                    [reference[measure], *line[measure]],
                    color=RANKING_COLOURS[ranking],
                    linestyle=CRITERION_STYLES[criterion],
                    marker="o",
                    markersize=4,
                    label=removal_label(criterion, ranking),
                )
            panel.axhline(
                reference[measure], color="black", linestyle=REFERENCE_STYLE, label=text("faithfulness.reference_label")
            )
            panel.set(xlim=(0, SHARE_MARGIN * largest_share))
            panel.set_xticks([0.0, *(removed["removed"] / removed["channels"])], ["0", *map(str, removed["removed"])])
            panel.grid(alpha=0.3)
        axes[0, column].set_title(text("faithfulness.site_title", site=site, channels=int(reference["channels"])))
    axes[0, 0].set(ylabel=text("faithfulness.accuracy_axis"), ylim=(0, 1))
    axes[1, 0].set(ylabel=text("faithfulness.true_probability_axis"), ylim=(0, 1))
    figure.supxlabel(text("faithfulness.removed_axis"))
    figure_legend(figure, columns=3, above=True)
    return figure


def removal_label(criterion: str, ranking: str) -> str:
    """A line of the removal figure: "highest attention weight first", or "random"."""
    if not criterion:
        return text(RANKING_TEXTS[ranking])
    return text(RANKING_TEXTS[ranking], criterion=criterion_name(criterion))


def sanity_curves(steps: pd.DataFrame, threshold: float) -> Figure:
    """The Spearman correlation of each method's maps with the trained model's (fixed target) after every
    randomisation step, one panel per model, one line per method from the trained model (1) on; a hollow marker
    where the step has not yet reached a layer the method reads, the threshold as a dash-dotted black line, and the
    legend below.

    Args:
        steps: ``views.faithfulness.sanity_over_seeds``'s curves.
        threshold: the config's ``faithfulness.sanity_threshold``.
    """
    fixed = steps[steps["target"] == "fixed"]
    models = in_order(fixed["model"])
    figure, axes = plt.subplots(
        1, len(models), figsize=(FIGURE_WIDTH, SANITY_HEIGHT), layout="constrained", squeeze=False, sharey=True
    )
    for panel, model in zip(axes[0], models, strict=True):
        mine = fixed[fixed["model"] == model]
        layers = [step_title("original", 0), *(step_title(name, 1) for name in in_order(mine["randomised"]))]
        for method in in_order(mine["method"]):
            curve = mine[mine["method"] == method]
            style = method_style(method)
            panel.plot(range(len(layers)), [1.0, *curve["spearman"]], label=method_name(method), **style)
            for place, (spearman, uses) in enumerate(zip(curve["spearman"], curve["uses"], strict=True), start=1):
                face = style["color"] if uses else "white"
                panel.plot(
                    place, spearman, marker="o", markersize=4, color=style["color"], markerfacecolor=face, linestyle=""
                )
        panel.axhline(threshold, color="black", linestyle=THRESHOLD_STYLE, label=text("faithfulness.threshold_label"))
        panel.set_xticks(range(len(layers)), layers)
        panel.set(title=model, ylim=(-0.2, 1.05), xlabel=text("faithfulness.step_axis"))
        panel.grid(alpha=0.3)
    axes[0, 0].set_ylabel(text("faithfulness.spearman_axis"))
    figure_legend(figure, columns=4, order=METHOD_ORDER)
    return figure


def sanity_gallery(
    images: np.ndarray,
    indices: Sequence[int],
    steps: Sequence[str],
    maps: Mapping[str, np.ndarray],
    part: slice = EVERY_IMAGE,
) -> Figure:
    """The maps of the images in ``part`` (rows: image × method) from the trained model to the fully randomised one
    (columns), each row named by its image and method on its left.

    Args:
        images: ``(G, H, W, 3)`` uint8 images, shown in the first column of each of their rows.
        indices: their indices in the test split (row labels).
        steps: the gallery's step names: ``"original"``, then the layers re-initialised so far (``fc2+fc1``).
        maps: method -> ``(steps, G, H, W)`` maps in [0, 1].
        part: the images drawn (:func:`gallery_parts`).
    """
    shown = range(len(images))[part]
    rows = [(image, method) for image in shown for method in maps]
    figure, axes = plt.subplots(
        len(rows),
        len(steps) + 1,
        figsize=(FIGURE_WIDTH, GALLERY_HEADER_HEIGHT + GALLERY_ROW_HEIGHT * len(rows)),
        layout="constrained",
        squeeze=False,
    )
    for row, (image, method) in enumerate(rows):
        blank_axes(axes[row, 0])
        axes[row, 0].imshow(images[image])
        label = text("faithfulness.gallery_row", image=image_names([indices[image]]), method=method_name(method))
        axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center")
        for column, values in enumerate(maps[method][:, image], start=1):
            blank_axes(axes[row, column])
            overlay = axes[row, column].imshow(values, cmap=OVERLAY_CMAP, vmin=MAP_RANGE[0], vmax=MAP_RANGE[1])
    for column, step in enumerate(steps, start=1):
        axes[0, column].set_title(step_title(step, column - 1))
    overlay_colorbar(figure, overlay, axes, text("faithfulness.map_colorbar"))
    return figure


def gallery_parts(images: int, methods: int) -> list[slice]:
    """The gallery's images cut into figures of at most :data:`IMAGES_PER_FIGURE` rows (one image each if its
    methods alone fill them), so that every figure fits a page at its print size."""
    per_figure = max(1, IMAGES_PER_FIGURE // methods)
    return [slice(start, min(start + per_figure, images)) for start in range(0, images, per_figure)]


def step_title(step: str, number: int) -> str:
    """A randomisation step as a column title or tick: "trained" first, then the layer that step added to the
    re-initialised ones ("+fc1")."""
    if number == 0:
        return text("faithfulness.step_trained")
    return text("faithfulness.step_header", layer=step_layers([step])[0])


def step_layers(randomised: Sequence[str]) -> list[str]:
    """The layer each step re-initialised, from the cumulative names ``fc2``, ``fc2+fc1``, ... of the sanity table."""
    return [name.split("+")[-1] for name in randomised]


# ---- captions ----


def curves_caption(setup: FaithfulnessSetup, models: Sequence[str]) -> str:
    """The caption of :func:`deletion_insertion` of ``models`` (one part of :func:`model_parts`)."""
    return text(
        "faithfulness.curves_caption",
        models=listing(models),
        fill=fill_name(setup.baseline, setup.size),
        steps=setup.steps,
        images=setup.images,
        over=seeds_phrase(setup.seeds),
        random_line=line_style(BASELINE_STYLES["random"]),
        gaussian_line=line_style(BASELINE_STYLES["gaussian"]),
    )


def removal_caption(table: pd.DataFrame, model: str, setup: FaithfulnessSetup) -> str:
    """The caption of :func:`removal_curves` of ``model``: the channels removed at each site, counted."""
    removal = table[table["model"] == model]
    removed = removal[removal["ranking"] != "reference"].drop_duplicates(["site", "removed"])
    counts = [
        text(
            "faithfulness.removed_at_site",
            site=site,
            counts=listing(
                text("faithfulness.removed_count", removed=row.removed, share=f"{100 * row.removed / row.channels:.1f}")
                for row in rows.itertuples()
            ),
            channels=int(rows["channels"].iloc[0]),
        )
        for site, rows in removed.groupby("site", sort=False)
    ]
    criteria = [criterion for criterion in in_order(removal["criterion"]) if criterion]
    return text(
        "faithfulness.removal_caption",
        model=model,
        sites=listing(in_order(removal["site"])),
        criteria=listing(
            f"{criterion_name(criterion)} ({line_style(CRITERION_STYLES[criterion])})" for criterion in criteria
        ),
        counts=text("style.clause_separator").join(counts),
        images=setup.images,
        over=seeds_phrase(setup.seeds),
        line=line_style(REFERENCE_STYLE),
    )


def sanity_curves_caption(setup: FaithfulnessSetup, threshold: float) -> str:
    """The caption of :func:`sanity_curves`."""
    return text(
        "faithfulness.sanity_curves_caption",
        models=listing(setup.models),
        images=setup.sanity_images,
        over=seeds_phrase(setup.seeds),
        threshold=f"{threshold:g}",
        line=line_style(THRESHOLD_STYLE),
        random_line=line_style(BASELINE_STYLES["random"]),
        gaussian_line=line_style(BASELINE_STYLES["gaussian"]),
    )


def gallery_caption(
    model: str,
    seed: int,
    indices: Sequence[int],
    steps: Sequence[str],
    methods: Sequence[str],
    part: slice = EVERY_IMAGE,
) -> str:
    """The caption of :func:`sanity_gallery` of one run for the test images ``indices[part]`` (one part of
    :func:`gallery_parts`; the first says how many images the later ones show)."""
    shown = text(
        "faithfulness.gallery_caption",
        run=run_name(model, seed),
        images=image_names(indices[part]),
        methods=listing(method_name(method) for method in methods),
        steps=listing(step_title(step, number) for number, step in enumerate(steps)),
        cmap=OVERLAY_CMAP,
        low=MAP_RANGE[0],
        high=MAP_RANGE[1],
    )
    return part_caption(shown, part, indices)
