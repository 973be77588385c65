"""The similarity section's data: how alike the runs' layers and heatmaps are, pair by pair, from the runs' files.

Every pair of runs is of one of three kinds: two seeds of one variant (``seeds``: the floor, how far training
alone moves a run), two variants of one seed (``variants``), or both different (``both``). Numbers come with what
they must beat: CKA's jackknife standard error over the image minibatches; for heatmaps, what two random maps share
by chance and how much each run's maps share with a map that knows nothing of the model (the centre of the image).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata

from cnnlens.artifacts import Similarity
from cnnlens.errors import CnnlensError
from cnnlens.interpret.cka import cross_cka
from cnnlens.interpret.heatmap_methods import gaussian_heatmap
from cnnlens.interpret.sanity import spearman_per_image
from cnnlens.views.order import distinct, in_order

TOP_FRACTION = 0.1  # the share of a map's pixels whose overlap between two maps is counted
NOISE_ERRORS = 2  # a gap between two similarities counts only beyond this many standard errors of the image sample
PAIR_COLUMNS = ["model", "seed", "other_model", "other_seed", "kind"]
AGREEMENT_COLUMNS = ["spearman", "spearman_error", "top_overlap", "images"]


@dataclass(frozen=True)
class SimilaritySetup:
    """What the similarity files of one report measured: for the captions and the section's loops."""

    variants: list[str]  # the models other than the baseline, in the config's order
    seeds: list[int]
    images: int
    minibatches: int


def similarity_setup(runs: Sequence[Similarity], baseline: str) -> SimilaritySetup:
    """The :class:`SimilaritySetup` of runs measured alike (:func:`checked_runs`)."""
    return SimilaritySetup(
        [model for model in in_order(run.model for run in runs) if model != baseline],
        distinct(run.seed for run in runs),
        len(runs[0].image_indices),
        len(next(iter(runs[0].grams.values()))),
    )


def representative_runs(runs: Sequence[Similarity]) -> list[Similarity]:
    """Each model's first run: the workflow lists a model's runs in the config's order of seeds."""
    first: dict[str, Similarity] = {}
    for run in runs:
        first.setdefault(run.model, run)
    return list(first.values())


def pair_kind(first: Similarity, second: Similarity) -> str:
    """``seeds`` (one variant, two seeds), ``variants`` (one seed, two variants) or ``both``."""
    if first.model == second.model:
        return "seeds"
    return "variants" if first.seed == second.seed else "both"


def checked_runs(runs: Sequence[Similarity]) -> list[Similarity]:
    """The runs, refused in one line unless every one measured the same images in the same minibatches."""
    measured = {
        (tuple(run.image_indices.tolist()), tuple(len(matrix) for matrix in next(iter(run.grams.values()))))
        for run in runs
    }
    if len(measured) > 1:
        raise CnnlensError(
            "the similarity files were measured on different test images or minibatches: "
            "run snakemake again so that every run is measured with the same similarity settings"
        )
    return list(runs)


def _pair(first: Similarity, second: Similarity) -> dict:
    values = (first.model, first.seed, second.model, second.seed, pair_kind(first, second))
    return dict(zip(PAIR_COLUMNS, values, strict=True))


def within_cka(run: Similarity) -> pd.DataFrame:
    """One run's own layer × layer CKA, rows and columns named by its layers."""
    return pd.DataFrame(run.cka.numpy(), index=run.layers, columns=run.layers)


def same_layer_cka(runs: Sequence[Similarity]) -> pd.DataFrame:
    """CKA of each layer the two runs share, for every pair of runs: the pair's columns (:data:`PAIR_COLUMNS`),
    ``layer``, ``cka`` and its jackknife standard ``error``; pairs in order, layers in forward order."""
    rows = []
    for first, second in combinations(checked_runs(runs), 2):
        shared = [layer for layer in first.layers if layer in second.layers]
        values, errors = cross_cka(
            {layer: first.grams[layer] for layer in shared}, {layer: second.grams[layer] for layer in shared}
        )
        rows += [
            {**_pair(first, second), "layer": layer, "cka": values[index, index], "error": errors[index, index]}
            for index, layer in enumerate(shared)
        ]
    return pd.DataFrame(rows, columns=[*PAIR_COLUMNS, "layer", "cka", "error"])


