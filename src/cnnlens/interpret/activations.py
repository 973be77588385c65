"""Run a fixed set of test images through a trained model and keep what its layers produced."""

from __future__ import annotations

import torch
from torch import nn

from cnnlens.data.dataset import Dataset, normalize
from cnnlens.interpret.hooks import capture
from cnnlens.interpret.spatial_attention import spatial_gates
from cnnlens.models.cnn import attention_gates
from cnnlens.models.modes import eval_mode

SPATIAL_SUFFIX = ".spatial"  # a CBAM block's spatial attention map is stored as <block>.spatial (ca1.spatial)


def select_images(labels: torch.Tensor, per_class: int, max_images: int | None = None) -> torch.Tensor:
    """Indices of the first ``per_class`` images of every class, in class order: the same every run.

    With ``max_images``, classes are taken in order while their images fit (at least the first class's
    first ``max_images``): a data set of many classes shows its first classes rather than figures too
    large to read.
    """
    chosen = [torch.nonzero(labels == label).flatten()[:per_class] for label in torch.unique(labels)]
    if max_images is not None:
        fitting = int((torch.tensor([len(indices) for indices in chosen]).cumsum(0) <= max_images).sum())
        chosen = chosen[:fitting] or [chosen[0][:max_images]]
    return torch.cat(chosen)


@torch.no_grad()
def extract(
    model: nn.Module, dataset: Dataset, layers: list[str], per_class: int, max_images: int | None = None
) -> dict:
    """Layer outputs, attention weights, logits and predictions for the selected test images.

    The attention modules' channel weights are stored under the module's name (``ca1``) as ``(N, C)``, and a
    CBAM block's spatial attention map as ``ca1.spatial``, ``(N, h, w)``.
    """
    index = select_images(dataset.test_labels, per_class, max_images)
    images = dataset.test_images[index]
    gates = {path: name for name, path in attention_gates(model).items()}
    gates |= {path: f"{block}{SPATIAL_SUFFIX}" for block, path in spatial_gates(model).items()}
    device = next(model.parameters()).device
    with eval_mode(model), capture(model, [*layers, *gates]) as outputs:
        logits = model(normalize(images.to(device)))
    stored = {gates.get(name, name): _squeezed(outputs[name]).float().cpu() for name in [*layers, *gates]}
    return {
        "image_indices": index,
        "images": images,
        "labels": dataset.test_labels[index],
        "classes": dataset.classes,
        "logits": logits.float().cpu(),
        "predictions": logits.argmax(1).cpu(),
        "layers": stored,
    }


def _squeezed(output: torch.Tensor) -> torch.Tensor:
    """A spatial gate's ``(N, 1, h, w)`` as ``(N, h, w)``; other outputs as they are."""
    return output[:, 0] if output.dim() == 4 and output.shape[1] == 1 else output
