"""Sanity checks for heatmaps (Adebayo et al. 2018): do the maps change when the model's weights are destroyed?

Cascading model-parameter randomisation re-initialises the layers from the classifier down, cumulatively, and
compares each method's maps of the randomised model with those of the trained one. A map that explains the model
must change; one that barely does shows the image (edges, colour blobs), not what the model learned.

The cascade, top-down: ``fc2``, then ``fc1``, then conv block 3, 2 and 1. A block is re-initialised whole:
its conv, its BatchNorm (weight 1, bias 0, running mean 0 and variance 1: PyTorch's initial state) and its attention
module (squeeze-and-excitation, or CBAM's channel MLP and spatial conv). Each step re-initialises with
the module's own ``reset_parameters`` under ``torch.manual_seed(seed + step)``, inside ``torch.random.fork_rng`` so the
caller's random state is untouched. Everything happens on a deep copy: the caller's model is not modified.

Similarity per image, averaged over the images: the Spearman rank correlation of the two maps' pixels (ties get
their mean rank; a flat map has no order, so its correlation counts as 0 and is counted in ``flat_maps``), and SSIM
(``skimage.metrics.structural_similarity``, 7x7 window, ``data_range=1`` since every map is scaled to [0, 1]).

**Failing criterion.** A method fails when the mean Spearman correlation between its maps of the trained and of the
fully randomised model (all layers, the last step) is at least :data:`SPEARMAN_THRESHOLD` (0.5): at that level the
ranking of the pixels, which is all that deletion and insertion use, survives the loss of everything the model
learned. The random and Gaussian baselines ignore the model, so they fail by construction: a check of the check.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from scipy import stats
from skimage.metrics import structural_similarity
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret.deletion_insertion import heatmaps

SPEARMAN_THRESHOLD = 0.5
SSIM_WINDOW = 7  # skimage's default window; maps need at least 7 pixels a side
BLOCK_PARTS = ("conv", "bn", "ca")  # the top-level modules of a conv block, by name prefix and block number


@dataclass(frozen=True)
class SanityResult:
    """Similarity of each method's maps before and after each randomisation step, and the verdict.

    Attributes:
        steps: one row per method and step: ``method``, ``step`` (1 = fc2 alone), ``randomised`` (the layers
            re-initialised so far, top-down), ``spearman``, ``spearman_std``, ``ssim``, ``ssim_std``, ``flat_maps``
            (images whose original or randomised map is flat), ``images``.
        verdict: one row per method: ``method``, ``spearman`` and ``ssim`` at full randomisation, ``threshold`` and
            ``fails`` (True when the mean Spearman correlation there is at least the threshold).
        gallery: method -> ``(steps + 1, G, H, W)``: the first ``G`` images' maps, original first, then after each
            step (``G`` is the ``gallery`` argument; empty without one).
        gallery_steps: ``"original"``, then the layers re-initialised so far at each step.
    """

    steps: pd.DataFrame
    verdict: pd.DataFrame
    gallery: dict[str, torch.Tensor] = field(default_factory=dict)
    gallery_steps: list[str] = field(default_factory=list)


def randomisation_steps(model: nn.Module) -> list[tuple[str, tuple[str, ...]]]:
    """The cascade as (step name, top-level modules re-initialised at that step), from the classifier down.

    Linear layers are steps of their own (``fc2``, ``fc1``); the conv blocks follow as ``block3``, ``block2``,
    ``block1``, each with every module of :data:`BLOCK_PARTS` that the block has.
    """
    names = [name for name, module in model.named_children() if _has_state(module)]
    steps: list[tuple[str, tuple[str, ...]]] = []
    for name in reversed(names):
        prefix, number = name.rstrip("0123456789"), name[len(name.rstrip("0123456789")) :]
        if prefix in BLOCK_PARTS and number:
            block = f"block{number}"
            if not steps or steps[-1][0] != block:
                steps.append((block, ()))
            steps[-1] = (block, (name, *steps[-1][1]))
        else:
            steps.append((name, (name,)))
    return steps


def randomise(model: nn.Module, modules: Sequence[str], seed: int) -> None:
    """Re-initialise, in place, every parameter and buffer of the named top-level modules (``reset_parameters``)."""
    children = dict(model.named_children())
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        for name in modules:
            for module in children[name].modules():
                reset = getattr(module, "reset_parameters", None)
                if callable(reset):
                    reset()


def cascading_randomisation(
    model: nn.Module,
    images: torch.Tensor,
    methods: Sequence[str] | None = None,
    *,
    seed: int = 0,
    threshold: float = SPEARMAN_THRESHOLD,
    batch_size: int | None = None,
    gallery: int = 0,
) -> SanityResult:
    """Compare each method's maps of ``model`` with those after every cumulative randomisation step.

    Args:
        model: a cnnlens CNN (flat ``nn.Sequential``); a deep copy is randomised, ``model`` is not modified.
        images: ``(N, C, H, W)`` normalised inputs, at least 7 pixels a side (SSIM's window).
        methods: names of :data:`cnnlens.interpret.deletion_insertion.METHODS`; all that apply by default.
        seed: the random baseline's seed and the base of the re-initialisation seeds.
        threshold: the failing criterion (see the module's docstring).
        batch_size: images per map computation (:func:`cnnlens.interpret.deletion_insertion.heatmaps`'s default).
        gallery: keep the maps of the first ``gallery`` images at every step, for a figure.
    """
    if min(images.shape[-2:]) < SSIM_WINDOW:
        raise CnnlensError(f"sanity checks need images of at least {SSIM_WINDOW} pixels a side for SSIM")
    original = heatmaps(model, images, methods, seed=seed, batch_size=batch_size)
    randomised = copy.deepcopy(model)
    done: list[str] = []
    rows = []
    shown = {method: [maps[:gallery].cpu()] for method, maps in original.items()} if gallery else {}
    for step, (name, modules) in enumerate(randomisation_steps(randomised), start=1):
        randomise(randomised, modules, seed + step)
        done.append(name)
        maps = heatmaps(randomised, images, list(original), seed=seed, batch_size=batch_size)
        for method, before in original.items():
            rows.append(_compare(method, step, "+".join(done), before, maps[method]))
            if gallery:
                shown[method].append(maps[method][:gallery].cpu())
    table = pd.DataFrame(rows)
    last = table[table["step"] == table["step"].max()]
    verdict = pd.DataFrame(
        {
            "method": last["method"].to_numpy(),
            "spearman": last["spearman"].to_numpy(),
            "ssim": last["ssim"].to_numpy(),
            "threshold": threshold,
            "fails": last["spearman"].to_numpy() >= threshold,
        }
    )
    names = ["original"] + [str(row) for row in table["randomised"].drop_duplicates()] if gallery else []
    return SanityResult(table, verdict, {method: torch.stack(maps) for method, maps in shown.items()}, names)


def spearman_per_image(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation of each pair of ``(N, H, W)`` maps over their pixels, ``(N,)``; NaN where one is flat.

    Ranks with ties averaged (as ``scipy.stats.spearmanr``), then Pearson's correlation of the ranks, row by row.
    """
    a = stats.rankdata(first.flatten(1).double().cpu().numpy(), axis=1)
    b = stats.rankdata(second.flatten(1).double().cpu().numpy(), axis=1)
    a -= a.mean(1, keepdims=True)
    b -= b.mean(1, keepdims=True)
    denominator = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.where(denominator > 0, (a * b).sum(1) / denominator, np.nan)
    return torch.from_numpy(correlation)


def ssim_per_image(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """SSIM of each pair of ``(N, H, W)`` maps in [0, 1] (skimage, 7x7 window, ``data_range=1``), ``(N,)``.

    skimage averages its SSIM image over the part the window fits in; the images go through it as the channels of
    one call, and each one's mean over that part is its own SSIM.
    """
    a, b = first.double().cpu().numpy(), second.double().cpu().numpy()
    _, full = structural_similarity(a, b, win_size=SSIM_WINDOW, data_range=1.0, channel_axis=0, full=True)
    pad = (SSIM_WINDOW - 1) // 2
    return torch.from_numpy(full[:, pad:-pad, pad:-pad].mean((1, 2)))


def _compare(method: str, step: int, randomised: str, before: torch.Tensor, after: torch.Tensor) -> dict:
    spearman = spearman_per_image(before, after)
    flat = torch.isnan(spearman)
    spearman = torch.where(flat, torch.zeros_like(spearman), spearman)
    ssim = ssim_per_image(before, after)
    return {
        "method": method,
        "step": step,
        "randomised": randomised,
        "spearman": spearman.mean().item(),
        "spearman_std": spearman.std(unbiased=False).item(),
        "ssim": ssim.mean().item(),
        "ssim_std": ssim.std(unbiased=False).item(),
        "flat_maps": int(flat.sum()),
        "images": len(spearman),
    }


def _has_state(module: nn.Module) -> bool:
    return any(True for _ in module.parameters()) or any(True for _ in module.buffers())
