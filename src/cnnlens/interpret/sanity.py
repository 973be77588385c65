"""Sanity checks for heatmaps (Adebayo et al. 2018): do the maps change when the model's weights are destroyed?

Cascading model-parameter randomisation re-initialises the layers from the classifier down, cumulatively, and
compares each method's maps of the randomised model with those of the trained one. A map that explains the model
must change once the layers it reads are destroyed; one that does not shows the image (edges, colour blobs), not
what the model learned.

The cascade, top-down: ``fc2``, then ``fc1``, then conv block 3, 2 and 1. A block is re-initialised whole:
its conv, its BatchNorm (weight 1, bias 0, running mean 0 and variance 1: PyTorch's initial state) and its attention
module (squeeze-and-excitation, or CBAM's channel MLP and spatial conv). Each step re-initialises with
the module's own ``reset_parameters`` under ``torch.manual_seed(seed + step)``, inside ``torch.random.fork_rng`` so the
caller's random state is untouched. Everything happens on a deep copy: the caller's model is not modified.

**Which class.** As Quantus's MPRT does, the randomised model's maps explain the class the *trained* model predicted
(``target`` ``fixed``); for the methods that explain a class (Grad-CAM) the maps of the class the randomised model
now predicts are measured beside them (``target`` ``repredicted``), since the two differ.

**Which layers.** A method does not change at a step that re-initialises only layers it never reads
(:func:`cnnlens.interpret.heatmap_methods.layers_used`: the activation heatmap and the deconvnet stop at conv3): each
row says whether its step reached the method's layers (``uses``), and :func:`sanity_verdict` reads the curve from
there.

Similarity per image, averaged over the images: the Spearman rank correlation of the two maps' pixels (ties get
their mean rank; a flat map has no order, so its correlation counts as 0 and is counted in ``flat_maps``), and SSIM
(``skimage.metrics.structural_similarity``, 7x7 window, ``data_range=1`` since every map is scaled to [0, 1]). The
reference (:func:`unrelated_similarity`): how similar one method's maps of two different images of the trained model
are, the similarity a map has to any map of the method.
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
from cnnlens.interpret.heatmap_methods import TARGETED, heatmaps, layers_used
from cnnlens.interpret.scoring import device_of
from cnnlens.models.modes import eval_mode

SANITY_THRESHOLD = 0.5  # the config's default; docs/conclusions.md says why
SSIM_WINDOW = 7  # skimage's default window; maps need at least 7 pixels a side
BLOCK_PARTS = ("conv", "bn", "ca")  # the top-level modules of a conv block, by name prefix and block number
OUTCOMES = ("ignores_model", "inconclusive", "fails", "passes")  # sanity_verdict's outcomes


@dataclass(frozen=True)
class SanityResult:
    """Similarity of each method's maps before and after each randomisation step, and the reference.

    Attributes:
        steps: one row per method, target and step: ``method``, ``target`` (``fixed``: the class the trained model
            predicted; ``repredicted``: the randomised model's), ``step`` (1 = fc2 alone), ``randomised`` (the layers
            re-initialised so far, top-down), ``uses`` (whether the layers re-initialised so far include one the
            method reads), ``spearman``, ``spearman_std``, ``ssim``, ``ssim_std``, ``flat_maps`` (images whose
            original or randomised map is flat), ``images``.
        reference: one row per method: ``spearman`` and ``ssim`` of :func:`unrelated_similarity`, ``images``.
        gallery: method -> ``(steps + 1, G, H, W)``: the first ``G`` images' maps (fixed target), original first,
            then after each step (``G`` is the ``gallery`` argument; empty without one).
        gallery_steps: ``"original"``, then the layers re-initialised so far at each step.
    """

    steps: pd.DataFrame
    reference: pd.DataFrame
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
    batch_size: int | None = None,
    gallery: int = 0,
) -> SanityResult:
    """Compare each method's maps of ``model`` with those after every cumulative randomisation step.

    Args:
        model: a cnnlens CNN (flat ``nn.Sequential``); a deep copy is randomised, ``model`` is not modified.
        images: ``(N, C, H, W)`` normalised inputs, at least 7 pixels a side (SSIM's window).
        methods: names of :data:`cnnlens.interpret.heatmap_methods.METHODS`; all that apply by default.
        seed: the random baseline's seed and the base of the re-initialisation seeds.
        batch_size: images per map computation (:func:`cnnlens.interpret.heatmap_methods.heatmaps`'s default).
        gallery: keep the maps of the first ``gallery`` images at every step, for a figure.
    """
    if min(images.shape[-2:]) < SSIM_WINDOW:
        raise CnnlensError(f"sanity checks need images of at least {SSIM_WINDOW} pixels a side for SSIM")
    with torch.no_grad(), eval_mode(model):
        predicted = model(images.to(device_of(model))).argmax(1)
    original = heatmaps(model, images, methods, seed=seed, batch_size=batch_size, targets=predicted)
    randomised = copy.deepcopy(model)
    done: list[str] = []
    touched: set[str] = set()
    rows = []
    shown = {method: [maps[:gallery].cpu()] for method, maps in original.items()} if gallery else {}
    for step, (name, modules) in enumerate(randomisation_steps(randomised), start=1):
        randomise(randomised, modules, seed + step)
        done.append(name)
        touched.update(modules)
        fixed = heatmaps(randomised, images, list(original), seed=seed, batch_size=batch_size, targets=predicted)
        targeted = [method for method in original if method in TARGETED]
        repredicted = heatmaps(randomised, images, targeted, seed=seed, batch_size=batch_size) if targeted else {}
        for target, maps in (("fixed", fixed), ("repredicted", repredicted)):
            for method, after in maps.items():
                uses = bool(touched.intersection(layers_used(method, model)))
                rows.append(_compare(method, target, step, "+".join(done), uses, original[method], after))
        if gallery:
            for method in original:
                shown[method].append(fixed[method][:gallery].cpu())
    table = pd.DataFrame(rows)
    names = ["original", *table["randomised"].drop_duplicates().astype(str)] if gallery else []
    gallery_maps = {method: torch.stack(maps) for method, maps in shown.items()}
    return SanityResult(table, unrelated_similarity(original), gallery_maps, names)


def unrelated_similarity(maps: dict[str, torch.Tensor]) -> pd.DataFrame:
    """How similar each method's maps of two unrelated images are: image ``i``'s map against image ``i + 1``'s (the
    last against the first), Spearman and SSIM averaged over the pairs as in the cascade.

    It is what any two maps of the method share (a centre bias, the blur of upsampling): a randomised map at this
    level is no more like its original than a map of another image is. One row per method; NaN from one image.
    """
    rows = []
    for method, values in maps.items():
        unrelated = values.roll(-1, 0)
        spearman = torch.nan_to_num(spearman_per_image(values, unrelated), nan=0.0).mean().item()
        ssim = ssim_per_image(values, unrelated).mean().item()
        known = len(values) > 1
        rows.append(
            {
                "method": method,
                "spearman": spearman if known else float("nan"),
                "ssim": ssim if known else float("nan"),
                "images": len(values),
            }
        )
    return pd.DataFrame(rows)


def sanity_verdict(steps: pd.DataFrame, reference: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Read each method's curve (fixed target) against ``threshold`` on the Spearman correlation.

    One row per method: ``first_used`` (the first step that reaches a layer it reads, or 0 for none),
    ``unused_spearman`` (its lowest similarity at the steps before, which cannot change it: 1 when it does not),
    ``first_spearman`` (at its first step) and ``end_spearman`` (once every layer it reads is randomised, the last
    step), ``drops_at`` (the first step below the threshold, 0 for none), ``reference`` (:func:`unrelated_similarity`),
    ``flat_maps`` at the last step, ``threshold`` and ``outcome``:

    - ``ignores_model``: it reads no layer (the baselines): fails by construction, a check of the check;
    - ``passes``: once every layer it reads is randomised, its maps correlate below the threshold;
    - ``inconclusive``: they stay at the threshold or above, but so do the maps of two unrelated images, so staying
      above it says nothing;
    - ``fails``: they stay at the threshold or above, which unrelated images' maps do not.
    """
    fixed = steps[steps["target"] == "fixed"]
    references = reference.set_index("method")["spearman"]
    rows = []
    for method, curve in fixed.groupby("method", sort=False):
        used, unused = curve[curve["uses"]], curve[~curve["uses"]]
        below = used[used["spearman"] < threshold]
        end = curve.iloc[-1]
        rows.append(
            {
                "method": method,
                "first_used": int(used["step"].iloc[0]) if len(used) else 0,
                "unused_spearman": float(unused["spearman"].min()) if len(unused) else float("nan"),
                "first_spearman": float(used["spearman"].iloc[0]) if len(used) else float("nan"),
                "end_spearman": float(end["spearman"]),
                "drops_at": int(below["step"].iloc[0]) if len(below) else 0,
                "reference": float(references[method]),
                "flat_maps": int(end["flat_maps"]),
                "threshold": threshold,
                "outcome": _outcome(len(used) > 0, float(end["spearman"]), float(references[method]), threshold),
            }
        )
    return pd.DataFrame(rows)


def _outcome(reads_layers: bool, end: float, reference: float, threshold: float) -> str:
    if not reads_layers:
        return "ignores_model"
    if end < threshold:
        return "passes"
    return "inconclusive" if reference >= threshold else "fails"


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


def _compare(
    method: str, target: str, step: int, randomised: str, uses: bool, before: torch.Tensor, after: torch.Tensor
) -> dict:
    spearman = spearman_per_image(before, after)
    flat = torch.isnan(spearman)
    spearman = torch.where(flat, torch.zeros_like(spearman), spearman)
    ssim = ssim_per_image(before, after)
    return {
        "method": method,
        "target": target,
        "step": step,
        "randomised": randomised,
        "uses": uses,
        "spearman": spearman.mean().item(),
        "spearman_std": spearman.std(unbiased=False).item(),
        "ssim": ssim.mean().item(),
        "ssim_std": ssim.std(unbiased=False).item(),
        "flat_maps": int(flat.sum()),
        "images": len(spearman),
    }


def _has_state(module: nn.Module) -> bool:
    return any(True for _ in module.parameters()) or any(True for _ in module.buffers())
