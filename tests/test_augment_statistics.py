"""Our batched augmentations draw their parameters from the same distributions as torchvision's.

test_augment.py checks each adjustment for a given parameter exactly; here each random augmentation
(and the whole recipe) runs N times on copies of one image, once through torchvision's own per-image
transform and once as one batch through ours, and a two-sample Kolmogorov-Smirnov test compares
statistics of the outputs that reveal the drawn parameters. The controls feed the same statistics
a slightly wrong augmentation, to show that each test could fail.

Seeds are fixed, so the p-values are reproducible. A correct change that draws its numbers
differently gets fresh samples; each case compares several statistics, so each must stay above
ALPHA divided by their number (Bonferroni), and a correct case then fails by chance at most 1 time
in 100. Before blaming chance, rerun with other seeds and a larger N and see whether the same
statistic stays low.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from scipy.stats import ks_2samp
from torchvision.transforms import InterpolationMode

from cnnlens.data import augment

N = 2000  # images a side: enough for the controls below to be rejected with p far below ALPHA
ALPHA = 0.01  # chance that a correct case fails, over all of its statistics together
JITTER = {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.1}
CLIP = 1e-5  # ours and torchvision's adjustments agree to this; a value this near 0 or 1 is clipped
Statistics = dict[str, torch.Tensor]


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def coordinate_image(size: int) -> torch.Tensor:
    """Channels (row + 1) / size, (col + 1) / size and 1: after a crop, flip or nearest rotation each
    pixel still says which input pixel it shows, and zero fill shows none."""
    steps = torch.arange(1, size + 1) / size
    return torch.stack((steps[:, None].expand(size, size), steps.expand(size, size), torch.ones(size, size)))


def colourful_image(size: int) -> torch.Tensor:
    """Random colours on every side of the hue wheel, with some near 1 so that brightening clips.

    The warm tint gives each image a clear mean hue, and the left-to-right ramp makes it asymmetric
    so that a flip or a shift moves its centre of brightness.
    """
    tint = torch.tensor([1.0, 0.75, 0.45]).view(3, 1, 1)
    ramp = torch.linspace(0.6, 1.0, size)
    return torch.rand(3, size, size, generator=generator(10)) * tint * ramp


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    return image.mul(255).round().to(torch.uint8)


def source_positions(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows and columns of the input pixels that the pixels of coordinate images show, and where they
    show one; each ``(N, H, W)``."""
    size = out.shape[-1]
    rows, cols = ((out[:, :2] * size).round().long() - 1).unbind(1)
    return rows, cols, out[:, 2] > 0


def mean_where(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask, values, 0).sum((1, 2)) / mask.sum((1, 2))


def crop_statistics(out: torch.Tensor) -> Statistics:
    """The offset of the crop window, which every pixel showing the input agrees on."""
    rows, cols, shown = source_positions(out)
    positions = torch.arange(out.shape[-1])
    return {
        "vertical shift": mean_where(rows - positions[:, None], shown),
        "horizontal shift": mean_where(cols - positions, shown),
    }


def flip_statistics(out: torch.Tensor) -> Statistics:
    _, cols, _ = source_positions(out)
    return {"flipped": (cols[:, 0, 0] == out.shape[-1] - 1).double()}


def rotation_statistics(out: torch.Tensor) -> Statistics:
    """The angle that best turns input positions into output positions (least squares about the
    centre), and the share of zero fill."""
    rows, cols, shown = source_positions(out)
    centred = torch.arange(out.shape[-1]) - (out.shape[-1] - 1) / 2
    out_y, out_x = centred[:, None], centred
    in_y, in_x = rows - (out.shape[-1] - 1) / 2, cols - (out.shape[-1] - 1) / 2
    cross = torch.where(shown, in_x * out_y - in_y * out_x, 0).sum((1, 2))
    dot = torch.where(shown, in_x * out_x + in_y * out_y, 0).sum((1, 2))
    return {"angle": torch.rad2deg(torch.atan2(cross, dot)), "zero fill": 1 - shown.double().mean((1, 2))}


def colour_statistics(out: torch.Tensor) -> Statistics:
    """Summaries that move with brightness (means), contrast (spread of luma), saturation (spread
    across channels) and hue (the mean hue's angle), and the share of clipped values, which depends on
    the order of the adjustments."""
    red, green, blue = out.unbind(1)
    chroma = torch.complex(2 * red - green - blue, 3**0.5 * (green - blue)).sum((1, 2))
    return {
        "mean": out.mean((1, 2, 3)),
        "red": red.mean((1, 2)),
        "green": green.mean((1, 2)),
        "blue": blue.mean((1, 2)),
        "contrast": TF.rgb_to_grayscale(out).std((1, 2, 3)),
        "saturation": (out.amax(1) - out.amin(1)).mean((1, 2)),
        "mean hue": chroma.angle(),
        "clipped": ((out <= CLIP) | (out >= 1 - CLIP)).double().mean((1, 2, 3)),
    }


def recipe_statistics(out: torch.Tensor) -> Statistics:
    """Colour summaries, the share of black pixels (padding and rotation fill) and the centre of
    brightness (crop offset and flip)."""
    intensity = out.mean(1)
    positions = torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)
    total = intensity.sum((1, 2))
    return colour_statistics(out) | {
        "black": (intensity == 0).double().mean((1, 2)),
        "centre x": (intensity * positions).sum((1, 2)) / total,
        "centre y": (intensity * positions[:, None]).sum((1, 2)) / total,
    }


