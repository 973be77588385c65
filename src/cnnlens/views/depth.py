"""The depth section's data: the images it shows, what each trained model makes of one of them, and the
per-layer statistics of several models as one table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from cnnlens.artifacts import Activations, DepthStatistics
from cnnlens.views.feature_maps import feature_layers
from cnnlens.views.order import in_order


def first_of_classes(labels: torch.Tensor, count: int) -> list[int]:
    """Rows of the first image of each class, for the first ``count`` classes in the order they appear."""
    first: dict[int, int] = {}
    for row, label in enumerate(labels.tolist()):
        first.setdefault(label, row)
    return list(first.values())[:count]


@dataclass(frozen=True)
class ModelAtImage:
    """One trained model on one test image: its prediction and the channel mean of each feature map."""

    model: str
    seed: int
    predicted: str
    maps: dict[str, np.ndarray]  # layer -> (h, w) mean over the layer's channels


def models_at_image(models: Sequence[Activations], index: int) -> list[ModelAtImage]:
    """Each model's prediction and channel-mean maps for test image ``index`` (an index into the test split)."""
    views = []
    for stored in models:
        row = stored.image_indices.tolist().index(index)
        maps = {layer: output[row].float().mean(0).numpy() for layer, output in feature_layers(stored).items()}
        views.append(ModelAtImage(stored.model, stored.seed, stored.classes[int(stored.predictions[row])], maps))
    return views


def depth_table(statistics: Sequence[DepthStatistics]) -> pd.DataFrame:
    """The per-layer statistics of several models as one table, one row per model and layer."""
    return pd.concat([stored.frame() for stored in statistics], ignore_index=True)


def table_runs(table: pd.DataFrame) -> list[tuple[str, int]]:
    """The ``(model, seed)`` pairs of a table with those columns, in the order they first appear."""
    return in_order(zip(table["model"], table["seed"], strict=True))
