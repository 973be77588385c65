"""What all figures and their captions share: colours, tick spacing, panel grids, and the words for numbers."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure

from cnnlens.texts import listing, set_language, text
from cnnlens.texts.fonts import use_fonts

MAX_CLASS_LABELS = 25  # class names per axis; a data set of more classes labels every k-th

# Every heatmap laid over an image (Grad-CAM, the activation heatmap, spatial attention): colour map and opacity.
OVERLAY_CMAP = "jet"
OVERLAY_ALPHA = 0.5

# What a layer's output is, by the layer's kind (its name without the number): the text that says it in captions.
LAYER_KIND_TEXTS = {
    "conv": "style.layer_conv",
    "bn": "style.layer_bn",
    "relu": "style.layer_relu",
    "pool": "style.layer_pool",
    "ca": "style.layer_ca",
}

# The matplotlib line styles the figures use, and the text that names each in a caption.
LINE_STYLE_TEXTS = {
    "-": "style.line_solid",
    "--": "style.line_dashed",
    ":": "style.line_dotted",
    "-.": "style.line_dashdot",
}


def use_report_style(language: str, dpi: int = 80) -> None:
    """What every section's notebook sets before it draws: the texts and fonts of ``language``, and figures
    ``dpi`` CSS pixels per inch on screen, embedded at twice that ("retina") so that they stay sharp on an A4 page
    (above 150 pixels per inch). A glyph missing from the font is an error: it would print as a box."""
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    set_language(language)
    use_fonts(language)
    warnings.filterwarnings("error", message=r"Glyph \d+ .* missing from font")
    plt.rcParams["figure.dpi"] = dpi
    set_matplotlib_formats("retina")


def colours() -> list[str]:
    """The colour cycle, repeated so that many runs still get a colour each."""
    return plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4


def tick_positions(count: int, max_labels: int) -> range:
    """Every k-th of ``count`` positions, so that at most ``max_labels`` labels share an axis (for many classes)."""
    return range(0, count, -(-count // max_labels))


def blank_axes(axes: Axes) -> None:
    """No ticks, but keep the y label free for row names (``axis("off")`` would hide it)."""
    axes.set_xticks([])
    axes.set_yticks([])


def overlay_colorbar(figure: Figure, overlay: ScalarMappable, axes: np.ndarray, label: str) -> None:
    """One colour bar for the overlays of a grid with one row per image, the image itself in the first column."""
    figure.colorbar(overlay, ax=axes[:, 1:].ravel().tolist(), shrink=min(0.9, 0.35 * len(axes)), label=label)


def panel_grid(rows: int, columns: int, figsize: tuple[float, float], **options: Any) -> tuple[Figure, np.ndarray]:
    """A figure of many small panels with fixed spacing.

    Constrained layout makes saving a figure of a hundred panels several times slower than fixed spacing,
    and the feature-map sections draw many such figures.
    """
    figure, axes = plt.subplots(rows, columns, figsize=figsize, squeeze=False, **options)
    figure.subplots_adjust(left=0.02, right=0.9, bottom=0.02, top=0.9, wspace=0.15, hspace=0.5)
    return figure, axes


def clauses(items: Iterable[object]) -> str:
    """Items that hold commas themselves, as one list in running text ("conv1: ...; conv2: ...")."""
    return text("style.clause_separator").join(map(str, items))


def describe_layer(name: str) -> str:
    """What a layer's output is, in words for captions: ``conv2`` -> "conv output, before BatchNorm and ReLU"."""
    kind = LAYER_KIND_TEXTS.get(name.rstrip("0123456789"))
    return text(kind) if kind else text("style.layer_other", layer=name)


def layer_kinds(layers: Iterable[str]) -> str:
    """What each layer's output is, for captions: "conv1: conv output, before BatchNorm and ReLU; ..."."""
    return clauses(text("style.layer_kind", layer=layer, kind=describe_layer(layer)) for layer in layers)


def ordinal(number: float) -> str:
    """``1`` -> "1st", ``99`` -> "99th", ``99.5`` -> "99.5th": a rank or percentile as captions name it."""
    if number != int(number) or int(number) % 100 in (11, 12, 13):
        return text("style.ordinal_th", n=f"{number:g}")
    suffix = {1: "style.ordinal_st", 2: "style.ordinal_nd", 3: "style.ordinal_rd"}.get(int(number) % 10)
    return text(suffix or "style.ordinal_th", n=f"{number:g}")


def percentile(quantile: float) -> str:
    """A quantile in [0, 1] as the percentile a caption names: ``0.99`` -> "99th"."""
    return ordinal(100 * quantile)


def confidence_level(alpha: float) -> str:
    """The level of the intervals at significance level ``alpha``, in percent, as the texts show it: 95 for 0.05."""
    return f"{100 * (1 - alpha):g}"


def line_style(style: str) -> str:
    """The word for a matplotlib line style in a caption ("--" -> "dashed")."""
    return text(LINE_STYLE_TEXTS[style])


def run_name(model: str, seed: int) -> str:
    """One trained model as captions name it: "the plain CNN, seed 0"."""
    return text("style.run", model=model, seed=seed)


def run_names(runs: Iterable[tuple[str, int]]) -> str:
    """Several trained models in one list: "plain seed 0, attention seed 0"."""
    return listing(text("style.run_short", model=model, seed=seed) for model, seed in runs)


def image_names(indices: Iterable[int]) -> str:
    """Test images by their index in the test split: "#3, #10"."""
    return listing(text("style.image", index=int(index)) for index in indices)


def image_labels(
    indices: Sequence[int], labels: Sequence[int], predictions: Sequence[int], classes: Sequence[str]
) -> list[str]:
    """The title of every input panel: its test-set index, its true class and the model's prediction."""
    return [
        image_label(int(index), classes[int(label)], classes[int(predicted)])
        for index, label, predicted in zip(indices, labels, predictions, strict=True)
    ]


def image_label(index: int, true: str, predicted: str) -> str:
    """The title of one input panel: "#3 true: cat / predicted: dog" on two lines."""
    return text("style.image_label", index=index, true=true, predicted=predicted)


def count_range(low: int, high: int) -> str:
    """A count that may vary: "2" when it does not, "2 to 3" when it does."""
    return str(low) if low == high else text("style.range", low=low, high=high)
