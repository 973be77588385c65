"""Does a heatmap mark what the model uses? Deletion and insertion curves, Average Drop and Increase in Confidence.

A heatmap is faithful when the pixels it ranks first are the ones the model's decision rests on:

- *Deletion* (Petsiuk et al. 2018, RISE): replace the pixels, strongest first, by a fill in ``steps`` equal steps and
  record the softmax probability of the class the model predicted on the clean image. A faithful map makes it fall
  fast: a **lower** area under the curve is better.
- *Insertion*: start from the fill and reveal the pixels, strongest first: a **higher** area is better.
- The two together, per image, as one score: insertion AUC minus deletion AUC (:attr:`Curves.score`, higher is
  better), so that a map cannot win by what its holes do to the image alone (docs/conclusions.md says why).
- *Average Drop and Increase in Confidence* (Chattopadhyay et al. 2018, Grad-CAM++), computed as torch-cam's
  ``metrics.ClassificationMetric`` does: the normalised input multiplied by the map is scored;
  drop = relu(p - p_masked) / (p + 1e-7), increase = p_masked > p. Both are fractions (torch-cam's summary),
  not the percentages of the paper; lower drop and higher increase are better.

**Ties.** Many maps hold groups of equal values (Grad-CAM's zeros, the deconvnet's empty pixels, the rings of the
Gaussian): no order inside such a group is the map's. A curve is therefore scored only where whole groups have been
deleted, and a step that falls inside a group is interpolated linearly between the group's two ends
(:func:`pixel_order`). No tie order, random or by index, decides a score; the curve at a count does not depend on the
other steps either, so the curves of twice the steps hold those of ``steps`` at every other point.

The maps come from :mod:`cnnlens.interpret.heatmap_methods`. The perturbed images of many images are scored in batches
on the model's device by a private copy of the model (:mod:`cnnlens.interpret.scoring`); the caller's model is left as
it was.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torchvision.transforms.v2.functional as TF
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret.heatmap_methods import MODEL_METHODS, heatmaps, inverted, size_of
from cnnlens.interpret.scoring import batches, checked_batch_size, class_probabilities, device_of, scoring_copy

STEPS = 8  # 9 points, 12.5 % of the pixels per step: finer steps barely move the AUC (benchmarks/faithfulness.py)
BLUR_SIGMA_FRACTION = 1 / 8  # blur sigma = min(H, W) / 8, i.e. 4 pixels on CIFAR-10: object shapes gone, colours kept
ADIC_EPSILON = 1e-7  # torch-cam's guard against division by zero in Average Drop
BASELINES = ("blur", "mean")  # the fills a deleted pixel can get
KNOBS = ("fill", "steps")  # the settings a ranking is recomputed under: the other fill, twice the steps


# ---- the fill that deleted pixels get ----


def blurred(images: torch.Tensor) -> torch.Tensor:
    """Each image blurred by a Gaussian of sigma ``min(H, W) / 8``, truncated at 3 sigma, reflected at the borders.

    Blurring removes the shapes a CNN keys on but keeps each region's colour, so a deleted region reads as "no
    evidence" rather than as a black patch the model never saw in training (RISE blurs for insertion likewise).
    """
    height, width = size_of(images)
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

    @property
    def score(self) -> torch.Tensor:
        """``(N,)`` insertion AUC minus deletion AUC, between -1 and 1: higher is more faithful."""
        return self.insertion_auc - self.deletion_auc

    def coarser(self, factor: int) -> Curves:
        """The curves at every ``factor``-th point: those of ``steps / factor`` steps, since
        ``(factor * k) * pixels // steps == k * pixels // (steps / factor)``."""
        if (len(self.fractions) - 1) % factor:
            raise CnnlensError(f"{len(self.fractions) - 1} steps do not divide into {factor}")
        points = slice(None, None, factor)
        return Curves(self.fractions[points], self.deletion[:, points], self.insertion[:, points], self.classes)


@dataclass(frozen=True)
class PixelOrder:
    """Each image's pixels, strongest first, and the groups of equal values that order cannot split.

    Attributes:
        ranks: ``(N, P)`` each pixel's place in its image's order, 0 for the strongest. Inside a group of equal
            values the places follow the pixel index; no curve depends on that order (see ``lower``).
        lower: ``(N, P + 1)`` for a count ``c`` of pixels, the largest group end at most ``c``: deleting the first
            ``lower[c]`` pixels deletes whole groups, whatever their order.
        upper: ``(N, P + 1)`` the smallest group end at least ``c``.
        tied_share: ``(N,)`` share of the pixels whose value another pixel of the same map shares.
    """

    ranks: torch.Tensor
    lower: torch.Tensor
    upper: torch.Tensor
    tied_share: torch.Tensor


