"""Are attention weights an importance signal? Zero a block's channels by their weight and watch the model.

For every attention module (squeeze-and-excitation ``ca<k>``, weights from ``ca<k>.gate``; CBAM ``ca<k>``, weights
from ``ca<k>.channel.gate``) each image's ``k`` channels with the highest weight, the ``k`` lowest and ``k`` at random
are set to zero at the module's output, for ``k`` a fraction of the channels; the accuracy and the mean softmax
probability of the true class are recorded beside the unmodified model's. If the weights mark the channels the
decision rests on, removing the highest-weighted ones hurts more than removing random ones, and the lowest less.

The plain CNN has no weights; its blocks are cut at the same place (after ``relu<k>``) and ranked by the source's
ranking, the channel's mean activation for that image. The model is split at the cut: the part before it runs once
per batch, the part after it once per condition, on a copy of the model
(:func:`cnnlens.interpret.deletion_insertion.scoring_copy`); the caller's model is not touched.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret.deletion_insertion import default_batch_size, scoring_copy
from cnnlens.interpret.hooks import capture
from cnnlens.models.cnn import attention_gates
from cnnlens.training.batches import preferred_memory_format

FRACTIONS = (0.1, 0.25, 0.5)
RANKINGS = ("highest", "lowest", "random")


@dataclass(frozen=True)
class RemovalSite:
    """Where channels are removed and what ranks them.

    Attributes:
        module: the top-level module at whose output channels are zeroed (``ca2``, or ``relu2`` in the plain CNN).
        score: the module whose output ranks the channels: the sigmoid of the channel weights (``ca2.gate``,
            ``ca2.channel.gate``), or ``module`` itself, ranked by each channel's mean activation.
    """

    module: str
    score: str

    @property
    def ranked_by(self) -> str:
        return "mean activation" if self.score == self.module else "attention weight"


def removal_sites(model: nn.Module) -> list[RemovalSite]:
    """Every attention module of ``model`` in forward order; for a model without one, each conv block's ReLU."""
    gates = attention_gates(model)
    if gates:
        return [RemovalSite(module, score) for module, score in gates.items()]
    names = dict(model.named_children())
    blocks = [name.removeprefix("conv") for name in names if name.startswith("conv")]
    return [RemovalSite(f"relu{block}", f"relu{block}") for block in blocks if f"relu{block}" in names]


def channel_removal(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    fractions: Sequence[float] = FRACTIONS,
    seed: int = 0,
    batch_size: int | None = None,
) -> pd.DataFrame:
    """Accuracy and true-class probability with each site's highest, lowest and random channels zeroed.

    Args:
        model: a flat ``nn.Sequential`` classifier (a cnnlens CNN); not modified.
        images: ``(N, C, H, W)`` normalised inputs; labels: ``(N,)`` true classes.
        fractions: fractions of a site's channels to zero; ``k = max(1, round(fraction * channels))``. The sets are
            nested: each image's ranking is cut at every ``k``, the random one too (one random order per image).
        seed: draws the random orders (on the CPU, so every device draws the same).
        batch_size: images per forward pass, all conditions of an image in the same pass; by default
            :func:`cnnlens.interpret.deletion_insertion.default_batch_size`.

    Returns:
        One row per site, ranking and fraction, with a ``reference`` row (nothing removed) per site:
        ``site``, ``ranked_by``, ``ranking``, ``fraction``, ``removed``, ``channels``, ``accuracy``,
        ``true_class_probability``, ``images``.
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
    rows = []
    for site in sites:
        rows += _site_rows(scorer, site, images, labels, fractions, seed, batch_size)
    return pd.DataFrame(rows)


def _site_rows(
    scorer: nn.Sequential,
    site: RemovalSite,
    images: torch.Tensor,
    labels: torch.Tensor,
    fractions: Sequence[float],
    seed: int,
    batch_size: int,
) -> list[dict]:
    """The reference and every (ranking, fraction) condition at one site, over all images."""
    children = list(scorer.named_children())
    cut = [name for name, _ in children].index(site.module) + 1
    before, after = nn.Sequential(OrderedDict(children[:cut])), nn.Sequential(OrderedDict(children[cut:]))
    conditions = [(ranking, fraction) for ranking in RANKINGS for fraction in fractions]
    per_pass = max(1, batch_size // (len(conditions) + 1))
    correct = torch.zeros(len(conditions) + 1, dtype=torch.float64, device=images.device)
    probability = torch.zeros_like(correct)
    channels = _channels_at(before)
    generator = torch.Generator().manual_seed(seed)
    random_keys, tie_keys = torch.rand(2, len(images), channels, generator=generator).to(images.device)
    by_weight = site.score != site.module
    with torch.inference_mode(), capture(scorer, [site.score] if by_weight else []) as outputs:
        for start in range(0, len(images), per_pass):
            part = slice(start, start + per_pass)
            block = before(images[part].contiguous(memory_format=preferred_memory_format(images.device)))
            weights = outputs[site.score].flatten(1) if by_weight else block.mean((2, 3))
            kept = _kept_channels(weights, random_keys[part], tie_keys[part], conditions)
            logits = after(_with_channels_zeroed(block, kept))
            wanted = labels[part].repeat(len(conditions) + 1)
            hits = (logits.argmax(1) == wanted).double().view(len(conditions) + 1, -1)
            chosen = logits.softmax(1).gather(1, wanted[:, None]).double().view(len(conditions) + 1, -1)
            correct += hits.sum(1)
            probability += chosen.sum(1)
    accuracy, mean_probability = (correct / len(images)).tolist(), (probability / len(images)).tolist()
    rows = [_row(site, "reference", 0.0, 0, channels, accuracy[0], mean_probability[0], len(images))]
    for index, (ranking, fraction) in enumerate(conditions, start=1):
        removed = _removed_count(fraction, channels)
        scores = accuracy[index], mean_probability[index]
        rows.append(_row(site, ranking, fraction, removed, channels, *scores, len(images)))
    return rows


def _kept_channels(
    weights: torch.Tensor, random_keys: torch.Tensor, tie_keys: torch.Tensor, conditions: list[tuple[str, float]]
) -> torch.Tensor:
    """``(conditions + 1, n, C)`` masks, 1 for a channel kept; the first is the reference (all kept).

    Equal weights are ordered by ``tie_keys`` (random): with ties in index order, "highest" and "lowest" would
    remove the same channels where the gates saturate alike.
    """
    count, channels = weights.shape
    shuffle = tie_keys.argsort(dim=1)
    shuffled = weights.gather(1, shuffle)
    orders = {
        "highest": shuffle.gather(1, shuffled.argsort(dim=1, descending=True, stable=True)),
        "lowest": shuffle.gather(1, shuffled.argsort(dim=1, stable=True)),
        "random": random_keys.argsort(dim=1),
    }
    kept = torch.ones(len(conditions) + 1, count, channels, device=weights.device)
    for index, (ranking, fraction) in enumerate(conditions, start=1):
        kept[index].scatter_(1, orders[ranking][:, : _removed_count(fraction, channels)], 0.0)
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


def _removed_count(fraction: float, channels: int) -> int:
    return max(1, round(fraction * channels))


def _row(
    site: RemovalSite,
    ranking: str,
    fraction: float,
    removed: int,
    channels: int,
    accuracy: float,
    probability: float,
    images: int,
) -> dict:
    return {
        "site": site.module,
        "ranked_by": site.ranked_by,
        "ranking": ranking,
        "fraction": fraction,
        "removed": removed,
        "channels": channels,
        "accuracy": accuracy,
        "true_class_probability": probability,
        "images": images,
    }
