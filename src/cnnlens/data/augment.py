"""The recipe's train augmentations on whole batches, with independent random draws per image.

torchvision's tensor transforms draw one parameter set per call, so a batch would share one crop,
one jitter and one angle. These functions draw per image from the same distributions as the
source's per-image PIL pipeline: RandomCrop(32, padding=4), RandomHorizontalFlip,
ColorJitter(0.2, 0.2, 0.2, 0.1) in a random order per image, RandomRotation(15) with nearest
resampling and zero fill. Everything stays on the batch's device; on a GPU, the per-image choice of
colour adjustment costs a few host syncs per batch (masked indexing, cheaper on the CPU than adjusting
every image four times). Images are square, as the rotation assumes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnnlens.data.channel_constants import channel_constant

GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision rgb_to_grayscale
HUE_CHANNEL_OFFSETS = (5.0, 3.0, 1.0)  # R, G, B in sixths of the hue wheel


def augment_batch(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """uint8 ``(B, 3, H, W)`` images to augmented float images in [0, 1]."""
    x = images.float().div_(255)
    x = random_crop(x, padding=4, generator=generator)
    x = random_horizontal_flip(x, generator=generator)
    x = color_jitter(x, brightness=0.2, contrast=0.2, saturation=0.2, hue=0.1, generator=generator)
    return random_rotation(x, degrees=15.0, generator=generator)


def _uniform(shape: tuple[int, ...], low: float, high: float, like: torch.Tensor, generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=like.device) * (high - low) + low


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad each side by ``padding`` and cut an ``H x W`` window at a random offset per image.

    One gather over each padded image's flattened pixels, so the result is contiguous: on 2 CPU cores
    the colour jitter that follows takes about 1.4 times as long on a channels-last view, which is
    what indexing the height and width of a ``(B, C, H, W)`` tensor returns (benchmarks/engine_choices.py).
    """
    batch, channels, height, width = x.shape
    padded = F.pad(x, (padding,) * 4)
    top = torch.randint(0, 2 * padding + 1, (batch, 1), generator=generator, device=x.device)
    left = torch.randint(0, 2 * padding + 1, (batch, 1), generator=generator, device=x.device)
    rows = top + torch.arange(height, device=x.device)
    cols = left + torch.arange(width, device=x.device)
    pixels = (rows[:, :, None] * padded.shape[-1] + cols[:, None, :]).view(batch, 1, height * width)
    return padded.flatten(2).gather(2, pixels.expand(-1, channels, -1)).view_as(x)


def random_horizontal_flip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma with the weights of torchvision's ``rgb_to_grayscale``; shape ``(B, 1, H, W)``."""
    return (x * channel_constant(GRAY_WEIGHTS, x.device, x.dtype)).sum(1, keepdim=True)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (factor * x + (1 - factor) * other).clamp_(0, 1)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend(x, torch.zeros_like(x), factor)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend(x, grayscale(x).mean((1, 2, 3), keepdim=True), factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend(x, grayscale(x), factor)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue by ``shift`` (a fraction of the colour wheel) per image, as torchvision's round
    trip through HSV does, without building HSV: a pixel's maximum and chroma stay, its hue moves."""
    red, green, blue = x.unbind(1)
    minimum, maximum = torch.aminmax(x, dim=1)
    chroma = maximum - minimum
    safe_chroma = torch.where(chroma > 0, chroma, 1)  # grey: hue 0, and any hue gives back the grey
    hue = torch.where(  # in sixths of the wheel
        maximum == red,
        ((green - blue) / safe_chroma) % 6,
        torch.where(maximum == green, (blue - red) / safe_chroma + 2, (red - green) / safe_chroma + 4),
    ) + 6 * shift.view(-1, 1, 1)
    # Channel n of a hue h: max - chroma * clamp(min(k, 4 - k), 0, 1), k = (n + h) mod 6, n = 5, 3, 1 for R, G, B
    k = torch.remainder(channel_constant(HUE_CHANNEL_OFFSETS, x.device) + hue.unsqueeze(1), 6)
    return maximum.unsqueeze(1) - chroma.unsqueeze(1) * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def color_jitter(
    x: torch.Tensor, brightness: float, contrast: float, saturation: float, hue: float, generator: torch.Generator
) -> torch.Tensor:
    """torchvision's ColorJitter with factors and the order of the four adjustments drawn per image."""
    batch = x.shape[0]
    shape = (batch, 1, 1, 1)
    adjustments = (
        (adjust_brightness, _uniform(shape, 1 - brightness, 1 + brightness, x, generator)),
        (adjust_contrast, _uniform(shape, 1 - contrast, 1 + contrast, x, generator)),
        (adjust_saturation, _uniform(shape, 1 - saturation, 1 + saturation, x, generator)),
        (adjust_hue, _uniform(shape, -hue, hue, x, generator)),
    )
    order = torch.rand((batch, len(adjustments)), generator=generator, device=x.device).argsort(1)
    x = x.clone()
    for step in range(len(adjustments)):
        for index, (adjust, factor) in enumerate(adjustments):
            # Adjust only the images whose step-th adjustment this is (hue is costly on all of them).
            chosen = (order[:, step] == index).nonzero().squeeze(1)
            x[chosen] = adjust(x[chosen], factor[chosen])
    return x


def random_rotation(x: torch.Tensor, degrees: float, generator: torch.Generator) -> torch.Tensor:
    """Rotate each image about its centre by a uniform angle in ``[-degrees, degrees]``."""
    return rotate(x, _uniform((x.shape[0],), -degrees, degrees, x, generator))


def rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate square images counter-clockwise by per-image angles (degrees); nearest, zero fill."""
    angle = torch.deg2rad(degrees)
    cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
    theta = torch.stack((torch.stack((cos, -sin, zero), 1), torch.stack((sin, cos, zero), 1)), 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)
