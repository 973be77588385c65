"""Scoring many perturbed images fast: a private copy of the model, batches sized for the device, and the softmax
probability of one class per image.

Deletion and insertion, Average Drop and channel removal all push thousands of modified images through the same
trained model. They share this: a copy in eval mode with each BatchNorm folded into the conv before it and
channels_last on the CPU (same outputs up to rounding, fewer passes over memory), and batch sizes that keep a
batch's activations in the CPU's caches.
"""

from __future__ import annotations

import copy
import itertools
from typing import TypeVar

import torch
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret.deconvnet import fold_batchnorm
from cnnlens.training.batches import preferred_memory_format

ModelType = TypeVar("ModelType", bound=nn.Module)


def default_batch_size(device: torch.device) -> int:
    """Images per forward pass: 64 on the CPU, whose per-core caches then hold a batch's activations (larger
    batches run slower there, benchmarks/faithfulness.py), 1024 on an accelerator."""
    return 64 if device.type == "cpu" else 1024


def checked_batch_size(batch_size: int | None, device: torch.device) -> int:
    """``batch_size``, or the device's default for ``None``; below 1 is refused."""
    if batch_size is None:
        return default_batch_size(device)
    if batch_size < 1:
        raise CnnlensError(f"batch size must be at least 1, got {batch_size}")
    return batch_size


def scoring_copy(model: ModelType) -> ModelType:
    """A copy of ``model`` for scoring many images: eval mode, BatchNorm folded into the conv before it, and
    channels_last on the CPU. Same outputs up to rounding; the caller's model is not touched."""
    scorer = copy.deepcopy(model).eval().requires_grad_(False)
    if isinstance(scorer, nn.Sequential):
        children = list(scorer.named_children())
        for (name, module), (next_name, following) in itertools.pairwise(children):
            if isinstance(module, nn.Conv2d) and isinstance(following, nn.BatchNorm2d) and _foldable(following):
                setattr(scorer, name, fold_batchnorm(module, following).requires_grad_(False))
                setattr(scorer, next_name, nn.Identity())
    return scorer.to(memory_format=preferred_memory_format(device_of(scorer)))


def class_probabilities(model: nn.Module, images: torch.Tensor, classes: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Softmax probability of ``classes[i]`` for ``images[i]``, ``batch_size`` images per forward pass."""
    with torch.inference_mode():
        scores = [
            model(chunk).softmax(1).gather(1, wanted[:, None])[:, 0]
            for chunk, wanted in zip(batches(images, batch_size), classes.split(batch_size), strict=True)
        ]
    return torch.cat(scores) if scores else images.new_empty(0)


def batches(images: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Chunks of ``images`` in the device's preferred memory format."""
    memory_format = preferred_memory_format(images.device)
    return [chunk.contiguous(memory_format=memory_format) for chunk in images.split(batch_size)]


def device_of(model: nn.Module) -> torch.device:
    """Where the model's parameters live (the CPU for a model without any)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _foldable(bn: nn.BatchNorm2d) -> bool:
    return bn.track_running_stats and bn.running_mean is not None and bn.affine
