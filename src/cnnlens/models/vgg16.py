"""A pretrained VGG16 for the shallow/middle/deep comparison (docs/design.md): its weights and layer names.

Weights come from torchvision's weights API (downloaded once into the torch hub cache), from a local
``state_dict`` file (for machines without internet, e.g. torchvision's own ``vgg16-397923af.pth``), or
are random (``none``), which the report flags (:attr:`WeightsInfo.degraded`).

Layers are addressed by their index in ``model.features``. The default indices are
``0`` = conv1_1 (Conv2d 3->64, pre-ReLU, 224x224), ``10`` = conv3_1 (Conv2d 128->256, pre-ReLU, 56x56)
and ``20`` = the in-place ReLU after conv4_2 (rectified, 512x28x28; conv4_3 is index 21). Outputs are
recorded through :func:`cnnlens.interpret.hooks.capture`, which clones, so the pre-ReLU values of 0 and 10
survive torchvision's in-place ReLUs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision.models import VGG16_Weights, vgg16

from cnnlens.errors import CnnlensError, one_line
from cnnlens.models.vgg16_shapes import ZIP, check_shapes, not_a_state_dict, saved_format, unreadable

IMAGENET_WEIGHTS = VGG16_Weights.IMAGENET1K_V1
DEFAULT_INDICES = (0, 10, 20)


@dataclass(frozen=True)
class WeightsInfo:
    """Which weights a VGG16 carries, for the report's header and captions."""

    kind: str  # imagenet, file or none
    source: str  # the download URL, the file path, or "random initialisation"
    degraded: bool = False  # True when the weights are random: the maps show no learned features


def load_vgg16(weights: str | Path) -> tuple[nn.Module, WeightsInfo]:
    """A VGG16 in eval mode with ``weights``: ``"imagenet"``, ``"none"`` (random) or a state_dict file path."""
    if str(weights) == "none":
        return vgg16(weights=None).eval(), WeightsInfo("none", "random initialisation", degraded=True)
    if str(weights) == "imagenet":
        return _with_weights(_download_imagenet()), WeightsInfo("imagenet", IMAGENET_WEIGHTS.url)
    return _with_weights(read_weights_file(weights)), WeightsInfo("file", str(weights))


def read_weights_file(path: str | Path, shapes_only: bool = False) -> Mapping[str, torch.Tensor]:
    """The state_dict of a VGG16 weights file, or a one-line error that says why the file is not one.

    The vgg job loads the tensors. The workflow checks the same file while it plans (:mod:`cnnlens.config`), before
    Snakemake removes the job's old outputs, without torch where it can (:mod:`cnnlens.models.vgg16_shapes`, whose
    messages these are); a file in the format of torch before 1.6 it checks here, with ``shapes_only`` (a file of
    ``torch.save``'s zip format would then be memory-mapped, so that only its keys and shapes are read, not its
    528 MB; one of the format before cannot be mapped and is read whole).
    """
    path = Path(path)
    state = _read_state_dict(path, mmap=shapes_only)
    check_shapes(
        path, {key: tuple(value.shape) if isinstance(value, torch.Tensor) else None for key, value in state.items()}
    )
    return state


def _skeleton() -> nn.Module:
    """A VGG16 on the meta device: shapes without the seconds and the 528 MB that random init costs."""
    with torch.device("meta"):
        return vgg16(weights=None)


def _with_weights(state: Mapping[str, torch.Tensor]) -> nn.Module:
    """A float32 VGG16 in eval mode that takes over the tensors of ``state`` instead of copying them."""
    model = _skeleton()
    model.load_state_dict(state, assign=True)
    return model.float().eval()  # assign keeps the file's dtype; a half-precision file must still take float input


def _download_imagenet() -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights, from the hub cache or the internet, with its hash check."""
    try:
        return IMAGENET_WEIGHTS.get_state_dict(progress=False, check_hash=True)
    except Exception as error:  # URLError, HTTPError, hash RuntimeError, a corrupt cached file...
        raise CnnlensError(
            f"VGG16 ImageNet weights could not be fetched from {IMAGENET_WEIGHTS.url} ({one_line(error)}): "
            "set the VGG16 weights to a local copy of that file, or to none for random weights"
        ) from None


def _read_state_dict(path: Path, mmap: bool) -> Mapping[str, torch.Tensor]:
    """Load a state_dict file safely (``weights_only``), memory-mapped with ``mmap`` where its format allows,
    turning every failure into a one-line error."""
    mappable = saved_format(path) == ZIP  # a folder, a missing file, one that torch.save did not write: one line
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap and mappable)
    except Exception as error:  # truncated zip, garbage bytes, a pickled full model...
        raise unreadable(path, error) from None
    if not isinstance(state, Mapping):
        raise not_a_state_dict(path, type(state).__name__)
    return state


def features(model: nn.Module) -> nn.Sequential:
    """VGG16's convolutional trunk ``model.features``, a flat Sequential that layer indices address."""
    trunk = model.features
    if not isinstance(trunk, nn.Sequential):
        raise TypeError(f"model.features is a {type(trunk).__name__}, not the nn.Sequential of a VGG16")
    return trunk


def conv_layer_indices(model: nn.Module) -> list[int]:
    """Indices of every Conv2d in ``model.features``, for the whole-conv-stack strip."""
    return [index for index, module in enumerate(features(model)) if isinstance(module, nn.Conv2d)]


def feature_layer_names(model: nn.Module) -> list[str]:
    """A readable name for each ``model.features`` index (conv1_1, relu1_1, pool1, ...), for figure titles."""
    names, block, conv = [], 1, 0
    for module in features(model):
        if isinstance(module, nn.Conv2d):
            conv += 1
            names.append(f"conv{block}_{conv}")
        elif isinstance(module, nn.ReLU):
            names.append(f"relu{block}_{conv}")
        else:
            names.append(f"pool{block}")
            block, conv = block + 1, 0
    return names
