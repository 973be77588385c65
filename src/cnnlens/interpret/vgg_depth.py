"""VGG16 on photos, shallow to deep: the photos, ImageNet preprocessing, top-5 classes, and the outputs of
chosen ``features`` layers (recorded through :func:`cnnlens.interpret.hooks.capture`, which clones, so the
pre-ReLU values survive torchvision's in-place ReLUs)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import nn

from cnnlens.artifacts import VggDepth
from cnnlens.errors import CnnlensError
from cnnlens.interpret.deconvnet import deconv_project
from cnnlens.interpret.hooks import capture
from cnnlens.models import vgg16
from cnnlens.models.modes import eval_mode
from cnnlens.models.vgg16 import IMAGENET_WEIGHTS, one_line

SAMPLE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def imagenet_preprocess(image: np.ndarray) -> torch.Tensor:
    """An ``(H, W, 3)`` uint8 photo to the weights' own input: resize 256, centre crop 224, ImageNet normalisation.

    Returns a ``(1, 3, 224, 224)`` float tensor; ``torch.cat`` several for a batch.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    chw = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    return IMAGENET_WEIGHTS.transforms()(chw).unsqueeze(0)


def imagenet_denormalize(batch: torch.Tensor) -> np.ndarray:
    """Undo the ImageNet normalisation for display: ``(N, 3, H, W)`` float to ``(N, H, W, 3)`` uint8."""
    transform = IMAGENET_WEIGHTS.transforms()
    mean = torch.tensor(transform.mean).view(1, 3, 1, 1)
    std = torch.tensor(transform.std).view(1, 3, 1, 1)
    pixels = (batch.detach().cpu() * std + mean).clamp(0, 1).mul(255).round().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).numpy()


def sample_photos(names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Photos bundled with scikit-image (no download), as ``(H, W, 3)`` uint8 arrays by name."""
    import skimage.data

    names = SAMPLE_PHOTOS if names is None else names
    unknown = [name for name in names if name not in SAMPLE_PHOTOS]
    if unknown:
        raise CnnlensError(f"unknown sample photos {unknown}: choose from {', '.join(SAMPLE_PHOTOS)}")
    return {name: getattr(skimage.data, name)() for name in names}


def load_photos(paths: Iterable[str | Path]) -> dict[str, np.ndarray]:
    """Users' own photos as ``(H, W, 3)`` uint8 RGB arrays keyed by the path as given, upright per EXIF."""
    return {str(path): _load_photo(path) for path in paths}


def _load_photo(path: str | Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"), dtype=np.uint8)
    except (FileNotFoundError, IsADirectoryError):
        raise CnnlensError(f"photo {path} does not exist: check the VGG16 photo paths") from None
    except (UnidentifiedImageError, OSError) as error:
        raise CnnlensError(f"cannot read photo {path} ({one_line(error)}): replace it or remove it") from None


def top5(model: nn.Module, batch: torch.Tensor) -> list[list[tuple[str, float]]]:
    """The five most probable ImageNet categories with their softmax probabilities, per image, best first."""
    categories = IMAGENET_WEIGHTS.meta["categories"]
    with eval_mode(model), torch.no_grad():
        probabilities, indices = model(batch).softmax(dim=1).topk(5, dim=1)
    return [
        [(categories[i], p) for i, p in zip(row_i.tolist(), row_p.tolist(), strict=False)]
        for row_i, row_p in zip(indices, probabilities, strict=False)
    ]


def feature_outputs(
    model: nn.Module, batch: torch.Tensor, indices: Sequence[int] = vgg16.DEFAULT_INDICES
) -> dict[int, torch.Tensor]:
    """Outputs ``(N, C, H, W)`` of ``model.features[i]`` for each index, running the stack only as far as needed."""
    indices = list(indices)
    stop = max(indices, default=-1) + 1
    with capture(model, [f"features.{index}" for index in indices]) as outputs, eval_mode(model), torch.no_grad():
        vgg16.features(model)[:stop](batch)
    return {index: outputs[f"features.{index}"] for index in indices}


def vgg_depth(weights: str, photo_paths: Sequence[str], indices: Sequence[int]) -> VggDepth:
    """VGG16 on a few photos: top-5 classes, channel-mean maps at the chosen depths and over every conv layer,
    and the deconvnet projection of the strongest activation at each chosen depth."""
    model, info = vgg16.load_vgg16(weights)
    photos = load_photos(photo_paths) if photo_paths else sample_photos()
    batch = torch.cat([imagenet_preprocess(photo) for photo in photos.values()])
    conv_indices = vgg16.conv_layer_indices(model)
    outputs = feature_outputs(model, batch, sorted({*indices, *conv_indices}))
    names = vgg16.feature_layer_names(model)
    return VggDepth(
        weights={"kind": info.kind, "source": info.source, "degraded": info.degraded},
        photos=list(photos),
        images=torch.from_numpy(imagenet_denormalize(batch)),
        top5=top5(model, batch),
        indices=list(indices),
        conv_indices=conv_indices,
        layer_names={index: names[index] for index in {*indices, *conv_indices}},
        channel_means={index: outputs[index].mean(1) for index in outputs},
        deconv={index: deconv_project(vgg16.features(model), batch, str(index)).projection for index in indices},
    )
