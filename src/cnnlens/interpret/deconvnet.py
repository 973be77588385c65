"""ZFNet's deconvnet (Zeiler & Fergus 2014): project one strong activation back to pixel space.

The forward pass walks a flat ``nn.Sequential`` conv trunk (Conv2d, BatchNorm2d after a conv, ReLU,
MaxPool2d, ChannelAttention, SpatialAttention, CBAM) on its own tensors, recording what the way back
needs: the max-pool switches and the attention gates. The way back inverts each step in reverse order: max-unpool
with the switches, ReLU on the signal, and the transposed convolution with the same weights (no
bias). BatchNorm in eval mode is an affine map, so it is folded into the conv before transposing.

Attention multiplies its input by a gate computed from the image (per-image channel weights; for
CBAM also a spatial map). The way back multiplies by the same recorded gate: like the switches, the
image-dependent part is frozen and the linear map the forward pass applied is transposed (a
diagonal map is its own transpose). The gate is not differentiated through.

Works for the cnnlens CNNs (layers ``conv1`` ... ``pool3``) and torchvision's VGG16 ``features``
(layers ``"0"`` ... ``"30"``). Nothing in the model is modified; each module's ``training`` flag is
restored, and the only hooks (reading attention gates via :func:`cnnlens.interpret.hooks.capture`) are removed
even on errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret.hooks import capture
from cnnlens.models.attention import CBAM, ChannelAttention, SpatialAttention
from cnnlens.models.modes import eval_mode

Backward = Callable[[torch.Tensor], torch.Tensor]
_GATED = (ChannelAttention, SpatialAttention)  # attention modules whose output is ``x * gate``


@dataclass(frozen=True)
class DeconvResult:
    """One projection per image and which activation of the layer was kept.

    Attributes:
        projection: ``(N, 3, H, W)`` pixel-space projection of the kept activation.
        channel: ``(N,)`` channel of the kept activation.
        position: ``(N, 2)`` its ``(y, x)`` in the layer's output.
        activation: ``(N,)`` its value (the seed that was projected).
    """

    projection: torch.Tensor
    channel: torch.Tensor
    position: torch.Tensor
    activation: torch.Tensor


def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new conv equal to ``bn(conv(x))`` with ``bn`` in eval mode, so the pair has one transpose.

    Eval-mode BatchNorm is ``y = (x - mean) * gamma / sqrt(var + eps) + beta`` per channel; the scale
    goes into the weights and the shift into the bias. The inputs are not modified.
    """
    mean, variance = bn.running_mean, bn.running_var
    if mean is None or variance is None:
        raise CnnlensError("a BatchNorm without running statistics normalises per batch: it cannot be folded")
    scale = bn.weight / torch.sqrt(variance + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(mean)
    folded = nn.utils.skip_init(
        nn.Conv2d,
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=True,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    with torch.no_grad():
        folded.weight.copy_(conv.weight * scale[:, None, None, None])
        folded.bias.copy_((bias - mean) * scale + bn.bias)
    return folded


def deconv_layers(stack: nn.Sequential) -> list[str]:
    """Names of the layers one can project from, in forward order: the leading conv trunk of ``stack``.

    The trunk ends at the first module the deconvnet cannot invert (``flatten``, a linear layer, ...).
    """
    return [name for name, _ in _trunk(stack)]


def deconv_project(stack: nn.Sequential, images: torch.Tensor, layer: str, channel: int | None = None) -> DeconvResult:
    """Project the strongest activation of ``layer`` for each image back to pixels, all others zeroed.

    Args:
        stack: flat conv trunk (a cnnlens CNN, or VGG16's ``features``); it is not modified.
        images: ``(N, 3, H, W)`` model inputs (normalised as the model expects).
        layer: name of a layer in :func:`deconv_layers`.
        channel: ``None`` keeps the strongest activation over all channels and positions; a channel
            index keeps the strongest position within that channel (ZFNet's per-feature view).
    """
    activation, steps = _forward(stack, images, layer)
    channels, position = _strongest(activation, channel, layer)
    rows = torch.arange(len(activation), device=activation.device)
    value = activation[rows, channels, position[:, 0], position[:, 1]]
    seed = torch.zeros_like(activation)
    seed[rows, channels, position[:, 0], position[:, 1]] = value
    return DeconvResult(_backward(steps, seed), channels, position, value)


def project_to_pixels(stack: nn.Sequential, images: torch.Tensor, layer: str, signal: torch.Tensor) -> torch.Tensor:
    """Project an arbitrary ``signal`` at ``layer`` to pixels, with the switches and weights of ``images``.

    The building block of :func:`deconv_project`, exposed so that other seeds (a whole feature map, a
    one-hot) can be projected through the same deconvnet.
    """
    activation, steps = _forward(stack, images, layer)
    if signal.shape != activation.shape:
        expected = tuple(activation.shape)
        raise CnnlensError(f"signal shape {tuple(signal.shape)} differs from layer '{layer}' output {expected}")
    return _backward(steps, signal)


def _trunk(stack: nn.Sequential) -> list[tuple[str, nn.Module]]:
    """The leading run of modules the deconvnet can invert; BatchNorm counts only right after a conv."""
    trunk: list[tuple[str, nn.Module]] = []
    previous: nn.Module | None = None
    for name, module in stack.named_children():
        after_conv = isinstance(module, nn.BatchNorm2d) and isinstance(previous, nn.Conv2d)
        invertible = isinstance(module, (nn.ReLU, nn.MaxPool2d, CBAM, *_GATED)) or _is_transposable_conv(module)
        if not (after_conv or invertible):
            break
        trunk.append((name, module))
        previous = module
    return trunk


def _is_transposable_conv(module: nn.Module) -> bool:
    """Zero-padded convs with numeric padding: the ones ``F.conv_transpose2d`` mirrors exactly."""
    return isinstance(module, nn.Conv2d) and module.padding_mode == "zeros" and not isinstance(module.padding, str)


def _modules_up_to(stack: nn.Sequential, layer: str) -> list[nn.Module]:
    """The trunk's modules through ``layer``, each conv folded with the BatchNorm after it.

    A conv is left unfolded when it is itself the requested layer, since its output precedes the BN.
    """
    trunk = _trunk(stack)
    names = [name for name, _ in trunk]
    if layer not in names:
        raise CnnlensError(f"layer '{layer}' is not in the deconvnet's conv trunk: choose from {', '.join(names)}")
    stop = names.index(layer)
    modules: list[nn.Module] = []
    index = 0
    while index <= stop:
        module = trunk[index][1]
        following = trunk[index + 1][1] if index < stop else None
        if isinstance(module, nn.Conv2d) and isinstance(following, nn.BatchNorm2d):
            modules.append(fold_batchnorm(module, following))
            index += 2
        else:
            modules.append(module)
            index += 1
    return modules


@torch.no_grad()
def _forward(stack: nn.Sequential, images: torch.Tensor, layer: str) -> tuple[torch.Tensor, list[Backward]]:
    """Output of ``layer`` and, in forward order, each step's map from its output signal back to its input."""
    modules = _modules_up_to(stack, layer)
    steps: list[Backward] = []
    x = images
    with eval_mode(stack):
        for module in modules:
            x, back = _step(module, x)
            steps.append(back)
    return x, steps


@torch.no_grad()
def _backward(steps: list[Backward], signal: torch.Tensor) -> torch.Tensor:
    """Undo the recorded steps in reverse order."""
    for back in reversed(steps):
        signal = back(signal)
    return signal


def _step(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Backward]:
    """Apply one trunk module out of place and return its deconvnet inverse."""
    if isinstance(module, nn.Conv2d):
        return _conv_step(module, x)
    if isinstance(module, nn.MaxPool2d):
        return _pool_step(module, x)
    if isinstance(module, CBAM):
        return _cbam_step(module, x)
    if isinstance(module, _GATED):
        return _gated_step(module, x)
    return F.relu(x), F.relu


def _conv_step(conv: nn.Conv2d, x: torch.Tensor) -> tuple[torch.Tensor, Backward]:
    """Convolve; the way back is the transposed conv with the same weights, no bias, same input size."""
    padding = conv.padding
    assert not isinstance(padding, str), "_trunk admits convs with numeric padding only"
    y = F.conv2d(x, conv.weight, conv.bias, conv.stride, padding, conv.dilation, conv.groups)
    output_padding = _output_padding(conv, (x.shape[-2], x.shape[-1]), (y.shape[-2], y.shape[-1]))

    def back(signal: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(
            signal, conv.weight, None, conv.stride, padding, output_padding, conv.groups, conv.dilation
        )

    return y, back


def _output_padding(conv: nn.Conv2d, in_size: tuple[int, int], out_size: tuple[int, int]) -> tuple[int, int]:
    """Extra rows/columns the transposed conv needs to restore ``in_size`` when the stride dropped some."""
    return tuple(
        size - ((out - 1) * stride - 2 * pad + dilation * (kernel - 1) + 1)
        for size, out, stride, pad, dilation, kernel in zip(
            in_size, out_size, conv.stride, conv.padding, conv.dilation, conv.kernel_size, strict=False
        )
    )


def _pool_step(pool: nn.MaxPool2d, x: torch.Tensor) -> tuple[torch.Tensor, Backward]:
    """Max-pool recording the switches (the module itself was built without ``return_indices``)."""
    y, switches = F.max_pool2d(
        x, pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.ceil_mode, return_indices=True
    )
    size = x.shape[-2:]
    # as pairs, which max_unpool2d's signature asks for (it would make the same pairs of single ints itself)
    kernel_size, stride, padding = _pair(pool.kernel_size), _pair(pool.stride), _pair(pool.padding)

    def back(signal: torch.Tensor) -> torch.Tensor:
        return F.max_unpool2d(signal, switches, kernel_size, stride, padding, output_size=size)

    return y, back


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else value


def _gated_step(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Backward]:
    """Apply an attention module, recording its ``gate`` output; the way back multiplies by the same gate.

    The gate (channel weights ``(N, C)`` or a spatial map ``(N, 1, H, W)``) is read from the module's own
    ``gate`` submodule, so the weights are exactly those of its forward, whatever it computes them from.
    """
    with capture(module, ["gate"]) as outputs:
        y = module(x)
    gate = outputs["gate"]
    gate = gate.view(*gate.shape, *[1] * (x.dim() - gate.dim()))
    return y, lambda signal: signal * gate


def _cbam_step(module: CBAM, x: torch.Tensor) -> tuple[torch.Tensor, Backward]:
    """Channel attention then spatial attention; the way back undoes them in reverse order."""
    steps: list[Backward] = []
    for gated in module:
        x, back = _gated_step(gated, x)
        steps.append(back)
    return x, lambda signal: _backward(steps, signal)


def _strongest(activation: torch.Tensor, channel: int | None, layer: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel ``(N,)`` and ``(y, x)`` ``(N, 2)`` of each image's maximum, over all channels or within one."""
    _, channels, height, width = activation.shape
    if channel is None:
        flat = activation.flatten(1).argmax(1)
        chosen, spatial = flat // (height * width), flat % (height * width)
    else:
        _check_channel(channel, channels, layer)
        spatial = activation[:, channel].flatten(1).argmax(1)
        chosen = torch.full_like(spatial, channel)
    return chosen, torch.stack([spatial // width, spatial % width], 1)


def _check_channel(channel: int, channels: int, layer: str) -> None:
    """Reject a channel index the layer does not have."""
    if not 0 <= channel < channels:
        raise CnnlensError(f"channel {channel} is out of range: layer '{layer}' has channels 0 to {channels - 1}")
