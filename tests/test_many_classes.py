"""A data set of 100 classes: the model, the tables and every class-indexed figure follow it and stay legible."""

import matplotlib as mpl

mpl.use("Agg")
import numpy as np
import pandas as pd
import pytest
import torch

from cnnlens.interpret.activations import select_images
from cnnlens.models.cnn import build_model
from cnnlens.plots import channel_weights as attention
from cnnlens.plots import curves
from cnnlens.plots.style import MAX_CLASS_LABELS
from cnnlens.training.recipe import confusion_matrix, predict
from cnnlens.views.runs import per_class_accuracy

CLASSES = [f"class{index:03d}" for index in range(100)]


def labelled(axis) -> list[str]:
    return [label.get_text() for label in axis.get_ticklabels() if label.get_text()]


def test_the_confusion_matrix_of_a_100_class_model_counts_every_prediction():
    torch.manual_seed(0)
    model = build_model("plain", num_classes=100)
    images, labels = torch.randn(50, 3, 32, 32), torch.arange(50) * 2
    true, predictions = predict(model, [(images[:30], labels[:30]), (images[30:], labels[30:])])
    with torch.no_grad():
        assert torch.equal(predictions, model.eval()(images).argmax(1)) and torch.equal(true, labels)  # in order
    counts = confusion_matrix(true, predictions, 100)
    assert counts.shape == (100, 100) and counts.sum() == 50
    assert torch.equal(counts[labels, predictions], torch.ones(50, dtype=torch.int64))
    recall = per_class_accuracy(counts.numpy())
    assert np.isnan(recall[1::2]).all() and not np.isnan(recall[::2]).any()  # odd classes have no images here


def test_confusion_figure_names_at_most_a_legible_number_of_the_100_classes():
    matrix = np.random.default_rng(0).integers(0, 5, (100, 100))
    figure = curves.confusion_matrices({"plain": matrix, "attention": matrix}, CLASSES)
    panel = figure.axes[0]
    assert panel.images[0].get_array().shape == (100, 100)
    names = labelled(panel.xaxis)
    assert 10 <= len(names) <= MAX_CLASS_LABELS and names[0] == "class000" and set(names) <= set(CLASSES)
    assert labelled(panel.yaxis) == names


def test_per_class_bars_draw_every_class_and_name_some():
    accuracy = pd.DataFrame({"plain": np.linspace(0, 1, 100), "attention": np.linspace(1, 0, 100)}, index=CLASSES)
    figure = curves.per_class_bars(accuracy)
    axes = figure.axes[0]
    assert len(axes.patches) == 200
    assert 10 <= len(labelled(axes.xaxis)) <= MAX_CLASS_LABELS


def test_class_channel_heatmap_keeps_all_classes_in_a_bounded_figure():
    means = pd.DataFrame(np.random.default_rng(1).random((100, 128)), index=CLASSES)
    figure = attention.class_channel_heatmap(means, "ca3")
    axes = figure.axes[0]
    assert axes.images[0].get_array().shape == (100, 128)
    assert figure.get_figheight() <= 1.6 + 0.32 * MAX_CLASS_LABELS
    assert 10 <= len(labelled(axes.yaxis)) <= MAX_CLASS_LABELS


@pytest.mark.parametrize(
    ("per_class", "max_images", "classes", "images"),
    [(1, 20, 20, 20), (2, 20, 10, 20), (3, 20, 6, 18), (1, 100, 100, 100), (30, 20, 4, 20), (30, 3, 1, 3)],
)
def test_visualised_images_take_the_first_classes_that_fit(per_class, max_images, classes, images):
    labels = torch.arange(100).repeat_interleave(5)  # 5 test images per class
    chosen = select_images(labels, per_class, max_images)
    assert labels[chosen].unique().tolist() == list(range(classes)) and len(chosen) == images
    assert labels[chosen].tolist() == sorted(labels[chosen].tolist())  # in class order
