"""Channel-attention modules: squeeze-and-excitation and CBAM (channel, then spatial attention).

Each ends in a sigmoid that is its own submodule (``gate``), so that the weights the report plots can
be captured like any other layer output. On the CPU both kinds train through autograd Functions with
fewer passes over the big tensors (:mod:`cnnlens.models.squeeze_excite`, :mod:`cnnlens.models.cbam_fused`).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from cnnlens.models.cbam_fused import (
    cbam_channel,
    cbam_spatial,
    channel_descriptors,
    channel_gates,
    spatial_descriptors,
    spatial_map,
)
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


class CbamChannelAttention(ChannelAttention):
    """CBAM's channel attention (:class:`ChannelAttention` with ``use_max=True``), faster on the CPU.

    The same parameters and submodules; on the CPU it trains through :func:`cnnlens.models.cbam_fused.cbam_channel`
    and evaluates with both descriptors through the MLP in one pass, unless ``fused_backward`` is False, which
    leaves :class:`ChannelAttention`'s plain expression (the reference the tests compare with).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__(channels, reduction, use_max=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.fused_backward and x.device.type == "cpu"):
            return super().forward(x)
        if self.training and torch.is_grad_enabled():
            return cbam_channel(x, self)
        return x * channel_gates(self, channel_descriptors(x))[:, :, None, None]


class SpatialAttention(nn.Module):
    """CBAM's spatial attention: a 7x7 conv over the channel-wise mean and max, then a sigmoid map.

    On the CPU it trains through :func:`cnnlens.models.cbam_fused.cbam_spatial` and evaluates with the pooled
    maps channels_last, unless ``fused_backward`` is False (the plain expression, which concatenates them).
    """

    fused_backward = True

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused_backward and x.device.type == "cpu":
            if self.training and torch.is_grad_enabled():
                return cbam_spatial(x, self)
            return x * spatial_map(self, spatial_descriptors(x))
        pooled = torch.cat((x.mean(1, keepdim=True), x.amax(1, keepdim=True)), 1)
        return x * self.gate(self.conv(pooled))


class CBAM(nn.Sequential):
    """Convolutional block attention module (Woo et al. 2018): channel attention, then spatial."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__(OrderedDict(channel=CbamChannelAttention(channels, reduction), spatial=SpatialAttention()))


def use_fused_cbam(module: nn.Module, enabled: bool) -> nn.Module:
    """Switch CBAM's CPU paths (:mod:`cnnlens.models.cbam_fused`) in every CBAM block of ``module`` on or off
    (tests and benchmarks compare them with the plain expressions through autograd)."""
    for child in module.modules():
        if isinstance(child, (CbamChannelAttention, SpatialAttention)):
            child.fused_backward = enabled
    return module