def layer_identification(runs: Sequence[Similarity]) -> pd.DataFrame:
    """Kornblith et al.'s check that CKA can tell layers apart: for each layer of one seed, is the most similar
    layer of another seed of the same variant the same layer? Per variant with two or more seeds: ``layers``,
    ``comparisons`` (layers × ordered pairs of seeds where the layer is measured in both), ``identified`` and
    ``share`` (NaN with no comparison)."""
    rows = []
    checked = checked_runs(runs)
    for model in in_order(run.model for run in checked):
        seeds = [run for run in checked if run.model == model]
        if len(seeds) < 2:
            continue
        identified = compared = 0
        for first, second in combinations(seeds, 2):
            values, _ = cross_cka(_in_order(first), _in_order(second))
            for table, layers, others in (
                (values, first.layers, second.layers),
                (values.T, second.layers, first.layers),
            ):
                for index, layer in enumerate(layers):
                    if np.isnan(table[index, others.index(layer)]):
                        continue  # not measured in one of the two: nothing to find
                    compared += 1
                    identified += others[int(np.nanargmax(table[index]))] == layer
        share = identified / compared if compared else float("nan")
        rows.append(
            {
                "model": model,
                "layers": len(seeds[0].layers),
                "comparisons": compared,
                "identified": identified,
                "share": share,
            }
        )
    return pd.DataFrame(rows, columns=["model", "layers", "comparisons", "identified", "share"])


def _in_order(run: Similarity) -> dict[str, list[torch.Tensor]]:
    """A run's Gram matrices in the order of its layers (the rows and columns of :func:`cross_cka`)."""
    return {layer: run.grams[layer] for layer in run.layers}


def map_agreement(first: torch.Tensor, second: torch.Tensor, top_fraction: float = TOP_FRACTION) -> pd.DataFrame:
    """Per image of two stacks of ``(N, H, W)`` maps of the same images: the ``spearman`` correlation of their
    pixels (ranks averaged over ties; NaN where either map is flat) and the ``top_overlap``, the share of the top
    ``top_fraction`` of pixels that both maps put there (NaN where either map is flat). A pixel is among a map's top
    only if its whole tie group is, so that a flat region never agrees by the order of its pixels."""
    first_values, second_values = first.flatten(1).float().numpy(), second.flatten(1).float().numpy()
    pixels = first_values.shape[1]
    top = max(1, round(top_fraction * pixels))
    # a tie group's lowest rank above the cut: the whole group lies among the top pixels
    first_top = rankdata(first_values, method="min", axis=1) > pixels - top
    second_top = rankdata(second_values, method="min", axis=1) > pixels - top
    spearman = spearman_per_image(first, second).numpy()
    overlap = (first_top & second_top).sum(1) / top
    return pd.DataFrame({"spearman": spearman, "top_overlap": np.where(np.isnan(spearman), np.nan, overlap)})


def _summary(per_image: pd.DataFrame) -> dict:
    """Means over the images with two maps that are not flat of :func:`map_agreement`, with the standard error of
    the mean Spearman."""
    measured = per_image.dropna()
    spearman = measured["spearman"]
    return {
        "spearman": spearman.mean(),
        "spearman_error": spearman.std() / np.sqrt(len(spearman)) if len(spearman) > 1 else float("nan"),
        "top_overlap": measured["top_overlap"].mean(),
        "images": len(measured),
    }


def heatmap_agreement(runs: Sequence[Similarity], top_fraction: float = TOP_FRACTION) -> pd.DataFrame:
    """For every method two runs share and every pair of runs: the pair's columns (:data:`PAIR_COLUMNS`),
    ``method``, and the mean over the images of :func:`map_agreement` (``spearman``, its standard error,
    ``top_overlap``, ``images`` with two maps that are not flat)."""
    rows = []
    for first, second in combinations(checked_runs(runs), 2):
        for method in [method for method in first.heatmaps if method in second.heatmaps]:
            agreement = map_agreement(first.heatmaps[method], second.heatmaps[method], top_fraction)
            rows.append({**_pair(first, second), "method": method, **_summary(agreement)})
    return pd.DataFrame(rows, columns=[*PAIR_COLUMNS, "method", *AGREEMENT_COLUMNS])


def centre_agreement(runs: Sequence[Similarity], top_fraction: float = TOP_FRACTION) -> pd.DataFrame:
    """The model-free reference: per run and method, how much its maps agree with one centred Gaussian (what any
    map of CIFAR-10 objects shares by looking at the middle), as :func:`heatmap_agreement`'s columns."""
    rows = []
    for run in runs:
        for method, maps in run.heatmaps.items():
            centre = gaussian_heatmap(len(maps), (maps.shape[-2], maps.shape[-1]))
            rows.append(
                {
                    "model": run.model,
                    "seed": run.seed,
                    "method": method,
                    **_summary(map_agreement(maps, centre, top_fraction)),
                }
            )
    return pd.DataFrame(rows, columns=["model", "seed", "method", *AGREEMENT_COLUMNS])
