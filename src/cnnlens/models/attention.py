"""Channel-attention modules: squeeze-and-excitation and CBAM (channel, then spatial attention).

Each ends in a sigmoid that is its own submodule (``gate``), so that the weights the report plots can
be captured like any other layer output. On the CPU both kinds train faster than through their plain
expressions: squeeze-and-excitation through an autograd Function with fewer passes over the big tensors
(:mod:`cnnlens.models.squeeze_excite`), a CBAM block through compiled loops (:mod:`cnnlens.models.cbam_fused`).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from cnnlens.models import cbam_fused
from cnnlens.models.squeeze_excite import squeeze_excite


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
        hidden = channels // reduction
        if hidden < 1:  # a zero-width bottleneck would gate every channel by 0.5, whatever the image
            raise ValueError(f"reduction {reduction} leaves no bottleneck channel of {channels}")
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
    """Convolutional block attention module (Woo et al. 2018): channel attention, then spatial.

    On the CPU the whole block runs through :func:`cnnlens.models.cbam_fused.fused_cbam` where that applies
    (:func:`cnnlens.models.cbam_fused.applies`), unless ``fused`` is False (:func:`use_fused_cbam`): the same
    values to rounding; otherwise its parts run one after the other, their plain expressions.
    """

    fused = True

    def __init__(self, channels: int, reduction: int = 16) -> None:
        channel = ChannelAttention(channels, reduction, use_max=True)
        super().__init__(OrderedDict(channel=channel, spatial=SpatialAttention()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the device first: torch.compile on a GPU then traces the parts without stopping at the CPU's loops
        if self.fused and x.device.type == "cpu" and cbam_fused.applies(self, x):
            return cbam_fused.fused_cbam(x, self)
        return super().forward(x)


def use_fused_cbam(module: nn.Module, enabled: bool) -> nn.Module:
    """Switch the compiled CPU path of every CBAM block of ``module`` on or off (tests and benchmarks compare
    it with the plain expressions through autograd)."""
    for child in module.modules():
        if isinstance(child, CBAM):
            child.fused = enabled
    return module
