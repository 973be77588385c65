"""Does a heatmap mark what the model uses? Deletion and insertion curves, Average Drop and Increase in Confidence.

A heatmap is faithful when the pixels it ranks first are the ones the model's decision rests on:

- *Deletion* (Petsiuk et al. 2018, RISE): replace the pixels, strongest first, by a fill in ``steps`` equal steps and
  record the softmax probability of the class the model predicted on the clean image. A faithful map makes it fall
  fast: a **lower** area under the curve is better.
- *Insertion*: start from the fill and reveal the pixels, strongest first: a **higher** area is better.
- *Average Drop and Increase in Confidence* (Chattopadhyay et al. 2018, Grad-CAM++), computed as torch-cam's
  ``metrics.ClassificationMetric`` does: the normalised input multiplied by the map is scored;
  drop = relu(p - p_masked) / (p + 1e-7), increase = p_masked > p. Both are fractions (torch-cam's summary),
  not the percentages of the paper; lower drop and higher increase are better.

Every method below gives ``(N, H, W)`` maps at the input's size, min-max scaled to [0, 1] per image (torch-cam
scales its maps so too), so that the same map serves the curves (which only use its order) and the masking of
Average Drop (which uses its values). The perturbed images of many images are built with one ``torch.where`` and
scored in batches on the model's device by a private copy of the model (eval mode, each BatchNorm folded into the
conv before it, channels_last on the CPU); the caller's model is left as it was.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
import torch
import torchvision.transforms.v2.functional as TF
from scipy import stats
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret.channel_maps import normalize_map, upsample
from cnnlens.interpret.deconvnet import deconv_project, fold_batchnorm
from cnnlens.interpret.gradcam import grad_cam
from cnnlens.interpret.hooks import capture
from cnnlens.interpret.spatial_attention import spatial_attention_maps, spatial_gates
from cnnlens.models.modes import eval_mode
from cnnlens.training.batches import preferred_memory_format

STEPS = 8  # 9 points, 12.5 % of the pixels per step: finer steps barely move the AUC (benchmarks/faithfulness.py)
BLUR_SIGMA_FRACTION = 1 / 8  # blur sigma = min(H, W) / 8, i.e. 4 pixels on CIFAR-10: object shapes gone, colours kept
GAUSSIAN_SIGMA_FRACTION = 1 / 4  # the centre-bias baseline's sigma per side: H / 4 and W / 4
ADIC_EPSILON = 1e-7  # torch-cam's guard against division by zero in Average Drop
BASELINES = ("blur", "mean")
MODEL_METHODS = ("channels", "gradcam", "deconvnet", "spatial_attention")
BASELINE_METHODS = ("random", "gaussian")
METHODS = MODEL_METHODS + BASELINE_METHODS

MapFunction = Callable[[nn.Module, torch.Tensor], torch.Tensor]
ModelType = TypeVar("ModelType", bound=nn.Module)


# ---- the heatmap methods: model + normalised images -> (N, H, W) maps in [0, 1] ----


def channel_heatmap(model: nn.Module, images: torch.Tensor, layer: str = "conv3", k: int = 3) -> torch.Tensor:
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
    return _unit_maps(normalize_map(chosen).mean(1), _size(images))


def gradcam_heatmap(model: nn.Module, images: torch.Tensor, layer: str = "conv3") -> torch.Tensor:
    """Grad-CAM of each image's predicted class (:func:`cnnlens.interpret.gradcam.grad_cam`)."""
    return grad_cam(model, images, layer)


def deconv_heatmap(model: nn.Module, images: torch.Tensor, layer: str = "conv3") -> torch.Tensor:
    """The deconvnet projection of each image's strongest ``layer`` activation, absolute value summed over colours."""
    if not isinstance(model, nn.Sequential):
        raise CnnlensError("the deconvnet walks a flat nn.Sequential conv trunk: this model is not one")
    return normalize_map(deconv_project(model, images, layer).projection.abs().sum(1))


