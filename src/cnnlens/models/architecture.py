"""What distinguishes one model variant from another (the config's ``variants:`` entries), without torch.

The workflow checks every variant while it plans (:mod:`cnnlens.config`), where importing torch would cost
seconds at every start; the network itself is built in :mod:`cnnlens.models.cnn`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cnnlens.errors import CnnlensError

CONV_CHANNELS = (32, 64, 128)  # the output channels of conv blocks 1, 2 and 3
ATTENTION_TYPES = ("none", "se", "cbam")


def bottleneck_problem(attention: str, blocks: Sequence[int], reduction: int) -> str:
    """Why a channel-attention ``reduction`` leaves some block a bottleneck narrower than one channel
    (``C // reduction`` is 0), naming the largest that fits every one of ``blocks``; empty when it fits."""
    if attention == "none":
        return ""  # no attention module: the reduction is not used
    narrowest = min(blocks, key=lambda block: CONV_CHANNELS[block - 1])
    channels = CONV_CHANNELS[narrowest - 1]
    if reduction <= channels:
        return ""
    return (
        f"{reduction} leaves block {narrowest} ({channels} channels) a bottleneck of {channels // reduction} channels: "
        f"set it to {channels} or less, the largest for blocks {list(blocks)}"
    )


@dataclass(frozen=True)
class Architecture:
    """A variant: the recipe's CNN with or without attention, in which blocks, with which bottleneck."""

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
        problem = bottleneck_problem(self.attention, self.blocks, self.reduction)
        if problem:
            raise CnnlensError(f"attention reduction {problem}")
