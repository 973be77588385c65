"""Data sets as one cached file of uint8 tensors that every later step reads.

Two sources: CIFAR-10 through torchvision's download (the default, for users with internet), and an
ImageFolder layout (``train/<class>/*``, ``test/<class>/*``) given as a directory or a ``.tar.gz``,
for local copies and users' own images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from cnnlens.data.channel_constants import channel_constant
from cnnlens.errors import CnnlensError
from cnnlens.atomic import atomic_torch_save

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
SPLITS = ("train", "test")


class DataError(CnnlensError):
    """A data source that is missing, corrupt or laid out wrongly."""


@dataclass
class Dataset:
    """Images as uint8 ``(N, 3, H, W)`` tensors with int64 labels, and the class names."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]
    source: str

    def to_dict(self) -> dict:
        return dict(vars(self))


def save_dataset(dataset: Dataset, path: str | Path) -> None:
    """Write the cache atomically, so that a failed run never leaves half a file."""
    atomic_torch_save(dataset.to_dict(), path)


def load_dataset(path: str | Path) -> Dataset:
    """Read a cache written by :func:`save_dataset`."""
    try:
        return Dataset(**torch.load(path, weights_only=True))
    except FileNotFoundError:
        raise DataError(f"data cache {path} does not exist: run the prepare_data rule first") from None


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (or [0, 1] float) images to the recipe's normalised float input."""
    if images.dtype == torch.uint8:
        images = images.float().div_(255)
    return (images - channel_constant(CIFAR10_MEAN, images.device)) / channel_constant(CIFAR10_STD, images.device)












