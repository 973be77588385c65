"""A CBAM block on the CPU through the compiled loops of :mod:`cnnlens.models.cbam_kernels`.

They make CBAM's training step and its inference on a CPU much faster than its plain expressions
(benchmarks/README.md, "CBAM's training step"). They apply to float32 channels_last CPU tensors outside
autocast (the engine's CPU batches), float32 CPU weights and the recipe's 7x7 spatial convolution, while no
hook listens to a part of the block: the loops never call the block's submodules, so a hook on
``ca1.channel.gate`` would miss its outputs. Everywhere else the block runs its plain expressions. numba is
a dependency, imported on first use; an environment set up without it (torch and the project alone, as on a
GPU machine, which never runs the loops) runs the plain expressions after one warning.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple, cast

import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn.modules import module as torch_module

if TYPE_CHECKING:  # attention.py imports this module
    from cnnlens.models.attention import CBAM, ChannelAttention, SpatialAttention


class Saved(NamedTuple):
    """What the forward loop fills for the backward, per image (:func:`cnnlens.models.cbam_kernels.forward`)."""

    descriptors: torch.Tensor  # (N, 2, C): each channel's mean and maximum over the positions
    hidden: torch.Tensor  # (N, 2, C // r): the MLP's hidden activations of both descriptors
    gates: torch.Tensor  # (N, C): the channel gate
    padded: torch.Tensor  # (N, 2, H + k - 1, W + k - 1): the spatial descriptors, zero-padded for the convolution
    spatial: torch.Tensor  # (N, P): the spatial map
    maxima: torch.Tensor  # (N, P): each position's maximum over the channels

    @classmethod
    def empty(cls, x: torch.Tensor, hidden: int, kernel_size: int) -> Saved:
        images, channels, height, width = x.shape
        positions, border = height * width, kernel_size - 1
        return cls(
            x.new_empty(images, 2, channels),
            x.new_empty(images, 2, hidden),
            x.new_empty(images, channels),
            x.new_empty(images, 2, height + border, width + border),
            x.new_empty(images, positions),
            x.new_empty(images, positions),
        )

    def arrays(self) -> list[np.ndarray]:
        return [tensor.numpy() for tensor in self]


@functools.cache
def _compiled() -> ModuleType | None:
    """The compiled loops, or None (with a warning) where numba is not installed."""
    try:
        return importlib.import_module("cnnlens.models.cbam_kernels")
    except ImportError as error:
        warnings.warn(
            f"CBAM runs its plain expressions on the CPU, which is slower: {error}; pip install numba",
            stacklevel=4,
        )
        return None


def _kernels() -> ModuleType:
    """The compiled loops, running on as many threads as torch does."""
    kernels = _compiled()
    assert kernels is not None  # applies() checked it
    kernels.numba.set_num_threads(min(torch.get_num_threads(), kernels.numba.config.NUMBA_NUM_THREADS))
    return kernels


def _listened(block: CBAM) -> bool:
    """Whether a hook would see one of the block's submodules run: on the module, or on every module."""
    every = (
        torch_module._global_forward_hooks,
        torch_module._global_forward_pre_hooks,
        torch_module._global_backward_hooks,
        torch_module._global_backward_pre_hooks,
    )
    parts = list(block.modules())[1:]
    own = [
        hooks
        for part in parts
        for hooks in (part._forward_hooks, part._forward_pre_hooks, part._backward_hooks, part._backward_pre_hooks)
    ]
    return any(every) or any(own)


@torch.compiler.disable  # torch.compile (on the CPU only: see CBAM.forward) runs the loops as they are
def applies(block: CBAM, x: torch.Tensor) -> bool:
    """Whether the compiled loops compute ``block(x)`` (the module docstring says when)."""
    return (
        all(tensor.device.type == "cpu" and tensor.dtype == torch.float32 for tensor in (x, *_weights(block)))
        and x.dim() == 4
        and x.shape[2] * x.shape[3] > 0
        and x.is_contiguous(memory_format=torch.channels_last)
        and cast("SpatialAttention", block.spatial).conv.kernel_size == (7, 7)  # the loops' seven taps
        and not torch.is_autocast_enabled("cpu")
        and not _listened(block)
        and _compiled() is not None
    )


def _rows(tensor: torch.Tensor) -> np.ndarray:
    """A channels_last ``(N, C, H, W)`` tensor's memory as ``(N, H * W, C)``, without a copy."""
    images, channels, height, width = tensor.shape
    return tensor.detach().permute(0, 2, 3, 1).reshape(images, height * width, channels).numpy()


def _weights(block: CBAM) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The MLP's two weights and the spatial convolution's, as :class:`FusedCbam` takes them."""
    channel, spatial = cast("ChannelAttention", block.channel), cast("SpatialAttention", block.spatial)
    return cast(nn.Linear, channel.excite[0]).weight, cast(nn.Linear, channel.excite[2]).weight, spatial.conv.weight


def _weight_arrays(first: torch.Tensor, second: torch.Tensor, conv: torch.Tensor) -> list[np.ndarray]:
    """The weights as the loops take them: ``(C // r, C)``, ``(C, C // r)`` and the kernel ``(2, k, k)``."""
    return [weight.detach().contiguous().numpy() for weight in (first, second, conv[0])]  # one layout to compile


def _run_forward(x: torch.Tensor, *weights: torch.Tensor) -> tuple[torch.Tensor, Saved]:
    out = torch.empty_like(x, memory_format=torch.channels_last)
    saved = Saved.empty(x, hidden=weights[0].shape[0], kernel_size=weights[2].shape[-1])
    _kernels().forward(_rows(x), *_weight_arrays(*weights), _rows(out), *saved.arrays())
    return out, saved


class FusedCbam(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, first: torch.Tensor, second: torch.Tensor, conv: torch.Tensor) -> torch.Tensor:
        out, saved = _run_forward(x, first, second, conv)
        ctx.save_for_backward(x, first, second, conv)
        ctx.saved = saved
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):
        x, *weights = ctx.saved_tensors
        grad_x = torch.empty_like(x, memory_format=torch.channels_last)
        shapes = [weights[0].shape, weights[1].shape, weights[2].shape[1:]]  # the kernel as (2, k, k)
        per_image = [x.new_zeros(len(x), *shape) for shape in shapes]
        grad_output = grad_output.contiguous(memory_format=torch.channels_last)
        _kernels().backward(
            _rows(grad_output), _rows(x), *_weight_arrays(*weights), *ctx.saved.arrays(),
            _rows(grad_x), *(grad.numpy() for grad in per_image),
        )  # fmt: skip
        grad_weights = [grad.sum(0).reshape(weight.shape) for grad, weight in zip(per_image, weights, strict=True)]
        grads = (grad_x, *grad_weights)
        return tuple(grad if wanted else None for grad, wanted in zip(grads, ctx.needs_input_grad, strict=True))


@torch.compiler.disable
def fused_cbam(x: torch.Tensor, block: CBAM) -> torch.Tensor:
    """``block(x)`` through the compiled loops; with an autograd node only where a gradient is wanted."""
    weights = _weights(block)
    if torch.is_grad_enabled() and (x.requires_grad or any(weight.requires_grad for weight in weights)):
        return FusedCbam.apply(x, *weights)
    return _run_forward(x, *weights)[0]
