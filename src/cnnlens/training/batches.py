"""Mini-batches from a uint8 image tensor held on the training device.

The train augmentations run on chunks of many images rather than per batch: the same per-image
draws, but the training step then only slices ready tensors. On a GPU a chunk is a few thousand
images, so there are no augmentation kernels and no host syncs between steps (the colour jitter's
per-image choice of order syncs a few times per chunk, not per step), which is what lets a GPU replay
each step as one CUDA graph. On a CPU the augmentations are memory-bound, so a chunk is small enough
to stay in cache. (Augmenting the next chunk in a background thread while this one trains did not
pay on 2 cores: the two thread teams fight over the cores.)
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from cnnlens.data.augment import augment_batch
from cnnlens.data.dataset import normalize

# Augmented float images held at once, for 32x32 images (larger ones come in proportionally fewer).
# GPU: 100 MB. CPU: 6 MB, which fits the cache and takes two thirds of the time per image of chunks
# of 8192 (benchmarks/engine_choices.py).
CHUNK_IMAGES = {"cpu": 512, "gpu": 8192}


class TensorBatches:
    """Shuffled, optionally augmented, normalised batches; a new order and new draws every epoch.

    Batches follow a DataLoader without ``drop_last``: the last one may be smaller. The random
    stream is the ``generator``'s alone, so saving its state resumes the epoch sequence exactly.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        device: torch.device,
        shuffle: bool = False,
        augment: bool = False,
        seed: int = 0,
    ) -> None:
        self.images = images.to(device)
        self.labels = labels.to(device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.memory_format = preferred_memory_format(device)
        pixels = images.shape[-2] * images.shape[-1]
        chunk_images = CHUNK_IMAGES["cpu" if device.type == "cpu" else "gpu"] * 32 * 32 // pixels
        self.chunk = batch_size * max(1, chunk_images // batch_size)

    def __len__(self) -> int:
        return (len(self.labels) + self.batch_size - 1) // self.batch_size  # the last batch may be smaller

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        count = len(self.labels)
        device = self.labels.device
        order = (
            torch.randperm(count, generator=self.generator, device=device)
            if self.shuffle
            else torch.arange(count, device=device)
        )
        for index in order.split(self.chunk):
            images, labels = self._prepare(self.images[index]), self.labels[index]
            for start in range(0, len(index), self.batch_size):
                yield images[start : start + self.batch_size], labels[start : start + self.batch_size]

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        images = augment_batch(images, self.generator) if self.augment else images
        return normalize(images).contiguous(memory_format=self.memory_format)


def preferred_memory_format(device: torch.device) -> torch.memory_format:
    """channels_last pays on the CPU (benchmarks/engine_choices.py); CUDA keeps the default."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format
