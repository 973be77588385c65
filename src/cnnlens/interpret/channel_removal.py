"""Are attention weights an importance signal? Zero a block's channels by their weight and watch the model.

For every attention module (squeeze-and-excitation ``ca<k>``, weights from ``ca<k>.gate``; CBAM ``ca<k>``, weights
from ``ca<k>.channel.gate``) each image's ``k`` channels ranked highest, the ``k`` lowest and ``k`` at random are set
to zero at the module's output, for ``k`` a fraction of the channels; the softmax probability of the true class (per
image) and the accuracy are recorded beside the unmodified model's. If a ranking marks the channels the decision
rests on, removing its highest channels hurts more than removing random ones, and its lowest less.

Two criteria rank the channels (:data:`CRITERIA`): the attention weight (``weight``), and the channel's mean
activation at the cut for that image (``activation``: for an attention model the gated activation, the module's
output). Inside one model the two say whether the weight adds anything to the activation it scales; across models the
same criterion compares the models. The plain CNN has no weights; its blocks are cut at the same place (after
``relu<k>``) and ranked by activation only. The model is split at the cut: the part before it runs once per batch,
the part after it once per condition, on a copy of the model (:func:`cnnlens.interpret.scoring.scoring_copy`); the
caller's model is not touched.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret.hooks import capture
from cnnlens.interpret.scoring import default_batch_size, scoring_copy
from cnnlens.models.cnn import attention_gates
from cnnlens.training.batches import preferred_memory_format

FRACTIONS = (0.1, 0.25, 0.5)
CRITERIA = ("weight", "activation")  # what ranks the channels: the attention weight, the (gated) mean activation
RANKINGS = ("highest", "lowest", "random")


@dataclass(frozen=True)
class RemovalSite:
    """Where channels are removed and what ranks them.

    Attributes:
        module: the top-level module at whose output channels are zeroed (``ca2``, or ``relu2`` in the plain CNN).
        gate: the sigmoid whose output holds the channel weights (``ca2.gate``, ``ca2.channel.gate``); ``None`` in a
            model without attention, whose channels only the activation ranks.
    """

    module: str
    gate: str | None

    @property
    def criteria(self) -> tuple[str, ...]:
        """The criteria (:data:`CRITERIA`) that rank this site's channels."""
        return CRITERIA if self.gate else ("activation",)


def removal_sites(model: nn.Module) -> list[RemovalSite]:
    """Every attention module of ``model`` in forward order; for a model without one, each conv block's ReLU."""
    gates = attention_gates(model)
    if gates:
        return [RemovalSite(module, gate) for module, gate in gates.items()]
    names = dict(model.named_children())
    blocks = [name.removeprefix("conv") for name in names if name.startswith("conv")]
    return [RemovalSite(f"relu{block}", None) for block in blocks if f"relu{block}" in names]


@dataclass(frozen=True)
class Removal:
    """Channel removal at every site.

    Attributes:
        table: one row per site and condition, a ``reference`` row (nothing removed) first at each site: ``site``,
            ``criterion`` (:data:`CRITERIA`; empty for the reference and the random order), ``ranking``, ``fraction``,
            ``removed``, ``channels``, ``accuracy``, ``true_class_probability`` (the mean over the images),
            ``images``.
        probabilities: ``(rows, N)`` the true class's probability of every image in every row of ``table``, for
            paired comparisons of conditions image by image.
    """

    table: pd.DataFrame
    probabilities: torch.Tensor


def channel_removal(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    fractions: Sequence[float] = FRACTIONS,
    seed: int = 0,
    batch_size: int | None = None,
) -> Removal:
    """Accuracy and true-class probability with each site's highest, lowest (by each criterion) and random channels
    zeroed.

    Args:
        model: a flat ``nn.Sequential`` classifier (a cnnlens CNN); not modified.
        images: ``(N, C, H, W)`` normalised inputs; labels: ``(N,)`` true classes.
        fractions: fractions of a site's channels to zero; ``k = max(1, round(fraction * channels))``. The sets are
            nested: each image's ranking is cut at every ``k``, the random one too (one random order per image).
        seed: draws the random orders (on the CPU, so every device draws the same).
        batch_size: images per forward pass, all conditions of an image in the same pass; by default
            :func:`cnnlens.interpret.deletion_insertion.default_batch_size`.

    Returns:
        The :class:`Removal` table and per-image probabilities.
    """
    if not isinstance(model, nn.Sequential):
        raise CnnlensError("channel removal splits a flat nn.Sequential model at a block: this model is not one")
    if len(images) != len(labels):
        raise CnnlensError(f"{len(images)} images but {len(labels)} labels")
    if not all(0 < fraction <= 1 for fraction in fractions):
        raise CnnlensError(f"fractions of channels must lie in (0, 1], got {list(fractions)}")
    sites = removal_sites(model)
    if not sites:
        raise CnnlensError("the model has neither attention modules nor conv blocks to remove channels from")
    scorer = scoring_copy(model)
    device = next(scorer.parameters()).device
    batch_size = batch_size or default_batch_size(device)
    images, labels = images.to(device), labels.to(device)
    parts = [_site_removal(scorer, site, images, labels, fractions, seed, batch_size) for site in sites]
    return Removal(
        pd.concat([part.table for part in parts], ignore_index=True), torch.cat([part.probabilities for part in parts])
    )