def attention_heatmap(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """CBAM's spatial attention of the deepest block, upsampled and min-max scaled."""
    gate = list(spatial_attention_maps(model, images).values())[-1]
    return _unit_maps(gate[:, 0], _size(images))


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
) -> dict[str, torch.Tensor]:
    """Each method's ``(N, H, W)`` maps in [0, 1] on the model's device, the model-based ones ``batch_size`` at a time.

    ``methods`` defaults to :func:`available_methods`; ``seed`` draws the random baseline; ``batch_size`` defaults to
    :func:`default_batch_size`.
    """
    methods = _checked_methods(model, methods)
    images = images.to(_device(model))
    batch_size = batch_size or default_batch_size(images.device)
    maps = {}
    for name in methods:
        if name == "random":
            maps[name] = random_heatmap(len(images), _size(images), seed).to(images.device)
        elif name == "gaussian":
            maps[name] = gaussian_heatmap(len(images), _size(images)).to(images.device)
        else:
            maps[name] = torch.cat([MODEL_MAPS[name](model, chunk) for chunk in images.split(batch_size)])
    return maps


# ---- the fill that deleted pixels get ----


def blurred(images: torch.Tensor) -> torch.Tensor:
    """Each image blurred by a Gaussian of sigma ``min(H, W) / 8``, truncated at 3 sigma, reflected at the borders.

    Blurring removes the shapes a CNN keys on but keeps each region's colour, so a deleted region reads as "no
    evidence" rather than as a black patch the model never saw in training (RISE blurs for insertion likewise).
    """
    height, width = _size(images)
    sigma = BLUR_SIGMA_FRACTION * min(height, width)
    largest = 2 * min(height, width) - 1  # reflection padding needs a kernel narrower than twice the image
    kernel = min(2 * math.ceil(3 * sigma) + 1, largest if largest % 2 else largest - 1)
    return TF.gaussian_blur(images, [kernel, kernel], [sigma, sigma])


def mean_colour(images: torch.Tensor) -> torch.Tensor:
    """Each image's mean colour everywhere, ``(N, C, H, W)``."""
    return images.mean((2, 3), keepdim=True).expand_as(images).clone()


def fill(images: torch.Tensor, baseline: str = "blur") -> torch.Tensor:
    """The fill of ``baseline`` (``blur`` or ``mean``) for the (normalised) images."""
    if baseline == "blur":
        return blurred(images)
    if baseline == "mean":
        return mean_colour(images)
    raise CnnlensError(f"unknown baseline '{baseline}': choose one of {', '.join(BASELINES)}")


# ---- deletion, insertion and Average Drop ----


@dataclass(frozen=True)
class Curves:
    """Deletion and insertion curves of one method, one row per image.

    Attributes:
        fractions: ``(steps + 1,)`` fraction of the pixels deleted (inserted) at each point, 0 to 1.
        deletion: ``(N, steps + 1)`` probability of ``classes`` as pixels are deleted, strongest first.
        insertion: ``(N, steps + 1)`` the same as pixels are revealed on the fill, strongest first.
        classes: ``(N,)`` the class each curve follows: the model's prediction on the clean image.
    """

    fractions: torch.Tensor
    deletion: torch.Tensor
    insertion: torch.Tensor
    classes: torch.Tensor

    @property
    def deletion_auc(self) -> torch.Tensor:
        """``(N,)`` area under each deletion curve (trapezoid rule over the fraction of pixels): lower is better."""
        return torch.trapezoid(self.deletion, self.fractions, dim=1)

    @property
    def insertion_auc(self) -> torch.Tensor:
        """``(N,)`` area under each insertion curve: higher is better."""
        return torch.trapezoid(self.insertion, self.fractions, dim=1)


