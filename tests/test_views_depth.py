"""The depth section's data: values worked out by hand on small inputs."""

import numpy as np
import torch

from cnnlens.artifacts import DepthStatistics
from cnnlens.views.depth import depth_table, first_of_classes, models_at_image, table_runs

from helpers import activations_artifact


def test_first_of_classes_takes_the_first_row_of_each_class_in_order_of_appearance():
    labels = torch.tensor([2, 2, 0, 1, 0, 3])
    assert first_of_classes(labels, 3) == [0, 2, 3]
    assert first_of_classes(labels, 10) == [0, 2, 3, 5]


def test_models_at_image_find_the_image_in_each_model_and_average_its_channels():
    conv = torch.arange(2 * 2 * 1 * 2, dtype=torch.float32).reshape(2, 2, 1, 2)
    plain = activations_artifact("plain", {"conv1": conv, "ca1": torch.ones(2, 2)}, indices=(7, 3), predictions=(1, 0))
    other = activations_artifact("se", {"conv1": 10 * conv}, indices=(3, 7), predictions=(1, 1))
    views = models_at_image([plain, other], 3)
    assert [(view.model, view.seed, view.predicted) for view in views] == [("plain", 2, "cat"), ("se", 2, "dog")]
    assert list(views[0].maps) == ["conv1"]  # attention weights have no map
    np.testing.assert_allclose(views[0].maps["conv1"], [[5.0, 6.0]])  # image 3 is row 1 of plain: mean of 4..7
    np.testing.assert_allclose(views[1].maps["conv1"], [[10.0, 20.0]])  # and row 0 of se: 10 x mean of 0..3


def test_depth_table_stacks_models_and_table_runs_lists_them_once():
    def stored(model, seed):
        return DepthStatistics(model, seed, {"layer": ["relu1", "relu2"], "sparsity_mean": [0.1, 0.2]})

    table = depth_table([stored("plain", 0), stored("se", 1)])
    assert list(table["model"]) == ["plain", "plain", "se", "se"]
    assert list(table["sparsity_mean"]) == [0.1, 0.2, 0.1, 0.2]
    assert list(table.index) == [0, 1, 2, 3]
    assert table_runs(table) == [("plain", 0), ("se", 1)]
