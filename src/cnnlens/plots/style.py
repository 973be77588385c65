"""What all figures and their captions share: colours, tick spacing, panel grids, and the words for numbers."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from IPython.core.pylabtools import retina_figure
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.typing import RcKeyType

from cnnlens.texts import listing, set_language, text
from cnnlens.texts.fonts import use_fonts

# The widest figure that prints at its own size: the print stylesheet's A4 page less its 20 mm side margins
# (reporting/template/index.html.j2) is 6.69 in, less the notebook cells' padding of 5 CSS pixels on each side.
TEXT_WIDTH = 6.5  # inches
PNG_PAD = 0.1  # inches of white the notebook's tight PNG keeps around what a figure draws (savefig.pad_inches)
FIGURE_WIDTH = TEXT_WIDTH - 2 * PNG_PAD  # the widest figure: shown with its padding, TEXT_WIDTH wide
# The tallest figure: with its caption it still fits one page of the stylesheet's 259 mm of content.
MAX_FIGURE_HEIGHT = 7.0  # inches
# Figures show one CSS pixel (1/96 inch, on screen and in print) per figure pixel at this dpi: a figure's inches
# are its inches on the page, and its text prints at its font size.
CSS_DPI = 96
PRINT_SIZES: dict[RcKeyType, Any] = {
    "figure.dpi": CSS_DPI,
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "figure.titlesize": 9,
    "figure.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "savefig.pad_inches": PNG_PAD,
}
IMAGES_PER_FIGURE = 3  # the most rows of a grid of one row per image in one figure (figure_parts)
SMALLEST_TEXT_KEY = "smallest_text_pt"  # a figure's display metadata: its smallest text, in points as shown

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


def use_report_style(language: str) -> None:
    """What every section's notebook sets before it draws: the texts and fonts of ``language``, the print sizes
    (:func:`use_print_sizes`), and figures shown as retina PNGs (twice the pixels: above 150 pixels per inch on an
    A4 page) whose display metadata carries their smallest text (:data:`SMALLEST_TEXT_KEY`). A glyph missing from
    the font is an error: it would print as a box."""
    from IPython import get_ipython

    set_language(language)
    use_fonts(language)
    use_print_sizes()
    warnings.filterwarnings("error", message=r"Glyph \d+ .* missing from font")
    shell = get_ipython()
    if shell is not None:
        # The inline backend sets IPython's figure formatter when it loads, at the first figure: load it now so that
        # it does not replace this one.
        plt.switch_backend("module://matplotlib_inline.backend_inline")
        shell.display_formatter.formatters["image/png"].for_type(Figure, retina_png)


def use_print_sizes() -> None:
    """Figures drawn at the size they print: one inch of figure is one CSS inch on screen and on paper (see
    :data:`CSS_DPI`), with text of 7 points (6.7 where a figure asks for "small")."""
    plt.rcParams.update(PRINT_SIZES)


def figure_parts(count: int) -> list[slice]:
    """A grid of one row per image, cut into as few figures as hold at most :data:`IMAGES_PER_FIGURE` rows each, of
    sizes as even as can be (10 images: 3, 3, 2, 2), so that every part prints at legible size and two share a page
    (the full edition shows every part, the short one the first)."""
    parts = -(-count // IMAGES_PER_FIGURE)
    sizes = [count // parts + (part < count % parts) for part in range(parts)]
    ends = np.cumsum(sizes, dtype=int).tolist()
    return [slice(start, end) for start, end in zip([0, *ends], ends, strict=False)]


def part_caption(caption: str, part: slice, indices: Sequence[int]) -> str:
    """The caption of one part of a grid cut by :func:`figure_parts`: ``caption`` (which describes the part's
    images) for the whole grid or its first part, the latter saying that more follow; a later part refers to the
    figure before it."""
    shown = indices[part]
    if part.start == 0:
        rest = len(indices) - len(shown)
        return text("style.first_part", caption=caption, rest=rest) if rest else caption
    return text("style.next_part", images=image_names(shown))


def retina_png(figure: Figure) -> tuple[str, dict] | None:
    """The notebook's PNG of ``figure`` (IPython's retina one) with its display size and its smallest text in points
    at that size: the report can tell from it how large the text prints."""
    sizes: list[float] = []
    with _recording_text_sizes(sizes):
        shown = retina_figure(figure, base64=True)
    if shown is None:  # an empty figure shows nothing
        return None
    png, size = shown
    if not sizes:  # a figure without text
        return png, size
    return png, {**size, SMALLEST_TEXT_KEY: round(min(sizes) * figure.dpi / CSS_DPI, 2)}


@contextmanager
def _recording_text_sizes(sizes: list[float]) -> Iterator[None]:
    """Append to ``sizes`` the font size of every text matplotlib draws while inside.

    matplotlib offers no event per drawn artist, and what a figure holds is not what it draws (tick labels of
    ticks outside the view, the axes of ``axis("off")``): the draw method itself is the honest witness.
    """
    draw = Text.draw

    def recording_draw(self: Text, renderer: Any) -> None:
        if self.get_visible() and self.get_text().strip():
            sizes.append(float(self.get_fontsize()))
        draw(self, renderer)

    Text.draw = recording_draw  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        Text.draw = draw  # type: ignore[method-assign]


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
    panels = axes[:, 1:].ravel().tolist()  # a wider pad than the default: titles wider than their panels overhang
    figure.colorbar(overlay, ax=panels, shrink=min(0.9, 0.35 * len(axes)), pad=0.12, label=label)


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