def _site_removal(
    scorer: nn.Sequential,
    site: RemovalSite,
    images: torch.Tensor,
    labels: torch.Tensor,
    fractions: Sequence[float],
    seed: int,
    batch_size: int,
) -> Removal:
    """The reference and every (criterion, ranking, fraction) condition at one site, over all images."""
    children = list(scorer.named_children())
    cut = [name for name, _ in children].index(site.module) + 1
    before, after = nn.Sequential(OrderedDict(children[:cut])), nn.Sequential(OrderedDict(children[cut:]))
    conditions = _conditions(site, fractions)
    per_pass = max(1, batch_size // len(conditions))
    channels = _channels_at(before)
    generator = torch.Generator().manual_seed(seed)
    random_keys, tie_keys = torch.rand(2, len(images), channels, generator=generator).to(images.device)
    correct, probabilities = [], []
    with torch.inference_mode(), capture(scorer, [site.gate] if site.gate else []) as outputs:
        for start in range(0, len(images), per_pass):
            part = slice(start, start + per_pass)
            block = before(images[part].contiguous(memory_format=preferred_memory_format(images.device)))
            scores = {"activation": block.mean((2, 3))} | (
                {"weight": outputs[site.gate].flatten(1)} if site.gate else {}
            )
            kept = _kept_channels(scores, random_keys[part], tie_keys[part], conditions)
            logits = after(_with_channels_zeroed(block, kept))
            wanted = labels[part].repeat(len(conditions))
            correct.append((logits.argmax(1) == wanted).double().view(len(conditions), -1))
            probabilities.append(logits.softmax(1).gather(1, wanted[:, None]).double().view(len(conditions), -1))
    hits, chosen = torch.cat(correct, 1), torch.cat(probabilities, 1)
    rows = [
        _row(site, condition, channels, accuracy, probability, len(images))
        for condition, accuracy, probability in zip(
            conditions, hits.mean(1).tolist(), chosen.mean(1).tolist(), strict=True
        )
    ]
    return Removal(pd.DataFrame(rows), chosen.float().cpu())


Condition = tuple[str, str, float]  # (criterion, ranking, fraction); the reference is ("", "reference", 0)


def _conditions(site: RemovalSite, fractions: Sequence[float]) -> list[Condition]:
    """The reference, then per criterion its highest and lowest orders, then the random order, each at every
    fraction."""
    ranked = [(criterion, ranking) for criterion in site.criteria for ranking in RANKINGS[:2]] + [("", "random")]
    return [("", "reference", 0.0)] + [(criterion, ranking, f) for criterion, ranking in ranked for f in fractions]


def _kept_channels(
    scores: dict[str, torch.Tensor],
    random_keys: torch.Tensor,
    tie_keys: torch.Tensor,
    conditions: list[Condition],
) -> torch.Tensor:
    """``(conditions, n, C)`` masks, 1 for a channel kept; the reference keeps all.

    Equal scores are ordered by ``tie_keys`` (random): with ties in index order, the channels with the lowest
    indices would be removed first wherever the gates saturate alike, by "highest" and "lowest" both.
    """
    count, channels = random_keys.shape
    shuffle = tie_keys.argsort(dim=1)
    orders = {("", "random"): random_keys.argsort(dim=1)}
    for criterion, values in scores.items():
        shuffled = values.gather(1, shuffle)
        orders[criterion, "highest"] = shuffle.gather(1, shuffled.argsort(dim=1, descending=True, stable=True))
        orders[criterion, "lowest"] = shuffle.gather(1, shuffled.argsort(dim=1, stable=True))
    kept = torch.ones(len(conditions), count, channels, device=random_keys.device)
    for index, (criterion, ranking, fraction) in enumerate(conditions):
        if ranking != "reference":
            kept[index].scatter_(1, orders[criterion, ranking][:, : removed_count(fraction, channels)], 0.0)
    return kept


def _with_channels_zeroed(block: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """Every condition's copy of the block output, ``(conditions * n, C, h, w)``, built channels_last (NHWC)."""
    _, channels, height, width = block.shape
    copies = block.permute(0, 2, 3, 1)[None] * kept[:, :, None, None, :]
    return copies.view(-1, height, width, channels).permute(0, 3, 1, 2)


def _channels_at(before: nn.Sequential) -> int:
    """Channels of the cut: those of the last conv before it (attention and ReLU keep the count)."""
    convs = [module for module in before if isinstance(module, nn.Conv2d)]
    if not convs:
        raise CnnlensError("a removal site must come after a conv layer")
    return convs[-1].out_channels


def removed_count(fraction: float, channels: int) -> int:
    """How many of ``channels`` a ``fraction`` removes: the nearest whole number, halves up, at least 1 (0.1 of 32
    is 3, 0.25 of 10 is 3)."""
    return max(1, math.floor(fraction * channels + 0.5))


def _row(
    site: RemovalSite, condition: Condition, channels: int, accuracy: float, probability: float, images: int
) -> dict:
    criterion, ranking, fraction = condition
    return {
        "site": site.module,
        "criterion": criterion,
        "ranking": ranking,
        "fraction": fraction,
        "removed": 0 if ranking == "reference" else removed_count(fraction, channels),
        "channels": channels,
        "accuracy": accuracy,
        "true_class_probability": probability,
        "images": images,
    }
