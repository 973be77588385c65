"""Training and comparison figures: learning curves, seed bands, per-class accuracy, confusion matrices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cnnlens.plots.style import MAX_CLASS_LABELS, tick_positions
from cnnlens.plots.style import colours as _colours


def iteration_losses(losses: Mapping[str, Sequence[float]], smooth: int = 50) -> Figure:
    """Per-iteration training loss, one line per run on shared axes (raw faint, running mean bold)."""
    figure, axes = plt.subplots(figsize=(10, 3.6), layout="constrained")
    for (label, values), colour in zip(losses.items(), _colours(), strict=False):
        values = np.asarray(values, dtype=float)
        axes.plot(values, color=colour, alpha=0.25, linewidth=0.6)
        window = max(1, min(smooth, len(values)))
        mean = np.convolve(values, np.ones(window) / window, mode="valid")
        axes.plot(np.arange(window - 1, len(values)), mean, color=colour, label=f"{label} (mean of {window})")
    axes.set(xlabel="iteration (batch index)", ylabel="training loss", title="Loss per iteration")
    axes.legend()
    return figure


def epoch_curves(histories: Mapping[str, pd.DataFrame]) -> Figure:
    """Accuracy and loss per epoch, train (dashed) against test (solid), all runs on shared axes."""
    figure, (accuracy, loss) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    for (label, history), colour in zip(histories.items(), _colours(), strict=False):
        for split, style in (("train", "--"), ("test", "-")):
            accuracy.plot(
                history["epoch"],
                100 * history[f"{split}_accuracy"],
                style,
                color=colour,
                label=f"{label} {split}",
                marker="o",
                markersize=3,
            )
            loss.plot(
                history["epoch"],
                history[f"{split}_loss"],
                style,
                color=colour,
                label=f"{label} {split}",
                marker="o",
                markersize=3,
            )
    accuracy.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy per epoch")
    loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss per epoch")
    for axes in (accuracy, loss):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    return figure


def seed_bands(accuracy: pd.DataFrame, loss: pd.DataFrame) -> Figure:
    """Test accuracy and loss per epoch: mean over seeds as a line, min to max over seeds as a band.

    Both tables have the columns variant, epoch, mean, min, max (see ``compare.curve_bands``).
    """
    figure, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    for panel, table, scale, label in ((axes[0], accuracy, 100, "test accuracy (%)"), (axes[1], loss, 1, "test loss")):
        for (variant, rows), colour in zip(table.groupby("variant", sort=False), _colours(), strict=False):
            panel.plot(rows["epoch"], scale * rows["mean"], color=colour, label=variant)
            panel.fill_between(rows["epoch"], scale * rows["min"], scale * rows["max"], color=colour, alpha=0.2)
        panel.set(xlabel="epoch", ylabel=label)
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.grid(alpha=0.3)
        panel.legend(fontsize="small")
    return figure


def per_class_bars(accuracy: pd.DataFrame) -> Figure:
    """Grouped bars: rows of ``accuracy`` are classes, columns variants, values in [0, 1].

    With many classes, every k-th class is named on the axis (at most ``MAX_CLASS_LABELS``).
    """
    figure, axes = plt.subplots(figsize=(11, 3.6), layout="constrained")
    width = 0.8 / max(1, accuracy.shape[1])
    positions = np.arange(len(accuracy))
    for offset, (variant, colour) in enumerate(zip(accuracy.columns, _colours(), strict=False)):
        axes.bar(positions + offset * width, 100 * accuracy[variant], width, label=variant, color=colour)
    named = list(tick_positions(len(accuracy), MAX_CLASS_LABELS))
    axes.set_xticks(
        positions[named] + width * (accuracy.shape[1] - 1) / 2, accuracy.index[named], rotation=30, ha="right"
    )
    axes.set(ylabel="test accuracy (%)", ylim=(0, 100))
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize="small")
    return figure


def confusion_matrices(matrices: Mapping[str, np.ndarray], classes: Sequence[str]) -> Figure:
    """Row-normalised confusion matrices side by side, on one colour scale (share of each true class).

    With many classes, every k-th class is named on the axes (at most ``MAX_CLASS_LABELS``).
    """
    figure, axes = plt.subplots(
        1, len(matrices), figsize=(4.6 * len(matrices), 4.4), layout="constrained", squeeze=False
    )
    for panel, (variant, matrix) in zip(axes[0], matrices.items(), strict=False):
        rows = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
        shown = panel.imshow(rows, cmap="Blues", vmin=0, vmax=1)
        named = tick_positions(len(classes), MAX_CLASS_LABELS)
        panel.set_xticks(named, [classes[i] for i in named], rotation=90, fontsize=7)
        panel.set_yticks(named, [classes[i] for i in named], fontsize=7)
        panel.set(xlabel="predicted", ylabel="true", title=variant)
    figure.colorbar(shown, ax=axes[0].tolist(), shrink=0.8, label="share of the true class")
    return figure
