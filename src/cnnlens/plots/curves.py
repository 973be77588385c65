"""Training and comparison figures: learning curves, seed bands, per-class accuracy, confusion matrices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from cnnlens.plots.style import (
    FIGURE_WIDTH,
    MAX_CLASS_LABELS,
    MAX_FIGURE_HEIGHT,
    PNG_PAD,
    confidence_level,
    line_style,
    listing,
    run_names,
    tick_positions,
)
from cnnlens.plots.style import colours as _colours
from cnnlens.texts import text

SMOOTH = 50  # steps in the running mean of the training loss
# The line style of each split in the per-epoch curves.
SPLIT_STYLES: dict[str, Literal["-", "--"]] = {"train": "--", "test": "-"}
SPLIT_TEXTS = {"train": "curves.split_train", "test": "curves.split_test"}
SPLIT_KEY_COLOUR = "grey"  # the legend's sample of each split's line style, apart from the runs' colours
SHARE_RANGE = (0, 1)  # the colour scale of the row-normalised confusion matrices
CONFUSION_CMAP = "Blues"

# Heights in inches of the figures at the full text width: short, since the short edition shows the bands.
LINE_PLOT_HEIGHT = 2.4
BANDS_HEIGHT = 2.25
BARS_HEIGHT = 2.4
# The confusion matrices: at most this many side by side (more wrap to further rows), each at most this wide,
# and what a row needs around its squares (column names, titles, the shared axis labels) and beside them (the row
# names, the colour bar).
CONFUSION_COLUMNS = 3
CONFUSION_MAX_SIDE = 2.3
CONFUSION_ROW_MARGIN = 1.0
CONFUSION_SIDE_MARGIN = 1.6
POINTS_PER_INCH = 72
LABEL_SPACING = 1.3  # class names on a matrix's axis stand at least this many font sizes apart


def iteration_losses(losses: Mapping[str, Sequence[float]]) -> Figure:
    """Per-iteration training loss, one line per run on shared axes (raw faint, running mean of :data:`SMOOTH`
    steps bold, or of all steps of a shorter run)."""
    figure, axes = plt.subplots(figsize=(FIGURE_WIDTH, LINE_PLOT_HEIGHT), layout="constrained")
    for (label, given), colour in zip(losses.items(), _colours(), strict=False):
        values = np.asarray(given, dtype=float)
        axes.plot(values, color=colour, alpha=0.25, linewidth=0.6)
        window = max(1, min(SMOOTH, len(values)))
        mean = np.convolve(values, np.ones(window) / window, mode="valid")
        axes.plot(
            np.arange(window - 1, len(values)),
            mean,
            color=colour,
            label=text("curves.running_mean_label", run=label, window=window),
        )
    axes.set(
        xlabel=text("curves.iteration_axis"), ylabel=text("curves.training_loss_axis"), title=text("curves.loss_title")
    )
    axes.legend(loc="upper right")  # the loss falls: late steps keep the top free
    return figure


def epoch_curves(histories: Mapping[str, pd.DataFrame]) -> Figure:
    """Accuracy and loss per epoch, train (dashed) against test (solid), all runs on shared axes; the legend names
    each run's colour and each split's line style once."""
    figure, (accuracy, loss) = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, LINE_PLOT_HEIGHT), layout="constrained")
    for history, colour in zip(histories.values(), _colours(), strict=False):
        for split, style in SPLIT_STYLES.items():
            for axes, column, scale in ((accuracy, "accuracy", 100), (loss, "loss", 1)):
                values = scale * history[f"{split}_{column}"]
                axes.plot(history["epoch"], values, style, color=colour, marker="o", markersize=2)
    runs = [Line2D([], [], color=colour, label=label) for label, colour in zip(histories, _colours(), strict=False)]
    splits = [
        Line2D([], [], color=SPLIT_KEY_COLOUR, linestyle=style, label=text(SPLIT_TEXTS[split]))
        for split, style in SPLIT_STYLES.items()
    ]
    accuracy.set(
        xlabel=text("curves.epoch_axis"), ylabel=text("curves.accuracy_axis"), title=text("curves.accuracy_title")
    )
    loss.set(xlabel=text("curves.epoch_axis"), ylabel=text("curves.loss_axis"), title=text("curves.epoch_loss_title"))
    for axes in (accuracy, loss):
        _epoch_grid(axes)
    _legend_beside(figure, runs + splits)
    return figure


def seed_bands(accuracy: pd.DataFrame, loss: pd.DataFrame) -> Figure:
    """Test accuracy and loss per epoch: mean over seeds as a line, min to max over seeds as a band.

    Both tables have the columns variant, epoch, mean, min, max (see ``views.runs.curve_bands``).
    """
    figure, axes = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, BANDS_HEIGHT), layout="constrained")
    panels = ((axes[0], accuracy, 100, "curves.test_accuracy_axis"), (axes[1], loss, 1, "curves.test_loss_axis"))
    for panel, table, scale, label in panels:
        for (variant, rows), colour in zip(table.groupby("variant", sort=False), _colours(), strict=False):
            panel.plot(rows["epoch"], scale * rows["mean"], color=colour, label=variant)
            panel.fill_between(rows["epoch"], scale * rows["min"], scale * rows["max"], color=colour, alpha=0.2)
        panel.set(xlabel=text("curves.epoch_axis"), ylabel=text(label))
        _epoch_grid(panel)
    _legend_beside(figure, axes[0].get_legend_handles_labels()[0])
    return figure


def per_class_bars(accuracy: pd.DataFrame) -> Figure:
    """Grouped bars: rows of ``accuracy`` are classes, columns variants, values in [0, 1].

    With many classes, every k-th class is named on the axis (at most ``MAX_CLASS_LABELS``).
    """
    figure, axes = plt.subplots(figsize=(FIGURE_WIDTH, BARS_HEIGHT), layout="constrained")
    width = 0.8 / max(1, accuracy.shape[1])
    positions = np.arange(len(accuracy))
    for offset, (variant, colour) in enumerate(zip(accuracy.columns, _colours(), strict=False)):
        axes.bar(positions + offset * width, 100 * accuracy[variant], width, label=variant, color=colour)
    named = list(tick_positions(len(accuracy), MAX_CLASS_LABELS))
    axes.set_xticks(
        positions[named] + width * (accuracy.shape[1] - 1) / 2, accuracy.index[named], rotation=30, ha="right"
    )
    axes.set(ylabel=text("curves.test_accuracy_axis"), ylim=(0, 100))
    axes.grid(axis="y", alpha=0.3)
    _legend_beside(figure, axes.get_legend_handles_labels()[0])
    return figure


def confusion_matrices(matrices: Mapping[str, np.ndarray], classes: Sequence[str]) -> Figure:
    """Row-normalised confusion matrices side by side, on one colour scale (share of each true class), the true
    classes named beside the first of each row of panels.

    With many classes, every k-th class is named on the axes (as many as fit, at most ``MAX_CLASS_LABELS``).
    """
    rows, columns, side = _confusion_grid(len(matrices))
    figure, axes = plt.subplots(
        rows, columns, figsize=(FIGURE_WIDTH, rows * (side + CONFUSION_ROW_MARGIN)), layout="constrained", squeeze=False
    )
    named = tick_positions(len(classes), min(MAX_CLASS_LABELS, _labels_that_fit(side)))
    names = [classes[i] for i in named]
    for panel, (variant, matrix) in zip(axes.flat, matrices.items(), strict=False):
        shares = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
        shown = panel.imshow(shares, cmap=CONFUSION_CMAP, vmin=SHARE_RANGE[0], vmax=SHARE_RANGE[1])
        panel.set_xticks(named, names, rotation=90)
        panel.set_yticks(named, names if panel.get_subplotspec().is_first_col() else [])
        panel.set_title(variant)
    for unused in axes.flat[len(matrices) :]:
        unused.set_visible(False)
    figure.supxlabel(text("curves.predicted_axis"))
    figure.supylabel(text("curves.true_axis"))
    figure.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8, label=text("curves.share_colorbar"))
    return figure


def _confusion_grid(count: int) -> tuple[int, int, float]:
    """Rows and columns of ``count`` confusion matrices, as even as the rows allow, and the side of each in inches:
    as large as fits the width and the page's height."""
    rows = -(-count // CONFUSION_COLUMNS)
    columns = -(-count // rows)
    fits_width = (FIGURE_WIDTH - CONFUSION_SIDE_MARGIN) / columns
    fits_height = (MAX_FIGURE_HEIGHT - 2 * PNG_PAD) / rows - CONFUSION_ROW_MARGIN
    return rows, columns, min(CONFUSION_MAX_SIDE, fits_width, fits_height)


def _labels_that_fit(side: float) -> int:
    """How many class names fit along a matrix axis ``side`` inches long, at the tick labels' font size."""
    size = FontProperties(size=plt.rcParams["ytick.labelsize"]).get_size_in_points()
    return int(side * POINTS_PER_INCH / (LABEL_SPACING * size))


def _epoch_grid(axes: Axes) -> None:
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)


def _legend_beside(figure: Figure, handles: Sequence[Artist]) -> None:
    """One legend of ``handles`` for the whole figure, right of its panels and inside the figure's width
    (constrained layout makes room for it), so that it covers no curve or bar."""
    figure.legend(handles=handles, loc="outside right upper")


# A difference and its interval in one cell, two counts of the images only one run gets right in one: the
# columns they replace, and the text that heads the cell.
INTERVAL_COLUMNS = {
    "difference_mean": ("interval_low", "interval_high", "table.difference_mean_interval"),
    "difference": ("interval_low", "interval_high", "table.difference_interval"),
}
DISCORDANT_COLUMNS = {
    "variant_only": ("baseline_only", "table.discordant"),
    "seed_only": ("other_only", "table.discordant_seeds"),
}
# What the section's lead texts already say (the baseline; significant is Holm's p below alpha), the verdict the
# header states, and the spread that the interval and the detectable difference already carry.
UNSHOWN_COLUMNS = ("baseline", "significant", "verdict", "difference_std")


def comparison_table(table: pd.DataFrame) -> pd.DataFrame:
    """A table of the compare rule (``tests.csv``, ``image_tests.csv``, ``noise_floor.csv``) as the section shows it,
    narrow enough to print: each difference with its interval in one cell ("3.28 [2.57, 4.05]"), the counts of the
    images only one of two runs gets right in one ("921 / 593"), without the columns its lead already says, under
    readers' headers."""
    shown = table.drop(columns=[column for column in UNSHOWN_COLUMNS if column in table.columns])
    merged: dict[str, tuple[str, list]] = {}  # column -> (its header, the merged cells)
    for column, (low, high, header) in INTERVAL_COLUMNS.items():
        if column in shown.columns:
            values = zip(shown[column], shown[low], shown[high], strict=True)
            merged[column] = (header, [_with_interval(*value) for value in values])
            shown = shown.drop(columns=[low, high])
    for column, (other, header) in DISCORDANT_COLUMNS.items():
        if column in shown.columns:
            merged[column] = (header, [f"{a} / {b}" for a, b in zip(shown[column], shown[other], strict=True)])
            shown = shown.drop(columns=[other])
    readable = readable_columns(shown.drop(columns=list(merged)))
    for column, (header, cells) in merged.items():
        readable.insert(list(shown.columns).index(column), text(header), cells)
    return readable


def _with_interval(value: float, low: float, high: float) -> str | float:
    if pd.isna(value):
        return value
    if pd.isna(low):
        return f"{value:.2f}"
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def tests_lead(alpha: float) -> str:
    """What the table of the tests over seeds (:func:`comparison_table` of ``tests.csv``) holds, at the run's
    significance level."""
    return text("comparison.seed_tests", level=confidence_level(alpha), alpha=f"{alpha:g}")


def noise_floor_lead(noise: pd.DataFrame, baseline: str) -> str:
    """What the noise floor table (``noise_floor.csv``) holds, or why it has no rows."""
    return text("comparison.noise_floor" if len(noise) else "comparison.no_noise_floor", baseline=baseline)


def readable_columns(table: pd.DataFrame) -> pd.DataFrame:
    """A table of the compare rule (``runs.csv``, say) with each column headed by its text ``table.<column>``, and
    yes or no in the chosen language where a column holds truth values."""
    shown = table.copy()
    for column in shown.columns:
        values = shown[column].dropna()
        if len(values) and values.map(lambda value: isinstance(value, (bool, np.bool_))).all():
            shown[column] = shown[column].map(lambda value: value if pd.isna(value) else yes_no(bool(value)))
    return shown.rename(columns={column: text(f"table.{column}") for column in table.columns})


def yes_no(answer: bool) -> str:
    return text("table.yes" if answer else "table.no")


def seed_bands_caption(variants: Sequence[str], seeds: Sequence[int]) -> str:
    """The caption of :func:`seed_bands`."""
    return text("curves.seed_bands_caption", variants=listing(variants), seeds=listing(seeds))


def per_class_caption(variants: Sequence[str], seeds: Sequence[int]) -> str:
    """The caption of :func:`per_class_bars`."""
    return text("curves.per_class_caption", variants=listing(variants), seeds=listing(seeds))


def confusion_caption(variants: Sequence[str], seeds: Sequence[int]) -> str:
    """The caption of :func:`confusion_matrices`."""
    return text(
        "curves.confusion_caption",
        variants=listing(variants),
        seeds=listing(seeds),
        low=SHARE_RANGE[0],
        high=SHARE_RANGE[1],
    )


def iteration_losses_caption(runs: Sequence[tuple[str, int]], epochs: Sequence[int], batch_sizes: Sequence[int]) -> str:
    """The caption of :func:`iteration_losses`."""
    return text(
        "curves.iteration_losses_caption",
        window=SMOOTH,
        runs=run_names(runs),
        epochs=listing(epochs),
        batch_sizes=listing(batch_sizes),
    )


def epoch_curves_caption(runs: Sequence[tuple[str, int]]) -> str:
    """The caption of :func:`epoch_curves`."""
    return text(
        "curves.epoch_curves_caption",
        train=line_style(SPLIT_STYLES["train"]),
        test=line_style(SPLIT_STYLES["test"]),
        runs=run_names(runs),
    )
