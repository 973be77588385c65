"""The CIFAR-10 CNNs of the recipe (docs/design.md), looked up by name.

Every variant is a flat ``nn.Sequential`` stack so that each layer has a short address a student
can type (``conv1``, ``bn2``, ``ca3.gate``, ``fc1``) and so that analyses can walk the stack in order.
A variant is an :class:`~cnnlens.models.architecture.Architecture` (attention type, blocks, reduction);
``plain`` and ``attention`` are the source's two models.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.models.architecture import CONV_CHANNELS, Architecture
from cnnlens.models.attention import CBAM, ChannelAttention

CIFAR10_CLASSES = 10  # the source's output size; a data set of other classes gives its own count


BUILTIN_VARIANTS = {"plain": Architecture(), "attention": Architecture(attention="se")}


class CifarCNN(nn.Sequential):
    """Three conv blocks (conv3x3 -> BN -> ReLU [-> attention] -> MaxPool), a two-layer head, one output per class."""

    def __init__(
        self,
        architecture: Architecture = BUILTIN_VARIANTS["plain"],
        image_size: int = 32,
        num_classes: int = CIFAR10_CLASSES,
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


def build_model(architecture: Architecture | str, image_size: int = 32, num_classes: int = CIFAR10_CLASSES) -> CifarCNN:
    """A model from its architecture, or from the name of a built-in variant (``plain``, ``attention``),
    with one output per class of the data set it is trained on."""
    if isinstance(architecture, str):
        if architecture not in BUILTIN_VARIANTS:
            known = ", ".join(sorted(BUILTIN_VARIANTS))
            raise CnnlensError(f"unknown model '{architecture}': choose one of {known} or give an Architecture")
        architecture = BUILTIN_VARIANTS[architecture]
    return CifarCNN(architecture, image_size, num_classes)


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
