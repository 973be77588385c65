"""The faithfulness section's data: what its files measured, the scores and curves over images and seeds, the
channel removal and sanity tables of every run, and the maps of the sanity gallery."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cnnlens.artifacts import Faithfulness
from cnnlens.errors import CnnlensError
from cnnlens.interpret.heatmap_methods import MODEL_METHODS
from cnnlens.views.order import distinct, in_order

MEASURES = (
    "deletion_auc",
    "insertion_auc",
    "score",
    "inverted_score",
    "average_drop",
    "increase_in_confidence",
    "tied_share",
)
CURVES = ("deletion", "insertion")


@dataclass(frozen=True)
class FaithfulnessSetup:
    """What the faithfulness files of one report measured, the same in every run: for the captions."""

    models: list[str]  # in order of appearance
    seeds: list[int]
    images: int  # test images scored per run (a fixed random sample, the same for every run)
    steps: int  # deletion and insertion steps
    baseline: str  # the fill: blur or mean
    size: tuple[int, int]  # (height, width) of the images
    sanity_images: int  # images of the sanity checks, the first of the scored ones


def faithfulness_setup(runs: Sequence[Faithfulness]) -> FaithfulnessSetup:
    """The setup of :class:`FaithfulnessSetup`; runs made with different settings stop the report."""
    measured = {
        (len(run.image_indices), run.steps, run.baseline, run.gallery_images.shape[-2], run.gallery_images.shape[-1])
        for run in runs
    }
    sanity = {count for run in runs for count in run.sanity["images"]}
    if len(measured) != 1 or len(sanity) != 1:
        raise CnnlensError("the faithfulness files were made with different settings: run snakemake again")
    (images, steps, baseline, height, width), (sanity_images,) = measured.pop(), sanity
    models, seeds = in_order(run.model for run in runs), distinct(run.seed for run in runs)
    return FaithfulnessSetup(models, seeds, images, steps, baseline, (height, width), sanity_images)


def run_scores(runs: Sequence[Faithfulness]) -> pd.DataFrame:
    """One row per run and method: ``model``, ``seed``, ``method`` and the mean over the images of every measure in
    :data:`MEASURES` (``score`` is insertion minus deletion AUC; ``inverted_score`` that of the inverted map, NaN
    for the baselines, which have none)."""
    rows = []
    for run in runs:
        for method, aucs in run.aucs.items():
            inverted = run.inverted_aucs.get(method)
            rows.append(
                {
                    "model": run.model,
                    "seed": run.seed,
                    "method": method,
                    "deletion_auc": aucs["deletion"].mean().item(),
                    "insertion_auc": aucs["insertion"].mean().item(),
                    "score": (aucs["insertion"] - aucs["deletion"]).mean().item(),
                    "inverted_score": (
                        (inverted["insertion"] - inverted["deletion"]).mean().item() if inverted else float("nan")
                    ),
                    "average_drop": run.average_drop[method].mean().item(),
                    "increase_in_confidence": run.increase[method].float().mean().item(),
                    "tied_share": run.tied_share[method].mean().item(),
                }
            )
    return pd.DataFrame(rows)


def over_seeds(scores: pd.DataFrame) -> pd.DataFrame:
    """Per model and method (in order of appearance) of the runs' scores (:func:`run_scores`): the mean and the
    sample standard deviation over seeds of every measure (``deletion_auc_mean``, ``deletion_auc_std``, ...; NaN for
    one seed), and the number of seeds."""
    grouped = scores.groupby(["model", "method"], sort=False)
    table = grouped[list(MEASURES)].agg(["mean", "std"])
    table.columns = [f"{measure}_{statistic}" for measure, statistic in table.columns]
    table["seeds"] = grouped["seed"].count()
    return table.reset_index()


def mean_curves(runs: Sequence[Faithfulness]) -> pd.DataFrame:
    """Per model, method, curve (``deletion``, ``insertion``) and fraction of the pixels: the mean over seeds of each
    run's mean curve over its images (column ``probability``), models and methods in order of appearance."""
    rows = [
        {"model": run.model, "method": method, "curve": curve, "fraction": fraction, "probability": probability}
        for run in runs
        for method, curves in run.curves.items()
        for curve in CURVES
        for fraction, probability in zip(run.fractions.tolist(), curves[curve].tolist(), strict=True)
    ]
    keys = ["model", "method", "curve", "fraction"]
    return pd.DataFrame(rows).groupby(keys, sort=False)["probability"].mean().reset_index()


def representative_runs(runs: Sequence[Faithfulness], seed: int | None) -> list[Faithfulness]:
    """One run per model, in order of appearance: that of ``seed``, or with ``None`` the model's first run (the
    workflow lists them in the order of the config's ``seeds``, so that is its representative run too)."""
    chosen: dict[str, Faithfulness] = {}
    for run in runs:
        if seed is None or run.seed == seed:
            chosen.setdefault(run.model, run)
    missing = [model for model in in_order(run.model for run in runs) if model not in chosen]
    if missing:
        raise CnnlensError(f"no faithfulness file of seed {seed} for {', '.join(missing)}: give every model's")
    return list(chosen.values())


def run_tables(runs: Sequence[Faithfulness], field: str) -> pd.DataFrame:
    """One of the runs' tables (``removal``, ``sanity``, ``sanity_reference``) of every run stacked, with the run's
    ``model`` and ``seed`` as the first columns."""
    frames = [pd.DataFrame({"model": run.model, "seed": run.seed, **getattr(run, field)}) for run in runs]
    return pd.concat(frames, ignore_index=True)


def removal_over_seeds(removal: pd.DataFrame) -> pd.DataFrame:
    """Channel removal (:func:`run_tables` of ``removal``) per model, site, criterion, ranking and fraction: the mean
    accuracy and true-class probability over seeds."""
    keys = ["model", "site", "criterion", "ranking", "fraction", "removed", "channels"]
    return removal.groupby(keys, sort=False)[["accuracy", "true_class_probability"]].mean().reset_index()


def sanity_over_seeds(runs: Sequence[Faithfulness]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sanity curves and references of every run, each number the mean over the model's seeds: the ``sanity``
    table (per model, method, target and step; ``flat_maps`` summed, ``uses`` the same in every seed) and the
    ``sanity_reference`` table (per model and method)."""
    steps = run_tables(runs, "sanity")
    keys = ["model", "method", "target", "step", "randomised", "uses"]
    grouped = steps.groupby(keys, sort=False)
    pooled = grouped[["spearman", "ssim"]].mean().join(grouped[["flat_maps", "images"]].sum()).reset_index()
    reference = run_tables(runs, "sanity_reference").groupby(["model", "method"], sort=False)
    return pooled, reference[["spearman", "ssim"]].mean().join(reference[["images"]].sum()).reset_index()


def gallery_maps(run: Faithfulness) -> dict[str, np.ndarray]:
    """The gallery images' maps at every randomisation step, ``(steps + 1, images, H, W)``, of the methods that use
    the model (the random and Gaussian maps are the same at every step)."""
    return {method: maps.numpy() for method, maps in run.gallery.items() if method in MODEL_METHODS}
