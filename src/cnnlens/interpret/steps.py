"""The computations behind the report's analysis sections, one function per rule.

Each takes a model and data and returns plain tensors and tables that a rule stores and a notebook
plots: notebooks never run a model.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import pandas as pd
import torch
from torch import nn

from cnnlens.interpret import depth_stats
from cnnlens.interpret.activations import select_images
from cnnlens.interpret.gradcam import grad_cam
from cnnlens.interpret.hooks import capture
from cnnlens.models.modes import eval_mode
from cnnlens.data.dataset import Dataset, normalize
from cnnlens.interpret.deconvnet import deconv_project
from cnnlens.models.cnn import attention_gates

BATCH = 500


def _test_batches(dataset: Dataset) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The test set, normalised, in batches of ``BATCH`` (the full set at once would not fit for conv1)."""
    for start in range(0, len(dataset.test_labels), BATCH):
        yield normalize(dataset.test_images[start : start + BATCH]), dataset.test_labels[start : start + BATCH]


@torch.no_grad()
def depth_summary(model: nn.Module, dataset: Dataset, layers: Sequence[str], top_fraction: float = 0.1) -> pd.DataFrame:
    """Sparsity and spatial concentration of each layer's output over the whole test set.

    Statistics are per image, so the test set runs in batches and only the per-image numbers are kept.
    """
    statistics: dict[str, depth_stats.LayerStatistics] = {}
    with eval_mode(model), capture(model, layers) as outputs:
        for images, _ in _test_batches(dataset):
            model(images)
            for name in layers:
                batch = depth_stats.measure(outputs[name], top_fraction=top_fraction, layer=name)
                statistics[name] = statistics[name] + batch if name in statistics else batch
    return depth_stats.summary_table(statistics).assign(images=len(dataset.test_labels))


@torch.no_grad()
def attention_weights(model: nn.Module, dataset: Dataset) -> dict:
    """The channel weights (sigmoid outputs) of every attention module for every test image."""
    gates = attention_gates(model)
    collected: dict[str, list[torch.Tensor]] = {name: [] for name in gates}
    with eval_mode(model), capture(model, list(gates.values())) as outputs:
        for images, _ in _test_batches(dataset):
            model(images)
            for name, path in gates.items():
                collected[name].append(outputs[path])
    return {
        "weights": {name: torch.cat(chunks) for name, chunks in collected.items()},
        "labels": dataset.test_labels,
        "classes": dataset.classes,
    }


def explain(model: nn.Module, dataset: Dataset, layers: Sequence[str], per_class: int, max_images: int | None,
            gradcam_layer: str, top_channels: int, top_images: int) -> dict:
    """Grad-CAM and deconvnet projections for the visualised test images, and ZFNet's top images per channel.

    - Grad-CAM of ``gradcam_layer`` for the predicted and for the true class of each visualised image.
    - Per layer, each visualised image's strongest activation projected back to pixels.
    - Per layer, for its first ``top_channels`` channels, the ``top_images`` test images that excite the
      channel most, each with the projection of that channel's strongest activation.
    """
    index = select_images(dataset.test_labels, per_class, max_images)
    images = normalize(dataset.test_images[index])
    with eval_mode(model), torch.no_grad():
        predictions = model(images).argmax(1)
    labels = dataset.test_labels[index]
    peaks = _channel_peaks(model, dataset, layers)
    projections, strongest, zfnet = {}, {}, {}
    for layer in layers:
        result = deconv_project(model, images, layer)
        projections[layer] = result.projection
        strongest[layer] = {"channel": result.channel, "position": result.position}
        zfnet[layer] = _top_images_per_channel(model, dataset, layer, peaks[layer], top_channels, top_images)
    return {
        "image_indices": index,
        "labels": labels,
        "predictions": predictions,
        "classes": dataset.classes,
        "gradcam_layer": gradcam_layer,
        "gradcam_predicted": grad_cam(model, images, gradcam_layer, predictions),
        "gradcam_true": grad_cam(model, images, gradcam_layer, labels),
        "deconv": projections,
        "deconv_strongest": strongest,
        "zfnet": zfnet,
    }


@torch.no_grad()
def _channel_peaks(model: nn.Module, dataset: Dataset, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Each test image's maximum activation per channel, ``(N, C)`` per layer, from one pass over the test set."""
    peaks: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    with eval_mode(model), capture(model, layers) as outputs:
        for images, _ in _test_batches(dataset):
            model(images)
            for layer in layers:
                peaks[layer].append(outputs[layer].amax((2, 3)))
    return {layer: torch.cat(chunks) for layer, chunks in peaks.items()}


def _top_images_per_channel(
    model: nn.Module, dataset: Dataset, layer: str, peaks: torch.Tensor, channels: int, count: int
) -> dict:
    """ZFNet's view of the first ``channels`` channels: the test images that excite each most, projected."""
    chosen = peaks[:, :channels].topk(min(count, len(peaks)), dim=0).indices.T  # (channels, count) image indices
    projections = torch.stack([
        deconv_project(model, normalize(dataset.test_images[top]), layer, channel).projection
        for channel, top in enumerate(chosen)
    ])
    return {"channels": list(range(chosen.shape[0])), "images": chosen, "test_images": dataset.test_images[chosen],
            "projections": projections}


