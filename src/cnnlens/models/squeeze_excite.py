"""Squeeze-and-excitation's training pass on the CPU, with a backward of two passes over the big tensors.

``x * sigmoid(excite(mean(x)))`` through autograd costs four passes over ``x``-sized tensors in the
backward (the product's two gradients, the mean's broadcast gradient, and their sum). Here the
backward takes one pass for the gates' gradient and one fused multiply-add for the input's; the small
excitation MLP keeps its autograd graph from the forward. On the CPU that makes the attention CNN's
training steps faster (benchmarks/README.md, engine_choices, "SE through autograd"). Values are those
of the plain expression; gradients
agree to rounding. On the GPU ``torch.compile`` fuses these passes itself, so the model uses this on
the CPU only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch.autograd.function import once_differentiable

if TYPE_CHECKING:  # attention.py imports this module
    from cnnlens.models.attention import ChannelAttention


def trained_parameters(parameters: tuple[torch.Tensor, ...], needed: tuple[bool, ...]) -> list[torch.Tensor]:
    """The parameters whose gradient backward must return (a frozen one gets none)."""
    return [parameter for parameter, wanted in zip(parameters, needed, strict=True) if wanted]


def spread_gradients(grads: list[torch.Tensor], needed: tuple[bool, ...]) -> list[torch.Tensor | None]:
    """The gradients of :func:`trained_parameters` in every parameter's place, None for the frozen ones."""
    remaining = iter(grads)
    return [next(remaining) if wanted else None for wanted in needed]


class SqueezeExcite(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, module: ChannelAttention, *excite_parameters: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():  # the MLP's graph, from the squeezed channels to the gates, for backward
            squeezed = x.detach().mean((2, 3)).requires_grad_()
            gates = module.gate(module.excite(squeezed))
        ctx.save_for_backward(x)
        ctx.squeezed, ctx.gates, ctx.excite_parameters = squeezed, gates, excite_parameters
        return x * gates.detach()[:, :, None, None]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        grad_gates = (grad_output * x).sum((2, 3))
        needed = ctx.needs_input_grad[2:]  # a frozen MLP's weights get no gradient
        trained = trained_parameters(ctx.excite_parameters, needed)
        grad_squeezed, *grad_trained = torch.autograd.grad(ctx.gates, (ctx.squeezed, *trained), grad_gates)
        mean_gradient = (grad_squeezed / (x.shape[2] * x.shape[3]))[:, :, None, None]
        grad_x = torch.addcmul(mean_gradient, grad_output, ctx.gates.detach()[:, :, None, None])
        return grad_x, None, *spread_gradients(grad_trained, needed)


def squeeze_excite(x: torch.Tensor, module: ChannelAttention) -> torch.Tensor:
    """``x`` scaled by ``module.gate(module.excite(x.mean((2, 3))))``, per image and channel."""
    return SqueezeExcite.apply(x, module, *module.excite.parameters())
