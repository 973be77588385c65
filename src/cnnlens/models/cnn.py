"""The CIFAR-10 CNNs of the recipe (DESIGN.md §2), looked up by name.

Every variant is a flat ``nn.Sequential`` stack so that each layer has a short address a student
can type (``conv1``, ``bn2``, ``ca3.gate``, ``fc1``) and so that analyses can walk the stack in order.
A variant is an :class:`Architecture` (attention type, blocks, reduction); ``plain`` and ``attention``
are the source's two models.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.models.squeeze_excite import squeeze_excite

CONV_CHANNELS = (32, 64, 128)
CIFAR10_CLASSES = 10  # the source's output size; a data set of other classes gives its own count


ATTENTION_TYPES = ("none", "se", "cbam")


@dataclass(frozen=True)
class Architecture:
    """What distinguishes one model variant from another (the config's ``variants:`` entries)."""

    attention: str = "none"  # none, se (squeeze-and-excitation) or cbam (channel then spatial)
    blocks: tuple[int, ...] = (1, 2, 3)  # which conv blocks get attention
    reduction: int = 16  # channel-attention bottleneck: C -> C // reduction -> C

    def __post_init__(self) -> None:
        if self.attention not in ATTENTION_TYPES:
            raise CnnlensError(f"unknown attention type '{self.attention}': choose one of {', '.join(ATTENTION_TYPES)}")
        blocks = range(1, len(CONV_CHANNELS) + 1)
        if not set(self.blocks) <= set(blocks):
            raise CnnlensError(f"attention blocks {list(self.blocks)} must be among {list(blocks)}")
        object.__setattr__(self, "blocks", tuple(self.blocks))


BUILTIN_VARIANTS = {"plain": Architecture(), "attention": Architecture(attention="se")}


class ChannelAttention(nn.Module):
    """Rescale each channel by a weight learned from its global statistics.

    With ``use_max=False`` this is squeeze-and-excitation (global average only); with ``use_max=True``
    it is CBAM's channel attention (average and max descriptors through one shared MLP, summed).
    The sigmoid is its own submodule (``gate``) so that the channel weights the report plots can be
    captured like any other layer output. Squeeze-and-excitation trains on the CPU through
    :func:`cnnlens.models.squeeze_excite.squeeze_excite`, the same values with a backward of fewer passes,
    unless ``fused_backward`` is False (:func:`use_fused_backward`).
    """

    fused_backward = True

    def __init__(self, channels: int, reduction: int = 16, use_max: bool = False) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.use_max = use_max
        self.excite = nn.Sequential(
            nn.Linear(channels, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=False),
        )
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fused = self.fused_backward and not self.use_max and x.device.type == "cpu"
        if fused and self.training and torch.is_grad_enabled():
            return squeeze_excite(x, self)
        scores = self.excite(x.mean((2, 3)))
        if self.use_max:
            scores = scores + self.excite(x.amax((2, 3)))
        return x * self.gate(scores)[:, :, None, None]


class SpatialAttention(nn.Module):
    """CBAM's spatial attention: a 7x7 conv over the channel-wise mean and max, then a sigmoid map."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat((x.mean(1, keepdim=True), x.amax(1, keepdim=True)), 1)
        return x * self.gate(self.conv(pooled))


class CBAM(nn.Sequential):
    """Convolutional block attention module (Woo et al. 2018): channel attention, then spatial."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__(
            OrderedDict(channel=ChannelAttention(channels, reduction, use_max=True), spatial=SpatialAttention())
        )


class CifarCNN(nn.Sequential):
    """Three conv blocks (conv3x3 -> BN -> ReLU [-> attention] -> MaxPool) and a two-layer head, one output per class."""

    def __init__(
        self, architecture: Architecture = Architecture(), image_size: int = 32, num_classes: int = CIFAR10_CLASSES
    ) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_channels = 3
        for block, out_channels in enumerate(CONV_CHANNELS, start=1):
            layers[f"conv{block}"] = nn.Conv2d(in_channels, out_channels, 3, padding=1)
            layers[f"bn{block}"] = nn.BatchNorm2d(out_channels)
            layers[f"relu{block}"] = nn.ReLU(inplace=True)
            if block in architecture.blocks and architecture.attention == "se":
                layers[f"ca{block}"] = ChannelAttention(out_channels, architecture.reduction)
            elif block in architecture.blocks and architecture.attention == "cbam":
                layers[f"ca{block}"] = CBAM(out_channels, architecture.reduction)
            layers[f"pool{block}"] = nn.MaxPool2d(2)
            in_channels = out_channels
        side = image_size // 2 ** len(CONV_CHANNELS)
        layers["flatten"] = nn.Flatten()
        layers["fc1"] = nn.Linear(in_channels * side * side, 512)
        layers["relu4"] = nn.ReLU(inplace=True)
        layers["dropout"] = nn.Dropout(0.5)
        layers["fc2"] = nn.Linear(512, num_classes)
        super().__init__(layers)


class PlainCNN(CifarCNN):
    """The source's plain CNN."""

    def __init__(self, image_size: int = 32) -> None:
        super().__init__(BUILTIN_VARIANTS["plain"], image_size)


class AttentionCNN(CifarCNN):
    """The source's CNN with squeeze-and-excitation after each block's ReLU."""

    def __init__(self, image_size: int = 32) -> None:
        super().__init__(BUILTIN_VARIANTS["attention"], image_size)


def build_model(
    architecture: Architecture | str, image_size: int = 32, num_classes: int = CIFAR10_CLASSES
) -> CifarCNN:
    """A model from its architecture, or from the name of a built-in variant (``plain``, ``attention``),
    with one output per class of the data set it is trained on."""
    if isinstance(architecture, str):
        if architecture not in BUILTIN_VARIANTS:
            known = ", ".join(sorted(BUILTIN_VARIANTS))
            raise CnnlensError(f"unknown model '{architecture}': choose one of {known} or give an Architecture")
        architecture = BUILTIN_VARIANTS[architecture]
    return CifarCNN(architecture, image_size, num_classes)


LAYER_KINDS = {"conv": "conv output, before BatchNorm and ReLU", "bn": "BatchNorm output, before ReLU",
               "relu": "ReLU output", "pool": "max-pool output", "ca": "output after channel attention"}


def describe_layer(name: str) -> str:
    """What a layer's output is, in words for captions: ``conv2`` -> "conv output, before BatchNorm and ReLU"."""
    return LAYER_KINDS.get(name.rstrip("0123456789"), f"{name} output")


def attention_gates(model: nn.Module) -> dict[str, str]:
    """Map each block's attention (``ca1``) to the path of the sigmoid that outputs its channel weights.

    For SE that is ``ca1.gate``, for CBAM ``ca1.channel.gate``.
    """
    return {
        name.split(".")[0]: f"{name}.gate"
        for name, module in model.named_modules()
        if isinstance(module, ChannelAttention)
    }


def use_fused_backward(model: nn.Module, enabled: bool) -> nn.Module:
    """Switch the CPU training path of every squeeze-and-excitation module (tests and benchmarks compare)."""
    for module in model.modules():
        if isinstance(module, ChannelAttention):
            module.fused_backward = enabled
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
