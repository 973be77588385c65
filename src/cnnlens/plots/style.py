"""What all figures share."""

MAX_CLASS_LABELS = 25  # class names per axis; a data set of more classes labels every k-th

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def colours() -> list[str]:
    """The colour cycle, repeated so that many runs still get a colour each."""
    return plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4


def tick_positions(count: int, max_labels: int) -> range:
    """Every k-th of ``count`` positions, so that at most ``max_labels`` labels share an axis (100 classes stay legible)."""
    return range(0, count, -(-count // max_labels))


def panel_grid(rows: int, columns: int, figsize: tuple[float, float], **options) -> tuple[Figure, np.ndarray]:
    """A figure of many small panels with fixed spacing.

    Constrained layout costs about 5 s per 100-panel figure when it is saved (measured on 2 CPU cores),
    which made one model's feature-map section take 1.5 minutes; fixed spacing costs about 1 s.
    """
    figure, axes = plt.subplots(rows, columns, figsize=figsize, squeeze=False, **options)
    figure.subplots_adjust(left=0.02, right=0.9, bottom=0.02, top=0.9, wspace=0.15, hspace=0.5)
    return figure, axes
