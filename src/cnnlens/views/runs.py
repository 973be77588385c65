"""The training runs as the comparison and training sections read them: each run's files, its history by
variant and seed, the bands over seeds, the confusion counts pooled over seeds and the accuracy of every class."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cnnlens import texts
from cnnlens.artifacts import CONFUSION, HISTORY, RUN_METRICS


@dataclass
class TrainedRun:
    """One training run's files, as the comparison and training notebooks read them."""

    metrics: dict
    history: pd.DataFrame
    confusion: pd.DataFrame  # counts; rows true classes, columns predicted

    @property
    def label(self) -> str:
        return f"{self.metrics['model']} (seed {self.metrics['seed']})"

    @classmethod
    def read(cls, folder: str | Path) -> TrainedRun:
        folder = Path(folder)
        return cls(
            RUN_METRICS.load(folder / "metrics.json"),
            HISTORY.load(folder / "history.csv"),
            CONFUSION.load(folder / "confusion.csv"),
        )


def run_ids(runs: Sequence[TrainedRun]) -> list[tuple[str, int]]:
    """The ``(variant, seed)`` of each run, as captions list them."""
    return [(run.metrics["model"], run.metrics["seed"]) for run in runs]


def histories_by_run(runs: Sequence[TrainedRun]) -> dict[tuple[str, int], pd.DataFrame]:
    """Each run's history by ``(variant, seed)``, as :func:`curve_bands` takes them."""
    return dict(zip(run_ids(runs), (run.history for run in runs), strict=True))


def curve_bands(histories: Mapping[tuple[str, int], pd.DataFrame], column: str) -> pd.DataFrame:
    """Per variant and epoch, the mean, min and max of a history column over seeds (for a band plot)."""
    frames = [history[["epoch", column]].assign(variant=variant) for (variant, _), history in histories.items()]
    joined = pd.concat(frames)
    bands = joined.groupby(["variant", "epoch"], sort=False)[column].agg(["mean", "min", "max"])
    return bands.reset_index()


def pooled_confusion(runs: Sequence[TrainedRun]) -> dict[str, pd.DataFrame]:
    """Per variant, the confusion counts summed over its seeds, in the order variants first appear."""
    pooled: dict[str, pd.DataFrame] = {}
    for run in runs:
        variant = run.metrics["model"]
        pooled[variant] = pooled[variant] + run.confusion if variant in pooled else run.confusion
    return pooled


def named_classes(confusions: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Confusion matrices whose rows and columns carry the class names readers read
    (:func:`cnnlens.texts.class_names`: the source's names in Chinese)."""
    return {
        variant: matrix.set_axis(texts.class_names(matrix.index), axis=0).set_axis(
            texts.class_names(matrix.columns), axis=1
        )
        for variant, matrix in confusions.items()
    }


def per_class_accuracies(confusions: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Recall of every class (rows, named as the confusion matrices' rows) per variant (columns)."""
    classes = next(iter(confusions.values())).index
    return pd.DataFrame(
        {variant: per_class_accuracy(matrix.to_numpy()) for variant, matrix in confusions.items()}, index=classes
    )


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Recall of every class from a confusion matrix whose rows are true and columns predicted classes."""
    totals = confusion.sum(1)
    return np.divide(np.diag(confusion), totals, out=np.full(len(totals), np.nan), where=totals > 0)
