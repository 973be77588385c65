"""CBAM's two gates on the CPU in fewer passes over the big tensors, with hand-written backwards.

Through autograd, CBAM's attention cost a plain CNN's training step more than its convolutions
(benchmarks/README.md, "CBAM's training step"): the max descriptors' backward (``AmaxBackward``) makes an
equality mask, counts it, divides and multiplies in four passes; the spatial gate's two pooled maps were
concatenated contiguous, so the 7x7 convolution ran in the slow contiguous layout on a channels_last
network (its input gradient alone took longer than a 3x3 layer's); the channel MLP ran twice. Here each
gate is one :class:`torch.autograd.Function` over the ``x``-sized tensors:

- forward: the two descriptors (one reduction each), the small part (MLP or 7x7 convolution, then the
  sigmoid) through the modules themselves, so their forward hooks see the same outputs, and one product;
- backward: one product-and-sum for the gate's gradient, the small part's gradient through its own
  autograd graph, and one fused multiply-add for the input's gradient, to which the max descriptor's
  gradient is added where ``x`` equals its maximum, split among ties as ``amax``'s gradient is.

Values are those of the plain expressions (:class:`cnnlens.models.attention.ChannelAttention` with
``use_max=True``, :class:`cnnlens.models.attention.SpatialAttention` with ``fused_backward = False``);
gradients agree to rounding (tests/test_cbam.py). The spatial gate's pooled maps are channels_last, as
the engine's tensors on the CPU are, in training and in evaluation alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch.autograd.function import once_differentiable

from cnnlens.models.squeeze_excite import spread_gradients, trained_parameters

if TYPE_CHECKING:  # attention.py imports this module
    from cnnlens.models.attention import ChannelAttention, SpatialAttention


def channel_descriptors(x: torch.Tensor) -> torch.Tensor:
    """``(2, N, C)``: each channel's spatial mean, then its spatial maximum."""
    return torch.stack((x.mean((2, 3)), x.amax((2, 3))))


def channel_gates(module: ChannelAttention, descriptors: torch.Tensor) -> torch.Tensor:
    """``(N, C)`` gates from :func:`channel_descriptors`: both through the shared MLP at once, summed, the sigmoid."""
    scores = module.excite(descriptors)
    return module.gate(scores[0] + scores[1])


def spatial_descriptors(x: torch.Tensor) -> torch.Tensor:
    """``(N, 2, H, W)``, channels_last: each position's mean over the channels, then its maximum."""
    return torch.stack((x.mean(1), x.amax(1)), -1).permute(0, 3, 1, 2)


def spatial_map(module: SpatialAttention, descriptors: torch.Tensor) -> torch.Tensor:
    """``(N, 1, H, W)`` map from :func:`spatial_descriptors`: the 7x7 convolution, then the sigmoid."""
    return module.gate(module.conv(descriptors))


def _add_max_gradient(grad_x: torch.Tensor, x: torch.Tensor, maxima: torch.Tensor, grad_max: torch.Tensor, dims):
    """``grad_x`` plus ``grad_max`` at the positions where ``x`` equals its maximum over ``dims``, split evenly
    among equal maxima (``amax``'s gradient); ``maxima`` and ``grad_max`` broadcast against ``x``."""
    at_max = torch.eq(x, maxima, out=torch.empty_like(x))  # 1.0 and 0.0: a bool mask costs casting copies
    return grad_x.addcmul_(at_max, grad_max / at_max.sum(dims, keepdim=True))


class CbamChannel(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, module: ChannelAttention, *excite_parameters: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():  # the MLP's graph, from the descriptors to the gates, for backward
            descriptors = channel_descriptors(x.detach()).requires_grad_()
            gates = channel_gates(module, descriptors)
        ctx.save_for_backward(x)
        ctx.descriptors, ctx.gates, ctx.excite_parameters = descriptors, gates, excite_parameters
        return x * gates.detach()[:, :, None, None]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        grad_gates = (grad_output * x).sum((2, 3))
        needed = ctx.needs_input_grad[2:]  # a frozen MLP's weights get no gradient
        wanted = (ctx.descriptors, *trained_parameters(ctx.excite_parameters, needed))
        grad_descriptors, *grad_trained = torch.autograd.grad(ctx.gates, wanted, grad_gates)
        grad_mean, grad_max = grad_descriptors[:, :, :, None, None]
        grad_x = torch.addcmul(grad_mean / (x.shape[2] * x.shape[3]), grad_output, ctx.gates.detach()[:, :, None, None])
        grad_x = _add_max_gradient(grad_x, x, ctx.descriptors.detach()[1, :, :, None, None], grad_max, (2, 3))
        return grad_x, None, *spread_gradients(grad_trained, needed)


class CbamSpatial(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, module: SpatialAttention, weight: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():  # the convolution's graph, from the descriptors to the map, for backward
            descriptors = spatial_descriptors(x.detach()).requires_grad_()
            attention = spatial_map(module, descriptors)
        ctx.save_for_backward(x)
        ctx.descriptors, ctx.attention, ctx.weight = descriptors, attention, weight
        return x * attention.detach()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        grad_attention = (grad_output * x).sum(1, keepdim=True)
        needed = ctx.needs_input_grad[2:]
        wanted = (ctx.descriptors, *trained_parameters((ctx.weight,), needed))
        grad_descriptors, *grad_trained = torch.autograd.grad(ctx.attention, wanted, grad_attention)
        grad_mean, grad_max = grad_descriptors[:, :1], grad_descriptors[:, 1:]
        grad_x = torch.addcmul(grad_mean / x.shape[1], grad_output, ctx.attention.detach())
        grad_x = _add_max_gradient(grad_x, x, ctx.descriptors.detach()[:, 1:], grad_max, (1,))
        return grad_x, None, *spread_gradients(grad_trained, needed)


def cbam_channel(x: torch.Tensor, module: ChannelAttention) -> torch.Tensor:
    """``x`` scaled by ``sigmoid(excite(mean(x)) + excite(amax(x)))`` over the positions, per image and channel."""
    return CbamChannel.apply(x, module, *module.excite.parameters())


def cbam_spatial(x: torch.Tensor, module: SpatialAttention) -> torch.Tensor:
    """``x`` scaled by ``sigmoid(conv([mean(x), amax(x)]))`` over the channels, per image and position."""
    return CbamSpatial.apply(x, module, module.conv.weight)
