"""The CIFAR-10 CNNs of the recipe (DESIGN.md §2), looked up by name.

Both models are flat ``nn.Sequential`` stacks so that every layer has a short address a student
can type (``conv1``, ``bn2``, ``ca3.gate``, ``fc1``) and so that later analyses can walk the stack
in order.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from cnnlens.errors import CnnlensError

CONV_CHANNELS = (32, 64, 128)
NUM_CLASSES = 10


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: rescale each channel by a weight learned from its global mean.

    The sigmoid is its own submodule (``gate``) so that the channel weights the report plots can be
    captured like any other layer output.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.excite = nn.Sequential(
            nn.Linear(channels, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=False),
        )
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.gate(self.excite(self.squeeze(x).flatten(1)))
        return x * weights[:, :, None, None]


class CifarCNN(nn.Sequential):
    """Three conv blocks (conv3x3 -> BN -> ReLU [-> attention] -> MaxPool) and a two-layer head."""

    def __init__(self, attention: bool = False, reduction: int = 16, image_size: int = 32) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_channels = 3
        for block, out_channels in enumerate(CONV_CHANNELS, start=1):
            layers[f"conv{block}"] = nn.Conv2d(in_channels, out_channels, 3, padding=1)
            layers[f"bn{block}"] = nn.BatchNorm2d(out_channels)
            layers[f"relu{block}"] = nn.ReLU(inplace=True)
            if attention:
                layers[f"ca{block}"] = ChannelAttention(out_channels, reduction)
            layers[f"pool{block}"] = nn.MaxPool2d(2)
            in_channels = out_channels
        side = image_size // 2 ** len(CONV_CHANNELS)
        layers["flatten"] = nn.Flatten()
        layers["fc1"] = nn.Linear(in_channels * side * side, 512)
        layers["relu4"] = nn.ReLU(inplace=True)
        layers["dropout"] = nn.Dropout(0.5)
        layers["fc2"] = nn.Linear(512, NUM_CLASSES)
        super().__init__(layers)


class PlainCNN(CifarCNN):
    """The source's plain CNN."""

    def __init__(self, image_size: int = 32) -> None:
        super().__init__(attention=False, image_size=image_size)


class AttentionCNN(CifarCNN):
    """The source's CNN with squeeze-and-excitation after each block's ReLU."""

    def __init__(self, image_size: int = 32) -> None:
        super().__init__(attention=True, image_size=image_size)


MODELS: dict[str, type[CifarCNN]] = {"plain": PlainCNN, "attention": AttentionCNN}


def build_model(name: str, image_size: int = 32) -> CifarCNN:
    """Instantiate a registered model by its config name."""
    try:
        return MODELS[name](image_size=image_size)
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise CnnlensError(f"unknown model '{name}': choose one of {known}") from None


def attention_gates(model: nn.Module) -> dict[str, nn.Module]:
    """Map each attention module's name (``ca1``) to its sigmoid, whose output is the channel weights."""
    return {
        name: module.gate for name, module in model.named_modules() if isinstance(module, ChannelAttention)
    }


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