def pixel_ranks(maps: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Each pixel's place in its image's order, ``(N, H * W)``: 0 for the strongest, ties in a random order.

    Ties are broken by a random permutation drawn from ``seed`` (on the CPU, so every device draws the same):
    without it a flat region would be deleted row by row from the top, a bias of its own.
    """
    flat = maps.flatten(1)
    if not torch.isfinite(flat).all():
        raise CnnlensError("heatmaps for deletion and insertion must be finite")
    generator = torch.Generator().manual_seed(seed)
    shuffle = torch.rand(flat.shape, generator=generator).argsort(1).to(flat.device)
    order = shuffle.gather(1, flat.gather(1, shuffle).argsort(dim=1, descending=True, stable=True))
    places = torch.arange(flat.shape[1], device=flat.device).expand_as(order)
    return torch.empty_like(order).scatter_(1, order, places)


def step_counts(pixels: int, steps: int = STEPS) -> torch.Tensor:
    """How many pixels are deleted (inserted) at each of the ``steps + 1`` points: ``k * pixels // steps``."""
    if steps < 1:
        raise CnnlensError(f"deletion and insertion need at least 1 step, got {steps}")
    return torch.arange(steps + 1) * pixels // steps


def deletion_insertion(
    model: nn.Module,
    images: torch.Tensor,
    maps: torch.Tensor,
    *,
    steps: int = STEPS,
    baseline: str = "blur",
    seed: int = 0,
    batch_size: int | None = None,
) -> Curves:
    """Deletion and insertion curves of ``maps`` (``(N, H, W)``, any scale: only the order counts) on ``images``.

    ``seed`` breaks ties in the pixel order (:func:`pixel_ranks`); ``batch_size`` images go through one forward pass
    (:func:`default_batch_size` by default).
    """
    scoring = _Scoring.prepare(model, images, baseline, batch_size)
    return scoring.curves(maps, steps, seed)


def average_drop_increase(
    model: nn.Module, images: torch.Tensor, maps: torch.Tensor, *, batch_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image Average Drop ``(N,)`` and Increase in Confidence ``(N,)`` (bool), as torch-cam computes them.

    The normalised images are multiplied by ``maps`` (``(N, H, W)`` in [0, 1]) and scored for the class predicted on
    the clean image. Their means are the two metrics.
    """
    scoring = _Scoring.prepare(model, images, None, batch_size)
    return scoring.average_drop_increase(maps)


@dataclass(frozen=True)
class MethodScores:
    """What one heatmap method scored on each image (lower deletion AUC, higher insertion AUC = more faithful).

    Attributes:
        method: the method's name in :data:`METHODS`.
        curves: its deletion and insertion curves.
        deletion_auc: ``(N,)``; insertion_auc: ``(N,)``.
        average_drop: ``(N,)`` torch-cam's drop per image; increase: ``(N,)`` bool.
    """

    method: str
    curves: Curves
    deletion_auc: torch.Tensor
    insertion_auc: torch.Tensor
    average_drop: torch.Tensor
    increase: torch.Tensor


def evaluate_faithfulness(
    model: nn.Module,
    images: torch.Tensor,
    methods: Sequence[str] | None = None,
    *,
    steps: int = STEPS,
    baseline: str = "blur",
    seed: int = 0,
    batch_size: int | None = None,
    maps: dict[str, torch.Tensor] | None = None,
) -> dict[str, MethodScores]:
    """Every method's maps for ``images``, scored by deletion, insertion, Average Drop and Increase in Confidence.

    The clean and filled images are scored once for all methods. ``seed`` draws the random baseline and breaks ties
    in the pixel order (the same tie-break for every method); ``batch_size`` images go through one forward pass
    (:func:`default_batch_size` by default). ``maps`` (method -> ``(N, H, W)`` in [0, 1]) are
    scored instead of computing :func:`heatmaps` (e.g. the ones a report also shows). Results are on the CPU.
    """
    if maps is None:
        maps = heatmaps(model, images, methods, seed=seed, batch_size=batch_size)
    scoring = _Scoring.prepare(model, images, baseline, batch_size)
    results = {}
    for name, method_maps in maps.items():
        curves = scoring.curves(method_maps, steps, seed)
        drop, increase = scoring.average_drop_increase(method_maps)
        results[name] = MethodScores(name, curves, curves.deletion_auc, curves.insertion_auc, drop, increase)
    return results


def faithfulness_table(results: dict[str, MethodScores]) -> pd.DataFrame:
    """One row per method: mean deletion and insertion AUC, Average Drop, Increase in Confidence, and image count."""
    return pd.DataFrame(
        [
            {
                "method": name,
                "deletion_auc": scores.deletion_auc.mean().item(),
                "insertion_auc": scores.insertion_auc.mean().item(),
                "average_drop": scores.average_drop.mean().item(),
                "increase_in_confidence": scores.increase.float().mean().item(),
                "images": len(scores.deletion_auc),
            }
            for name, scores in results.items()
        ]
    )


def paired_comparison(results: dict[str, MethodScores], metric: str = "deletion_auc") -> pd.DataFrame:
    """Wilcoxon signed-rank test of every pair of methods on their per-image ``metric``, over the same images.

    Methods are scored on the same images, so the test is paired. ``p_holm`` adjusts the p-values for the number of
    pairs (Holm's step-down). ``favours`` names the method the test's own statistic leans to: the sign of
    ``signed_ranks``, the sum of the ranks of the positive differences (a - b) minus that of the negative ones, with
    lower values better for ``deletion_auc`` and ``average_drop`` and higher ones otherwise; empty on a tie. (The means
    and the median can lean the other way: a few large differences move the mean, the ranks move the test.)

    Returns:
        One row per pair: ``metric``, ``method_a``, ``method_b``, their means, ``median_difference`` (a - b),
        ``signed_ranks``, ``statistic`` and ``p_value`` (scipy's two-sided test), ``p_holm``, ``favours``, ``images``.
    """
    lower_is_better = metric in ("deletion_auc", "average_drop")
    rows = []
    for a, b in itertools.combinations(results, 2):
        first, second = _metric(results[a], metric), _metric(results[b], metric)
        differences = (first - second).double().numpy()
        if (differences == 0).all():
            statistic, p_value = 0.0, 1.0
        else:
            test = stats.wilcoxon(differences)
            statistic, p_value = float(test.statistic), float(test.pvalue)
        nonzero = differences[differences != 0]  # scipy's default drops zero differences too
        ranks = stats.rankdata(np.abs(nonzero))
        signed_ranks = float(ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum())
        better_a = signed_ranks < 0 if lower_is_better else signed_ranks > 0
        rows.append(
            {
                "metric": metric,
                "method_a": a,
                "method_b": b,
                "mean_a": first.mean().item(),
                "mean_b": second.mean().item(),
                "median_difference": float(np.median(differences)),
                "signed_ranks": signed_ranks,
                "statistic": statistic,
                "p_value": p_value,
                "favours": "" if signed_ranks == 0 else (a if better_a else b),
                "images": len(differences),
            }
        )
    table = pd.DataFrame(rows)
    if len(table):
        table.insert(table.columns.get_loc("p_value") + 1, "p_holm", _holm(table["p_value"].to_numpy()))
    return table


# ---- internals ----


@dataclass(frozen=True)
class _Scoring:
    """What every method's scoring shares: the scoring model, the images, their fill, class and clean probability."""

    model: nn.Module
    images: torch.Tensor
    classes: torch.Tensor
    clean: torch.Tensor
    batch_size: int
    fills: torch.Tensor | None = None  # None where only Average Drop is wanted
    filled: torch.Tensor | None = None

    @classmethod
    def prepare(cls, model: nn.Module, images: torch.Tensor, baseline: str | None, batch_size: int | None) -> _Scoring:
        if images.ndim != 4 or not images.is_floating_point():
            shape = tuple(images.shape)
            raise CnnlensError(f"faithfulness needs float images (N, C, H, W), got {images.dtype} {shape}")
        scorer = scoring_copy(model)
        images = images.to(_device(model))
        batch_size = _checked_batch_size(batch_size, images.device)
        with torch.inference_mode():
            probabilities = torch.cat([scorer(chunk).softmax(1) for chunk in _batches(images, batch_size)])
        classes = probabilities.argmax(1)
        clean = probabilities.gather(1, classes[:, None])[:, 0]
        if baseline is None:
            return cls(scorer, images, classes, clean, batch_size)
        fills = fill(images, baseline)
        filled = _probabilities(scorer, fills, classes, batch_size)
        return cls(scorer, images, classes, clean, batch_size, fills, filled)

    def curves(self, maps: torch.Tensor, steps: int, seed: int) -> Curves:
        """Deletion and insertion curves of ``maps``; the end points are the shared clean and filled scores."""
        self._check_maps(maps)
        assert self.fills is not None and self.filled is not None, "prepared without a baseline"
        counts = step_counts(maps.shape[-2] * maps.shape[-1], steps).to(self.images.device)
        ranks = pixel_ranks(maps.to(self.images.device), seed)
        inner = counts[1:-1]
        copies = 2 * len(inner)
        # Many images per pass, all inner steps of deletion and insertion of each image in the same pass.
        per_pass = max(1, self.batch_size // max(1, copies))
        scored = [torch.empty(0, copies, device=self.images.device)]
        for start in range(0, len(ranks) if copies else 0, per_pass):
            part = slice(start, start + per_pass)
            batch = _perturbed(self.images[part], self.fills[part], ranks[part], inner)
            classes = self.classes[part].repeat_interleave(copies)
            scored.append(_probabilities(self.model, batch, classes, self.batch_size).view(-1, copies))
        inner_scores = torch.cat(scored) if copies else torch.empty(len(ranks), 0, device=self.images.device)
        clean, filled = self.clean[:, None], self.filled[:, None]
        deletion = torch.cat([clean, inner_scores[:, : len(inner)], filled], 1)
        insertion = torch.cat([filled, inner_scores[:, len(inner) :], clean], 1)
        fractions = (counts.double() / counts[-1]).float()
        return Curves(fractions.cpu(), deletion.cpu(), insertion.cpu(), self.classes.cpu())

    def average_drop_increase(self, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """torch-cam's drop and increase for ``maps`` in [0, 1]."""
        self._check_maps(maps)
        maps = maps.to(self.images.device)
        if maps.amin() < 0 or maps.amax() > 1:
            raise CnnlensError("Average Drop multiplies the images by the maps: scale them to [0, 1] first")
        masked = _probabilities(self.model, self.images * maps[:, None], self.classes, self.batch_size)
        drop = torch.relu(self.clean - masked) / (self.clean + ADIC_EPSILON)
        return drop.cpu(), (self.clean < masked).cpu()

    def _check_maps(self, maps: torch.Tensor) -> None:
        expected = (self.images.shape[0], *self.images.shape[-2:])
        if tuple(maps.shape) != expected:
            raise CnnlensError(f"heatmaps must be (N, H, W) = {expected} for these images, got {tuple(maps.shape)}")


def default_batch_size(device: torch.device) -> int:
    """Images per forward pass: 64 on the CPU, whose per-core caches then hold a batch's activations (larger
    batches run slower there, benchmarks/faithfulness.py), 1024 on an accelerator."""
    return 64 if device.type == "cpu" else 1024


def scoring_copy(model: ModelType) -> ModelType:
    """A copy of ``model`` for scoring many images: eval mode, BatchNorm folded into the conv before it, and
    channels_last on the CPU. Same outputs up to rounding; the caller's model is not touched."""
    scorer = copy.deepcopy(model).eval().requires_grad_(False)
    if isinstance(scorer, nn.Sequential):
        children = list(scorer.named_children())
        for (name, module), (next_name, following) in itertools.pairwise(children):
            if isinstance(module, nn.Conv2d) and isinstance(following, nn.BatchNorm2d) and _foldable(following):
                setattr(scorer, name, fold_batchnorm(module, following).requires_grad_(False))
                setattr(scorer, next_name, nn.Identity())
    return scorer.to(memory_format=preferred_memory_format(_device(scorer)))


def _checked_batch_size(batch_size: int | None, device: torch.device) -> int:
    if batch_size is None:
        return default_batch_size(device)
    if batch_size < 1:
        raise CnnlensError(f"batch size must be at least 1, got {batch_size}")
    return batch_size


def _foldable(bn: nn.BatchNorm2d) -> bool:
    return bn.track_running_stats and bn.running_mean is not None and bn.affine


def _perturbed(images: torch.Tensor, fills: torch.Tensor, ranks: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """All deletion then all insertion copies of each image, ``(n * 2 * len(counts), C, H, W)``, channels_last.

    Copy ``s`` of deletion has its ``counts[s]`` strongest pixels replaced by the fill; copy ``s`` of insertion has
    them revealed on the fill. Built in NHWC order, so the batch comes out channels_last without another copy.
    """
    count, channels, height, width = images.shape
    removed = ranks.view(count, 1, height, width, 1) < counts.view(1, -1, 1, 1, 1)
    pixels = images.permute(0, 2, 3, 1)[:, None]
    filler = fills.permute(0, 2, 3, 1)[:, None]
    copies = torch.cat([torch.where(removed, filler, pixels), torch.where(removed, pixels, filler)], 1)
    return copies.view(-1, height, width, channels).permute(0, 3, 1, 2)


def _probabilities(model: nn.Module, images: torch.Tensor, classes: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Softmax probability of ``classes[i]`` for ``images[i]``, ``batch_size`` images per forward pass."""
    with torch.inference_mode():
        scores = [
            model(chunk).softmax(1).gather(1, wanted[:, None])[:, 0]
            for chunk, wanted in zip(_batches(images, batch_size), classes.split(batch_size), strict=True)
        ]
    return torch.cat(scores) if scores else images.new_empty(0)


def _batches(images: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Chunks of ``images`` in the model's preferred memory format."""
    memory_format = preferred_memory_format(images.device)
    return [chunk.contiguous(memory_format=memory_format) for chunk in images.split(batch_size)]


def _unit_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Upsample ``(N, h, w)`` maps to ``size`` and min-max scale them; a map flat before upsampling stays zeros.

    (Bilinear resizing of a constant map wobbles by rounding, which scaling would blow up to the full range.)
    """
    scaled = normalize_map(upsample(maps, size))
    flat = maps.amax((1, 2)) == maps.amin((1, 2))
    return torch.where(flat[:, None, None], torch.zeros_like(scaled), scaled)


def _holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: the i-th smallest p times (m - i), made monotone and capped at 1."""
    order = sorted(range(len(p_values)), key=lambda index: p_values[index])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for place, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - place) * p_values[index]))
        adjusted[index] = running
    return adjusted


def _metric(scores: MethodScores, metric: str) -> torch.Tensor:
    if metric not in ("deletion_auc", "insertion_auc", "average_drop", "increase"):
        raise CnnlensError(f"unknown metric '{metric}': choose deletion_auc, insertion_auc, average_drop or increase")
    return getattr(scores, metric).float()


def _checked_methods(model: nn.Module, methods: Sequence[str] | None) -> tuple[str, ...]:
    available = available_methods(model)
    if methods is None:
        return available
    unknown = [name for name in methods if name not in available]
    if unknown:
        raise CnnlensError(f"methods {unknown} do not apply to this model: choose from {', '.join(available)}")
    return tuple(methods)


def _device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _size(images: torch.Tensor) -> tuple[int, int]:
    return images.shape[-2], images.shape[-1]
