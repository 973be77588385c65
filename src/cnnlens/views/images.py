"""The test images of an artifact as figures show them: arrays for matplotlib, the class name of each label, and
the check that two artifacts a figure pairs hold the same images."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

from cnnlens.errors import CnnlensError


def image_array(images: torch.Tensor) -> np.ndarray:
    """``(N, 3, H, W)`` images as the ``(N, H, W, 3)`` array that matplotlib shows."""
    return images.permute(0, 2, 3, 1).numpy()


def label_names(labels: Iterable[int], classes: Sequence[str]) -> list[str]:
    """The class name of every label."""
    return [classes[int(label)] for label in labels]


def check_same_images(first: torch.Tensor, second: torch.Tensor, first_path: str, second_path: str) -> None:
    """Stop when two artifacts that a figure pairs image by image hold different test images."""
    if not torch.equal(first, second):
        raise CnnlensError(f"{first_path} and {second_path} hold different test images: make both with the same config")