def pixel_order(maps: torch.Tensor) -> PixelOrder:
    """The :class:`PixelOrder` of ``(N, H, W)`` maps."""
    flat = maps.flatten(1)
    if not torch.isfinite(flat).all():
        raise CnnlensError("heatmaps for deletion and insertion must be finite")
    count, pixels = flat.shape
    values, order = flat.sort(dim=1, descending=True, stable=True)
    equal_next = values[:, 1:] == values[:, :-1]  # (N, P - 1): pixel j + 1 ties with pixel j in the order
    ends = torch.ones(count, pixels + 1, dtype=torch.bool, device=flat.device)
    ends[:, 1:pixels] = ~equal_next
    positions = torch.arange(pixels + 1, device=flat.device).expand(count, -1)
    lower = torch.where(ends, positions, 0).cummax(1).values
    upper = torch.where(ends, positions, pixels).flip(1).cummin(1).values.flip(1)
    ranks = torch.empty_like(order).scatter_(1, order, positions[:, :pixels].contiguous())
    no = torch.zeros(count, 1, dtype=torch.bool, device=flat.device)
    tied = torch.cat([no, equal_next], 1) | torch.cat([equal_next, no], 1)
    return PixelOrder(ranks, lower, upper, tied.float().mean(1))


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
    batch_size: int | None = None,
) -> Curves:
    """Deletion and insertion curves of ``maps`` (``(N, H, W)``, any scale: only the order counts) on ``images``.

    ``batch_size`` images go through one forward pass (:func:`cnnlens.interpret.scoring.default_batch_size`).
    """
    scoring = _Scoring.prepare(model, images, baseline, batch_size)
    return scoring.curves(maps, steps)


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
    """What one heatmap method scored on each image.

    Attributes:
        method: the method's name.
        curves: its deletion and insertion curves (their AUCs and score per image: :class:`Curves`).
        average_drop: ``(N,)`` torch-cam's drop per image; increase: ``(N,)`` bool.
        tied_share: ``(N,)`` share of each map's pixels that tie with another (:class:`PixelOrder`).
    """

    method: str
    curves: Curves
    average_drop: torch.Tensor
    increase: torch.Tensor
    tied_share: torch.Tensor


@dataclass(frozen=True)
class Evaluation:
    """Every method's scores, and the controls that say how far to trust them.

    Attributes:
        scores: method -> its :class:`MethodScores` at the given fill and steps.
        inverted: model-based method -> the curves of its inverted map (:func:`~.heatmap_methods.inverted`), which
            must score worse than the map itself.
        knobs: knob (:data:`KNOBS`) -> method -> curves with that knob turned: ``fill`` the other fill, ``steps``
            twice the steps; the ranking of the methods should not depend on either.
        knob_settings: knob -> ``(fill, steps)`` it was measured with.
    """

    scores: dict[str, MethodScores]
    inverted: dict[str, Curves]
    knobs: dict[str, dict[str, Curves]]
    knob_settings: dict[str, tuple[str, int]]


