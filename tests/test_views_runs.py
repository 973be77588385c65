"""The training runs as the comparison and training sections read them: values worked out by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from cnnlens.views.runs import (
    TrainedRun,
    curve_bands,
    histories_by_run,
    per_class_accuracies,
    per_class_accuracy,
    run_ids,
)


def trained(model: str, seed: int, confusion: list[list[int]] | None = None) -> TrainedRun:
    history = pd.DataFrame({"epoch": [1, 2], "test_accuracy": [0.5, 0.6]})
    matrix = pd.DataFrame(confusion or [[1, 0], [0, 1]], index=["cat", "dog"], columns=["cat", "dog"])
    return TrainedRun({"model": model, "seed": seed}, history, matrix)


def test_run_ids_and_histories_are_keyed_by_variant_and_seed():
    runs = [trained("plain", 0), trained("attention", 1)]
    assert run_ids(runs) == [("plain", 0), ("attention", 1)]
    histories = histories_by_run(runs)
    assert list(histories) == [("plain", 0), ("attention", 1)] and histories[("attention", 1)] is runs[1].history


def test_curve_bands_over_seeds():
    histories = {
        ("a", 0): pd.DataFrame({"epoch": [1, 2], "test_accuracy": [0.1, 0.5]}),
        ("a", 1): pd.DataFrame({"epoch": [1, 2], "test_accuracy": [0.3, 0.7]}),
        ("b", 0): pd.DataFrame({"epoch": [1, 2], "test_accuracy": [0.2, 0.4]}),
    }
    bands = curve_bands(histories, "test_accuracy").set_index(["variant", "epoch"])
    assert bands.loc[("a", 2)].tolist() == pytest.approx([0.6, 0.5, 0.7])
    assert bands.loc[("b", 1)].tolist() == pytest.approx([0.2, 0.2, 0.2])


def test_per_class_accuracies_are_row_recalls_per_variant():
    confusions = {
        "plain": trained("plain", 0, [[3, 1], [0, 2]]).confusion,
        "se": trained("se", 0, [[0, 4], [1, 1]]).confusion,
    }
    accuracy = per_class_accuracies(confusions)
    assert list(accuracy.index) == ["cat", "dog"] and list(accuracy.columns) == ["plain", "se"]
    np.testing.assert_allclose(accuracy.to_numpy(), [[0.75, 0.0], [1.0, 0.5]])


def test_per_class_accuracy_is_the_diagonal_over_row_sums():
    confusion = np.array([[8, 2, 0], [1, 1, 2], [0, 0, 0]])
    accuracy = per_class_accuracy(confusion)
    assert accuracy[:2].tolist() == [0.8, 0.25] and math.isnan(accuracy[2])
