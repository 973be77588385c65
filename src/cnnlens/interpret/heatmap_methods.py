"""The heatmaps whose faithfulness the report measures, as one kind of thing: model + images -> ``(N, H, W)`` maps.

Every method gives maps at the input's size, min-max scaled to [0, 1] per image (torch-cam scales its maps so too),
so that the same map serves the deletion and insertion curves (which only use its order) and the masking of Average
Drop (which uses its values). Two baselines know nothing of the model: a random map, and a centred Gaussian that
marks where CIFAR-10's objects usually are. Each method also declares the layers it reads by construction, so the
sanity checks can tell "unchanged because it never uses that layer" from "unchanged although it does".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret.channel_maps import normalize_map, upsample
from cnnlens.interpret.deconvnet import deconv_project
from cnnlens.interpret.gradcam import Target, grad_cam
from cnnlens.interpret.hooks import capture
from cnnlens.interpret.scoring import checked_batch_size, device_of
from cnnlens.interpret.spatial_attention import spatial_attention_maps, spatial_gates
from cnnlens.models.modes import eval_mode

GAUSSIAN_SIGMA_FRACTION = 1 / 4  # the centre-bias baseline's sigma per side: H / 4 and W / 4
LAYER = "conv3"  # the layer the activation heatmap, Grad-CAM and the deconvnet read
MODEL_METHODS = ("channels", "gradcam", "deconvnet", "spatial_attention")
BASELINE_METHODS = ("random", "gaussian")
METHODS = MODEL_METHODS + BASELINE_METHODS
TARGETED = ("gradcam",)  # the methods that explain one class (the predicted one unless told)

MapFunction = Callable[[nn.Module, torch.Tensor], torch.Tensor]


def channel_heatmap(model: nn.Module, images: torch.Tensor, layer: str = LAYER, k: int = 3) -> torch.Tensor:
    """The source's "attention heatmap" as one map: the mean of its ``k`` min-max scaled most active channels.

    The channels are those of :func:`cnnlens.interpret.channel_maps.activation_heatmaps` (largest spatial mean of
    ``layer``'s output, ties to the lower index), chosen per image; their mean is upsampled to the input's size.
    """
    with torch.no_grad(), eval_mode(model), capture(model, [layer]) as outputs:
        model(images)
    activation = outputs[layer].float()
    k = min(k, activation.shape[1])
    top = activation.mean((2, 3)).argsort(dim=1, descending=True, stable=True)[:, :k]
    chosen = activation.gather(1, top[:, :, None, None].expand(-1, -1, *activation.shape[-2:]))
    return unit_maps(normalize_map(chosen).mean(1), size_of(images))


def gradcam_heatmap(model: nn.Module, images: torch.Tensor, target: Target = None) -> torch.Tensor:
    """Grad-CAM on :data:`LAYER` of ``target`` (each image's predicted class by default)."""
    return grad_cam(model, images, LAYER, target)


def deconv_heatmap(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The deconvnet projection of each image's strongest :data:`LAYER` activation, absolute value summed over
    colours."""
    if not isinstance(model, nn.Sequential):
        raise CnnlensError("the deconvnet walks a flat nn.Sequential conv trunk: this model is not one")
    return normalize_map(deconv_project(model, images, LAYER).projection.abs().sum(1))


def attention_heatmap(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """CBAM's spatial attention of the deepest block, upsampled and min-max scaled."""
    gate = list(spatial_attention_maps(model, images).values())[-1]
    return unit_maps(gate[:, 0], size_of(images))


def random_heatmap(count: int, size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """A baseline that knows nothing: uniform noise per pixel, drawn from ``seed``, ``(count, *size)``."""
    generator = torch.Generator().manual_seed(seed)
    return normalize_map(torch.rand((count, *size), generator=generator))


def gaussian_heatmap(count: int, size: tuple[int, int]) -> torch.Tensor:
    """A centre-bias baseline: the same centred Gaussian for every image, sigma a quarter of each side."""
    height, width = size
    y = (torch.arange(height) - (height - 1) / 2) / max(height * GAUSSIAN_SIGMA_FRACTION, 1e-6)
    x = (torch.arange(width) - (width - 1) / 2) / max(width * GAUSSIAN_SIGMA_FRACTION, 1e-6)
    bump = torch.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / 2)
    return normalize_map(bump).expand(count, height, width).clone()


def inverted(maps: torch.Tensor) -> torch.Tensor:
    """Each map turned upside down, ``1 - map``: the pixels it ranks last come first. A faithful map's inversion
    must score worse than the map itself, or the map's order carries nothing the model uses."""
    return 1 - maps


MODEL_MAPS: dict[str, MapFunction] = {
    "channels": channel_heatmap,
    "gradcam": gradcam_heatmap,
    "deconvnet": deconv_heatmap,
    "spatial_attention": attention_heatmap,
}


def available_methods(model: nn.Module) -> tuple[str, ...]:
    """The methods that apply to ``model``: all of :data:`METHODS`, spatial attention only where it has CBAM."""
    return tuple(name for name in METHODS if name != "spatial_attention" or spatial_gates(model))


def heatmaps(
    model: nn.Module,
    images: torch.Tensor,
    methods: Sequence[str] | None = None,
    *,
    seed: int = 0,
    batch_size: int | None = None,
    targets: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Each method's ``(N, H, W)`` maps in [0, 1] on the model's device, the model-based ones ``batch_size`` at a time.

    ``methods`` defaults to :func:`available_methods`; ``seed`` draws the random baseline; ``targets`` (``(N,)``)
    are the classes the :data:`TARGETED` methods explain, each image's predicted class by default; ``batch_size``
    defaults to :func:`cnnlens.interpret.scoring.default_batch_size`.
    """
    methods = _checked_methods(model, methods)
    images = images.to(device_of(model))
    batch_size = checked_batch_size(batch_size, images.device)
    maps = {}
    for name in methods:
        if name == "random":
            maps[name] = random_heatmap(len(images), size_of(images), seed).to(images.device)
        elif name == "gaussian":
            maps[name] = gaussian_heatmap(len(images), size_of(images)).to(images.device)
        else:
            maps[name] = torch.cat(
                [_model_map(name, model, chunk, part) for chunk, part in _chunks(images, targets, batch_size)]
            )
    return maps


def layers_used(method: str, model: nn.Module) -> tuple[str, ...]:
    """The top-level modules of ``model`` that ``method``'s maps depend on by construction, in forward order.

    Grad-CAM reads the gradient of the output, so every module; the activation heatmap and the deconvnet stop at
    :data:`LAYER`; CBAM's spatial attention at its deepest block; the baselines use none.
    """
    names = [name for name, _ in model.named_children()]
    if method in BASELINE_METHODS:
        return ()
    if method == "gradcam":
        return tuple(names)
    last = list(spatial_gates(model))[-1] if method == "spatial_attention" else LAYER
    return tuple(names[: names.index(last) + 1])


def unit_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Upsample ``(N, h, w)`` maps to ``size`` and min-max scale them; a map flat before upsampling stays zeros.

    (Bilinear resizing of a constant map wobbles by rounding, which scaling would blow up to the full range.)
    """
    scaled = normalize_map(upsample(maps, size))
    flat = maps.amax((1, 2)) == maps.amin((1, 2))
    return torch.where(flat[:, None, None], torch.zeros_like(scaled), scaled)


def size_of(images: torch.Tensor) -> tuple[int, int]:
    return images.shape[-2], images.shape[-1]


def _model_map(name: str, model: nn.Module, images: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
    if name in TARGETED:
        return gradcam_heatmap(model, images, targets)
    return MODEL_MAPS[name](model, images)


def _chunks(
    images: torch.Tensor, targets: torch.Tensor | None, batch_size: int
) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    if targets is None:
        return [(chunk, None) for chunk in images.split(batch_size)]
    if len(targets) != len(images):
        raise CnnlensError(f"{len(images)} images but {len(targets)} target classes")
    targets = targets.to(images.device)
    return list(zip(images.split(batch_size), targets.split(batch_size), strict=True))


def _checked_methods(model: nn.Module, methods: Sequence[str] | None) -> tuple[str, ...]:
    available = available_methods(model)
    if methods is None:
        return available
    unknown = [name for name in methods if name not in available]
    if unknown:
        raise CnnlensError(f"methods {unknown} do not apply to this model: choose from {', '.join(available)}")
    return tuple(methods)