def our_recipe(*steps: Callable) -> Callable:
    """A batched pipeline of our steps on uint8 images, for recipes that augment_batch does not run."""

    def run(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = images.float() / 255
        for step in steps:
            x = step(x, generator=generator)
        return x

    return run


OUR_CROP = functools.partial(augment.random_crop, padding=4)
OUR_JITTER = functools.partial(augment.color_jitter, **JITTER)
OUR_ROTATION = functools.partial(augment.random_rotation, degrees=15.0)
NEAREST = {"interpolation": InterpolationMode.NEAREST, "fill": 0}


@dataclass(frozen=True)
class Case:
    image: torch.Tensor  # one (3, H, W) input, copied N times
    ours: Callable  # batched: ours(batch, generator=...)
    theirs: Callable  # torchvision's per-image transform
    statistics: Callable[[torch.Tensor], Statistics]


CASES = {
    "crop": Case(coordinate_image(8), OUR_CROP, T.RandomCrop(8, padding=4), crop_statistics),
    "flip": Case(coordinate_image(8), augment.random_horizontal_flip, T.RandomHorizontalFlip(), flip_statistics),
    "colour jitter": Case(colourful_image(8), OUR_JITTER, T.ColorJitter(**JITTER), colour_statistics),
    "rotation": Case(coordinate_image(32), OUR_ROTATION, T.RandomRotation(15, **NEAREST), rotation_statistics),
    "augment_batch": Case(
        to_uint8(colourful_image(32)),
        augment.augment_batch,
        T.Compose(
            [
                T.ConvertImageDtype(torch.float32),
                T.RandomCrop(32, padding=4),
                T.RandomHorizontalFlip(),
                T.ColorJitter(**JITTER),
                T.RandomRotation(15, **NEAREST),
            ]
        ),
        recipe_statistics,
    ),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """These tests run thousands of small images through many small operations, where torch's intra-op
    threads cost far more than they save: on 2 busy cores the colour jitters took 15 to 70 times as long
    with 2 threads as with 1. The draws and the statistics do not depend on the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def our_statistics(case: Case, ours: Callable) -> Statistics:
    batch = case.image.expand(N, -1, -1, -1).contiguous()
    return case.statistics(ours(batch, generator=generator(1)))


@functools.cache
def torchvision_statistics(name: str) -> Statistics:
    """torchvision's transform applied image by image, as the source's DataLoader does (cached: the
    controls compare against the same sample)."""
    case = CASES[name]
    with torch.random.fork_rng(devices=[]):  # leave the global generator as other tests expect it
        torch.manual_seed(0)
        outputs = torch.stack([case.theirs(case.image) for _ in range(N)])
    return case.statistics(outputs)


def ks_pvalues(ours: Statistics, theirs: Statistics) -> dict[str, float]:
    return {name: ks_2samp(ours[name].numpy(), theirs[name].numpy()).pvalue for name in theirs}


def threshold(pvalues: dict[str, float]) -> float:
    """Bonferroni: the level each of a case's statistics is held to."""
    return ALPHA / len(pvalues)


@pytest.mark.parametrize("name", CASES)
def test_parameters_are_distributed_as_torchvisions(name):
    case = CASES[name]
    pvalues = ks_pvalues(our_statistics(case, case.ours), torchvision_statistics(name))
    assert min(pvalues.values()) > threshold(pvalues), pvalues


def jitter_in_a_fixed_order(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The right factors, but brightness, contrast, saturation, then hue for every image: a batched
    jitter that forgot to shuffle the order per image."""
    for adjustment, amount in JITTER.items():
        alone = dict.fromkeys(JITTER, 0.0) | {adjustment: amount}  # zero amounts leave the image as it is
        x = augment.color_jitter(x, **alone, generator=generator)
    return x


def doubled(name: str) -> Callable:
    return functools.partial(augment.color_jitter, **JITTER | {name: 2 * JITTER[name]})


CONTROLS = {  # a wrong augmentation, the case whose torchvision sample it is compared with, and the
    # statistic that must reject it
    "crop with padding 2": ("crop", functools.partial(augment.random_crop, padding=2), "vertical shift"),
    "crop with padding 3": ("crop", functools.partial(augment.random_crop, padding=3), "horizontal shift"),
    "flip 40%": ("flip", functools.partial(augment.random_horizontal_flip, p=0.4), "flipped"),
    "brightness 0.4": ("colour jitter", doubled("brightness"), "mean"),
    "contrast 0.4": ("colour jitter", doubled("contrast"), "contrast"),
    "saturation 0.4": ("colour jitter", doubled("saturation"), "saturation"),
    "hue 0.2": ("colour jitter", doubled("hue"), "mean hue"),
    "jitter in a fixed order": ("colour jitter", jitter_in_a_fixed_order, "clipped"),
    "rotation 30": ("rotation", functools.partial(augment.random_rotation, degrees=30.0), "angle"),
    "rotation 18": ("rotation", functools.partial(augment.random_rotation, degrees=18.0), "zero fill"),
    "rotation before jitter": (
        "augment_batch",
        our_recipe(OUR_CROP, augment.random_horizontal_flip, OUR_ROTATION, OUR_JITTER),
        "black",
    ),
    "recipe without flip": ("augment_batch", our_recipe(OUR_CROP, OUR_JITTER, OUR_ROTATION), "centre x"),
}


@pytest.mark.parametrize("control", CONTROLS)
def test_the_statistics_reject_a_wrong_augmentation(control):
    name, wrong, statistic = CONTROLS[control]
    pvalues = ks_pvalues(our_statistics(CASES[name], wrong), torchvision_statistics(name))
    assert pvalues[statistic] < threshold(pvalues), pvalues
