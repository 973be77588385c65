"""Grad-CAM (Selvaraju et al. 2017): where in the image one conv layer sees the evidence for a class.

The layer's output is recorded by :func:`cnnlens.interpret.hooks.capture` with ``keep_graph=True`` and its gradient
is taken with ``torch.autograd.grad``: no hooks besides capture's, and the parameters' ``.grad`` stay untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from cnnlens.errors import CnnlensError
from cnnlens.interpret.channel_maps import normalize_map, upsample
from cnnlens.interpret.hooks import capture
from cnnlens.models.modes import eval_mode

Target = int | Sequence[int] | torch.Tensor | None


def grad_cam(model: nn.Module, images: torch.Tensor, layer: str = "conv3", target: Target = None) -> torch.Tensor:
    """Grad-CAM heatmaps at the input's size, scaled to [0, 1] per image, ready to overlay on the images.

    The map is resized first and scaled afterwards, as pytorch-grad-cam's ``GradCAM`` returns it: every map that is
    not flat reaches exactly 1 at its strongest pixel and 0 at its weakest, so a colour bar's "1 = strongest
    evidence" holds. (Scaling before resizing would let bilinear interpolation pull an isolated peak below 1.)

    Args:
        model: classifier returning pre-softmax logits ``(N, classes)``; its train/eval mode is restored.
        images: the model's (normalised) input, ``(N, C, H, W)``.
        layer: module path of a layer whose output is ``(N, C', h, w)``, e.g. ``conv3``.
        target: the class to explain: None for each image's predicted class, an int for every image, or one
            class per image (so the report can show the predicted and the true class).

    Returns:
        ``(N, H, W)`` maps in [0, 1]; a flat map (evidence nowhere, or everywhere alike) gives zeros, not NaN.
    """
    raw, _ = grad_cam_raw(model, images, layer, target)
    scaled = normalize_map(upsample(raw, (images.shape[-2], images.shape[-1])))
    # Resizing a constant map wobbles by rounding, which scaling would blow up to the full range: keep it flat.
    flat = raw.amax((-2, -1)) == raw.amin((-2, -1))
    return torch.where(flat[:, None, None], torch.zeros_like(scaled), scaled)


def grad_cam_raw(
    model: nn.Module, images: torch.Tensor, layer: str = "conv3", target: Target = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM at the layer's own resolution, unscaled, with the channel weights behind it (for checking).

    weights = spatial mean of d(target logit)/d(activation); map = ReLU(sum over channels of weights * activation).
    Arguments as in :func:`grad_cam`.

    Returns:
        ``(N, h, w)`` maps and ``(N, C')`` channel weights, both detached.
    """
    activation, gradient = _activation_and_gradient(model, images, layer, target)
    weights = gradient.mean((2, 3))
    maps = F.relu((weights[:, :, None, None] * activation).sum(1))
    return maps, weights


def _activation_and_gradient(
    model: nn.Module, images: torch.Tensor, layer: str, target: Target
) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's output and the gradient of the target logits with respect to it, both detached.

    Eval mode turns dropout off and makes BatchNorm use running statistics, so images do not influence one
    another and the gradient of the summed target logits is each image's own. The input is made to require
    grad so that a graph exists even when every parameter is frozen.
    """
    if images.ndim != 4 or not images.is_floating_point():
        raise CnnlensError(f"Grad-CAM needs float images (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    with eval_mode(model), torch.enable_grad(), capture(model, [layer], keep_graph=True) as outputs:
        logits = model(images.detach().requires_grad_())
        activation = _checked_activation(outputs, layer, logits)
        score = logits.gather(1, _target_classes(target, logits)[:, None]).sum()
        (gradient,) = torch.autograd.grad(score, activation)
    return activation.detach(), gradient


def _checked_activation(outputs: dict[str, torch.Tensor], layer: str, logits: torch.Tensor) -> torch.Tensor:
    """The recorded layer output, after checking that Grad-CAM applies to this layer and model."""
    if logits.ndim != 2:
        raise CnnlensError(f"Grad-CAM needs a classifier with (N, classes) logits, got {tuple(logits.shape)}")
    if layer not in outputs:
        raise CnnlensError(f"layer '{layer}' did not run in the model's forward pass")
    activation = outputs[layer]
    if activation.ndim != 4:
        shape = tuple(activation.shape)
        raise CnnlensError(f"Grad-CAM needs a layer with (N, C, H, W) output; '{layer}' gives {shape}")
    return activation


def _target_classes(target: Target, logits: torch.Tensor) -> torch.Tensor:
    """Class index per image: the prediction when no target is given, else the given class(es), checked."""
    count, classes = logits.shape
    if target is None:
        return logits.argmax(1)
    chosen = torch.as_tensor(target, device=logits.device)
    if chosen.is_floating_point() or chosen.is_complex() or chosen.dtype == torch.bool:
        raise CnnlensError(f"Grad-CAM target must be class indices, got {chosen.dtype}")
    if chosen.ndim == 0:
        chosen = chosen.expand(count)
    if chosen.shape != (count,):
        raise CnnlensError(f"Grad-CAM target must be one class or one per image ({count}), got {tuple(chosen.shape)}")
    if ((chosen < 0) | (chosen >= classes)).any():
        raise CnnlensError(f"Grad-CAM target classes must lie in 0..{classes - 1}, got {chosen.tolist()}")
    return chosen.long()
