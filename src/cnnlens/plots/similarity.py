"""The similarity section's figures: each run's layer × layer CKA, and the same layer's CKA across variants beside
that of two seeds of one variant (the floor), each with its caption."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from cnnlens.plots.style import FIGURE_WIDTH, colours, run_names
from cnnlens.texts import text
from cnnlens.views.order import in_order
from cnnlens.views.similarity import NOISE_ERRORS

PANELS_PER_FIGURE = 3  # CKA maps side by side: ten layer names still fit under a third of the text width
MAP_HEIGHT = 2.4  # inches: a square panel a third of the width wide, its title and its rotated layer names
FLOOR_HEIGHT = 2.3
CKA_CMAP = "viridis"
BASELINE_SEEDS, VARIANT_SEEDS = "o", "^"  # the markers of the two variants' seed pairs
SEED_COLOUR = "0.45"
ACROSS_MARKER = "D"


def cka_maps(tables: Mapping[str, pd.DataFrame]) -> Figure:
    """One panel per run (at most :data:`PANELS_PER_FIGURE`, each as large as three would be): its layer × layer
    linear CKA on a scale from 0 to 1, blank where a layer did not vary.

    Args:
        tables: panel title -> the run's CKA table (``views.similarity.within_cka``).
    """
    figure, axes = plt.subplots(1, len(tables), figsize=(FIGURE_WIDTH, MAP_HEIGHT), layout="constrained", squeeze=False)
    for panel, (title, table) in zip(axes[0], tables.items(), strict=True):
        panel.imshow(table.to_numpy(), vmin=0, vmax=1, cmap=CKA_CMAP)
        positions = range(len(table))
        panel.set_xticks(positions, table.columns, rotation=90)
        panel.set_yticks(positions, table.index)
        panel.set_title(title)
    scale = ScalarMappable(Normalize(0, 1), CKA_CMAP)  # every panel's: 0 to 1
    figure.colorbar(scale, ax=axes[0].tolist(), shrink=0.8, label=text("similarity.cka_axis"))
    return figure


def floor_plot(cka: pd.DataFrame, baseline: str, variants: Sequence[str]) -> Figure:
    """Per variant, one panel: per layer it shares with ``baseline``, the CKA of every pair of the two variants
    (diamonds, in the variant's colour) beside that of every two seeds of the baseline (grey circles) and of the
    variant (grey triangles); bars: ± :data:`NOISE_ERRORS` jackknife standard errors. The panels share a y axis that
    spans every value with its bars.

    Args:
        cka: same-layer CKA of every pair of runs (``views.similarity.same_layer_cka``).
    """
    figure, axes = plt.subplots(
        1, PANELS_PER_FIGURE, figsize=(FIGURE_WIDTH, FLOOR_HEIGHT), layout="constrained", sharey=True, squeeze=False
    )
    order = in_order([*cka["model"], *cka["other_model"]])  # the config's: colours as in the other sections
    ends = [1.0]
    for panel, variant in zip(axes[0], variants, strict=False):
        models = {variant, baseline}
        rows = cka[cka["model"].isin(models) & cka["other_model"].isin(models)]
        across = rows[rows["kind"] != "seeds"]
        layers = list(dict.fromkeys(across["layer"]))  # those both variants have, in forward order
        rows = rows[rows["layer"].isin(layers)]
        groups = (
            (
                across,
                ACROSS_MARKER,
                colours()[order.index(variant)],
                text("similarity.across", variant=variant, baseline=baseline),
                0.0,
            ),
            (_seeds_of(rows, baseline), BASELINE_SEEDS, SEED_COLOUR, text("similarity.seeds_of", model=baseline), -0.2),
            (_seeds_of(rows, variant), VARIANT_SEEDS, SEED_COLOUR, text("similarity.seeds_of", model=variant), 0.2),
        )
        for chosen, marker, shade, label, dodge in groups:
            if len(chosen):
                bars = NOISE_ERRORS * chosen["error"].fillna(0)  # no bar where no error was measured
                panel.errorbar(
                    [layers.index(layer) + dodge for layer in chosen["layer"]],
                    chosen["cka"],
                    yerr=bars,
                    fmt=marker,
                    color=shade,
                    markersize=4,
                    capsize=2,
                    label=label,
                )
                ends += [float((chosen["cka"] - bars).min()), float((chosen["cka"] + bars).max())]
        panel.set_xticks(range(len(layers)), layers, rotation=90)
        panel.set_title(text("similarity.floor_title", variant=variant, baseline=baseline))
        panel.grid(alpha=0.3)
        panel.legend()
    # every value with its bars, from a tenth below the lowest, so that the differences between the pairs show
    axes[0][0].set_ylim(np.floor(10 * min(ends)) / 10 - 0.05, max(ends) + 0.02)
    for panel in axes[0][len(variants) :]:
        panel.set_visible(False)
    axes[0][0].set_ylabel(text("similarity.same_layer_axis"))
    return figure


def _seeds_of(rows: pd.DataFrame, model: str) -> pd.DataFrame:
    return rows[(rows["kind"] == "seeds") & (rows["model"] == model)]


def cka_maps_caption(runs: Sequence[tuple[str, int]], images: int, minibatches: int) -> str:
    """What :func:`cka_maps` shows, of which runs, on how many images."""
    return text("similarity.maps_caption", runs=run_names(runs), images=images, minibatches=minibatches)


def floor_caption(baseline: str, variants: Sequence[str], images: int) -> str:
    """What :func:`floor_plot` shows."""
    return text(
        "similarity.floor_caption", baseline=baseline, variants=", ".join(variants), images=images, errors=NOISE_ERRORS
    )