def knob_settings(baseline: str, steps: int) -> dict[str, tuple[str, int]]:
    """The fill and steps of each knob (:data:`KNOBS`) beside the given ones."""
    other = next(fill for fill in BASELINES if fill != baseline)
    return {"fill": (other, steps), "steps": (baseline, 2 * steps)}


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
    controls: bool = True,
) -> Evaluation:
    """Every method's maps for ``images``, scored by deletion, insertion, Average Drop and Increase in Confidence.

    ``seed`` draws the random baseline; ``batch_size`` images go through one forward pass; ``maps`` (method ->
    ``(N, H, W)`` in [0, 1]) are scored instead of computing :func:`~.heatmap_methods.heatmaps` (e.g. the ones a
    report also shows). With ``controls`` the inverted maps and the knobs are scored too (:class:`Evaluation`); the
    curves of twice the steps hold those of ``steps`` at every other point, so that knob costs only the points in
    between. Results are on the CPU.
    """
    if maps is None:
        maps = heatmaps(model, images, methods, seed=seed, batch_size=batch_size)
    scoring = _Scoring.prepare(model, images, baseline, batch_size)
    finer = {name: scoring.curves(method_maps, 2 * steps if controls else steps) for name, method_maps in maps.items()}
    scores = {}
    for name, method_maps in maps.items():
        drop, increase = scoring.average_drop_increase(method_maps)
        curves = finer[name].coarser(2) if controls else finer[name]
        scores[name] = MethodScores(name, curves, drop, increase, pixel_order(method_maps).tied_share.cpu())
    if not controls:
        return Evaluation(scores, {}, {}, {})
    settings = knob_settings(baseline, steps)
    other_fill = _Scoring.prepare(model, images, settings["fill"][0], batch_size)
    return Evaluation(
        scores,
        {name: scoring.curves(inverted(maps[name]), steps) for name in maps if name in MODEL_METHODS},
        {"fill": {name: other_fill.curves(method_maps, steps) for name, method_maps in maps.items()}, "steps": finer},
        settings,
    )


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
        images = images.to(device_of(model))
        batch_size = checked_batch_size(batch_size, images.device)
        with torch.inference_mode():
            probabilities = torch.cat([scorer(chunk).softmax(1) for chunk in batches(images, batch_size)])
        classes = probabilities.argmax(1)
        clean = probabilities.gather(1, classes[:, None])[:, 0]
        if baseline is None:
            return cls(scorer, images, classes, clean, batch_size)
        fills = fill(images, baseline)
        filled = class_probabilities(scorer, fills, classes, batch_size)
        return cls(scorer, images, classes, clean, batch_size, fills, filled)

    def curves(self, maps: torch.Tensor, steps: int) -> Curves:
        """Deletion and insertion curves of ``maps``, tie groups kept whole (see the module's docstring).

        Each inner step's count ``c`` lies between two group ends, ``lower[c] <= c <= upper[c]`` (the same where no
        group spans it); the images are scored once at each distinct end (the end points are the shared clean and
        filled scores) and the step's value is interpolated linearly between its two ends.
        """
        self._check_maps(maps)
        assert self.fills is not None and self.filled is not None, "prepared without a baseline"
        order = pixel_order(maps.to(self.images.device))
        pixels = order.ranks.shape[1]
        counts = step_counts(pixels, steps).to(self.images.device)
        inner = counts[1:-1].expand(len(maps), -1).contiguous()
        low, high = order.lower.gather(1, inner), order.upper.gather(1, inner)
        ends = torch.cat([low, high], 1).sort(1).values  # every count to score, ascending per image
        first = torch.ones_like(ends, dtype=torch.bool)
        first[:, 1:] = ends[:, 1:] != ends[:, :-1]
        rows, slots = (first & (ends > 0) & (ends < pixels)).nonzero(as_tuple=True)
        deleted, revealed = self._score_counts(order.ranks, rows, ends[rows, slots])
        at_low, at_high = torch.searchsorted(ends, low), torch.searchsorted(ends, high)  # first slot of each count
        weight = torch.where(high > low, (inner - low) / (high - low).clamp(min=1), 0.0)
        curves = []
        for start, end, scored in ((self.clean, self.filled, deleted), (self.filled, self.clean, revealed)):
            values = torch.where(ends == 0, start[:, None], end[:, None])
            values[rows, slots] = scored
            below, above = values.gather(1, at_low), values.gather(1, at_high)
            curves.append(torch.cat([start[:, None], below + weight * (above - below), end[:, None]], 1))
        fractions = (counts.double() / counts[-1]).float()
        return Curves(fractions.cpu(), curves[0].cpu(), curves[1].cpu(), self.classes.cpu())

    def average_drop_increase(self, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """torch-cam's drop and increase for ``maps`` in [0, 1]."""
        self._check_maps(maps)
        maps = maps.to(self.images.device)
        if maps.amin() < 0 or maps.amax() > 1:
            raise CnnlensError("Average Drop multiplies the images by the maps: scale them to [0, 1] first")
        masked = class_probabilities(self.model, self.images * maps[:, None], self.classes, self.batch_size)
        drop = torch.relu(self.clean - masked) / (self.clean + ADIC_EPSILON)
        return drop.cpu(), (self.clean < masked).cpu()

    def _score_counts(
        self, ranks: torch.Tensor, rows: torch.Tensor, counts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The probability of image ``rows[i]``'s class with its ``counts[i]`` strongest pixels deleted, and with only
        them revealed on the fill; both copies of an image in the same forward pass."""
        assert self.fills is not None
        per_pass = max(1, self.batch_size // 2)
        deleted, revealed = [], []
        for part in zip(rows.split(per_pass), counts.split(per_pass), strict=True):
            batch = _perturbed(self.images, self.fills, ranks, *part)
            classes = self.classes[part[0]].repeat(2)
            scores = class_probabilities(self.model, batch, classes, len(batch)).view(2, -1)
            deleted.append(scores[0])
            revealed.append(scores[1])
        empty = self.clean.new_empty(0)
        return torch.cat([empty, *deleted]), torch.cat([empty, *revealed])

    def _check_maps(self, maps: torch.Tensor) -> None:
        expected = (self.images.shape[0], *self.images.shape[-2:])
        if tuple(maps.shape) != expected:
            raise CnnlensError(f"heatmaps must be (N, H, W) = {expected} for these images, got {tuple(maps.shape)}")


def _perturbed(
    images: torch.Tensor, fills: torch.Tensor, ranks: torch.Tensor, rows: torch.Tensor, counts: torch.Tensor
) -> torch.Tensor:
    """Deletion copies then insertion copies, ``(2 * len(rows), C, H, W)``, channels_last: copy ``i`` of deletion has
    the ``counts[i]`` strongest pixels of image ``rows[i]`` replaced by its fill, copy ``i`` of insertion has only
    them revealed on the fill. Built in NHWC order, so the batch comes out channels_last without another copy."""
    height, width = size_of(images)
    removed = (ranks[rows] < counts[:, None]).view(-1, height, width, 1)
    pixels, filler = images[rows].permute(0, 2, 3, 1), fills[rows].permute(0, 2, 3, 1)
    copies = torch.cat([torch.where(removed, filler, pixels), torch.where(removed, pixels, filler)])
    return copies.permute(0, 3, 1, 2)
