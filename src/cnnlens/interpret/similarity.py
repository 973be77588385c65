"""What one run gives the comparisons of representations and explanations across runs (architecture or seed?).

Each run measures the same fixed random sample of test images in the same minibatches, so that the report can
compare any two runs without their models: it keeps each layer's per-minibatch Gram matrices (linear CKA between
two runs needs only those, :func:`cnnlens.interpret.cka.cross_cka`) and each heatmap method's maps of those images
(agreement between runs). Its own layer × layer CKA table comes from the same pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cnnlens.data.dataset import Dataset, normalize
from cnnlens.interpret.cka import CkaAccumulator, gram
from cnnlens.interpret.heatmap_methods import MODEL_METHODS, available_methods, heatmaps
from cnnlens.interpret.hooks import capture
from cnnlens.interpret.scoring import device_of
from cnnlens.interpret.steps import scored_images
from cnnlens.models.cnn import attention_gates
from cnnlens.models.modes import eval_mode


def measured_layers(model: nn.Module, layers: Sequence[str]) -> list[str]:
    """``layers`` and every attention module's output (``ca1``), in the model's forward order."""
    wanted = set(layers) | set(attention_gates(model))
    return [name for name, _ in model.named_children() if name in wanted]


def minibatches(count: int, size: int) -> list[range]:
    """``count`` images cut into ``count // size`` minibatches as equal as can be (at least one): none smaller than
    ``size``, so that no minibatch is too small for the unbiased estimator."""
    parts = max(1, count // size)
    return [range(count * part // parts, count * (part + 1) // parts) for part in range(parts)]


@torch.no_grad()
def layer_grams(model: nn.Module, images: torch.Tensor, layers: Sequence[str], minibatch: int) -> dict:
    """Per layer, the Gram matrix of every minibatch (:func:`cnnlens.interpret.cka.gram`, float64), and the
    layer × layer CKA table."""
    grams: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    accumulator = CkaAccumulator(layers)
    with eval_mode(model), capture(model, list(layers)) as outputs:
        for part in minibatches(len(images), minibatch):
            model(images[part.start : part.stop])
            batch = [gram(outputs[layer]) for layer in layers]
            accumulator.add(torch.stack(batch))
            for layer, matrix in zip(layers, batch, strict=True):
                grams[layer].append(matrix.cpu())
    return {"grams": grams, "cka": torch.from_numpy(accumulator.matrix())}


def similarity(model: nn.Module, dataset: Dataset, *, images: int, layers: Sequence[str], minibatch: int) -> dict:
    """The Gram matrices and CKA table of ``layers`` (and the attention outputs) on a fixed random sample of
    ``images`` test images in minibatches of about ``minibatch`` (one of them all, with fewer images), and every
    model-based heatmap of those images, Grad-CAM's explaining their true class (so that two runs' maps answer the
    same question whatever each predicts)."""
    chosen = scored_images(len(dataset.test_labels), images)
    device = device_of(model)  # the Gram matrices come back to the CPU; the rest stays where the model is
    inputs, labels = normalize(dataset.test_images[chosen]).to(device), dataset.test_labels[chosen].to(device)
    measured = measured_layers(model, layers)
    methods = [method for method in available_methods(model) if method in MODEL_METHODS]
    maps = heatmaps(model, inputs, methods, targets=labels)
    return {
        "image_indices": chosen,
        "layers": measured,
        **layer_grams(model, inputs, measured, minibatch),
        "heatmaps": {method: values.half().cpu() for method, values in maps.items()},
    }
