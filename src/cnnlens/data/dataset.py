"""A data set as one cached file of uint8 tensors that every later step reads, and the recipe's normalisation.

Where the images come from is :mod:`cnnlens.data.sources`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from cnnlens.artifacts import Artifact
from cnnlens.data.channel_constants import channel_constant
from cnnlens.errors import CnnlensError

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
SPLITS = ("train", "test")


class DataError(CnnlensError):
    """A data source that is missing, corrupt or laid out wrongly."""


@dataclass
class Dataset(Artifact):
    """Images as uint8 ``(N, 3, H, W)`` tensors with int64 labels, and the class names (``dataset.pt``)."""

    RULE: ClassVar[str] = "prepare_data"

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]
    source: str


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (or [0, 1] float) images to the recipe's normalised float input."""
    if images.dtype == torch.uint8:
        images = images.float().div_(255)
    return (images - channel_constant(CIFAR10_MEAN, images.device)) / channel_constant(CIFAR10_STD, images.device)
