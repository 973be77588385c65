"""What the report's notebooks compute from the loaded artifacts before they plot: tables, selections, maps.

A notebook loads artifacts, calls these functions and the plots, and shows the captions; every number it
shows is computed here, where it is tested, and not in a notebook cell.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from cnnlens import texts
from cnnlens.artifacts import Activations, DepthStatistics, Faithfulness
from cnnlens.errors import CnnlensError
from cnnlens.interpret.activations import SPATIAL_SUFFIX
from cnnlens.interpret.channel_maps import activation_heatmaps, pca_rgb, select_channels, upsample
from cnnlens.interpret.heatmap_methods import MODEL_METHODS
from cnnlens.reporting.comparison import TrainedRun, per_class_accuracy

SWITCHED_OFF = 0.1  # a channel weight below this nearly switches its channel off
SWITCHED_ON = 0.9  # ... above this passes it whole


def distinct(values: Iterable[Hashable]) -> list:
    """The different values, sorted: the seeds of several runs, the epochs they trained for."""
    return sorted(set(values))


def in_order(values: Iterable[Hashable]) -> list:
    """The different values in the order they first appear: the layers of a table, its models."""
    return list(dict.fromkeys(values))


def chunks(count: int, size: int) -> list[slice]:
    """Slices of ``count`` items, ``size`` at a time: the images of one figure each."""
    return [slice(start, start + size) for start in range(0, count, size)]


def image_array(images: torch.Tensor) -> np.ndarray:
    """``(N, 3, H, W)`` images as the ``(N, H, W, 3)`` array that matplotlib shows."""
    return images.permute(0, 2, 3, 1).numpy()


def named_classes(confusions: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Confusion matrices whose rows and columns carry the class names readers read
    (:func:`cnnlens.texts.class_names`: the source's names in Chinese)."""
    return {
        variant: matrix.set_axis(texts.class_names(matrix.index), axis=0).set_axis(
            texts.class_names(matrix.columns), axis=1
        )
        for variant, matrix in confusions.items()
    }


def label_names(labels: Iterable[int], classes: Sequence[str]) -> list[str]:
    """The class name of every label."""
    return [classes[int(label)] for label in labels]


def check_same_images(first: torch.Tensor, second: torch.Tensor, first_path: str, second_path: str) -> None:
    """Stop when two artifacts that a figure pairs image by image hold different test images."""
    if not torch.equal(first, second):
        raise CnnlensError(f"{first_path} and {second_path} hold different test images: make both with the same config")


# Channel attention


def attention_layers(stored: Activations) -> dict[str, np.ndarray]:
    """The attention modules' ``(N, C)`` channel weights among an artifact's layers, by module."""
    return {name: output.float().numpy() for name, output in stored.layers.items() if output.ndim == 2}


def weight_arrays(weights: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Channel weights by module as float arrays."""
    return {name: values.float().numpy() for name, values in weights.items()}


def attention_summary(weights: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Per module, how far its ``(N, C)`` weights are from uniform and how much they depend on the image.

    Columns: ``mean`` and ``std`` of all weights; ``channel_mean_std``, the standard deviation of the channels'
    mean weights (how differently the module treats its channels on average); ``image_std_mean``, the mean over
    channels of each channel's standard deviation over images (how much a weight changes from image to image);
    ``off_percent`` and ``on_percent``, the share of weights below :data:`SWITCHED_OFF` and above
    :data:`SWITCHED_ON` in percent. Standard deviations are sample ones (``ddof=1``).
    """
    rows = []
    for module, given in weights.items():
        values = np.asarray(given, dtype=float)
        rows.append(
            {
                "module": module,
                "channels": values.shape[1],
                "mean": values.mean(),
                "std": values.std(ddof=1),
                "channel_mean_std": values.mean(axis=0).std(ddof=1),
                "image_std_mean": values.std(axis=0, ddof=1).mean(),
                "off_percent": 100 * (values < SWITCHED_OFF).mean(),
                "on_percent": 100 * (values > SWITCHED_ON).mean(),
            }
        )
    return pd.DataFrame(rows)


def class_channel_means(weights: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """Mean ``(N, C)`` weight per true class (rows, by name) and channel (columns, by index), most class-dependent
    channel first: columns sorted by :func:`class_spread`, ties in channel order. Classes without images are left out.
    """
    means = pd.DataFrame(weights).groupby(np.asarray(labels)).mean()
    means.index = [classes[label] for label in means.index]
    return means[class_spread(means).sort_values(ascending=False, kind="stable").index]


def class_spread(means: pd.DataFrame) -> pd.Series:
    """Each channel's standard deviation (``ddof=1``) of its mean weight across the classes (rows)."""
    return means.std()


def spatial_maps(stored: Activations) -> dict[str, np.ndarray]:
    """CBAM's ``(N, h, w)`` spatial attention maps among an artifact's layers, by block (``ca2``); none for SE."""
    return {
        name.removesuffix(SPATIAL_SUFFIX): output.float().numpy()
        for name, output in stored.layers.items()
        if name.endswith(SPATIAL_SUFFIX)
    }


def class_spatial_maps(
    spatial: Mapping[str, torch.Tensor], labels: torch.Tensor, classes: Sequence[str]
) -> tuple[list[str], dict[str, np.ndarray]]:
    """The classes that have test images, and each block's mean map of them, ``(classes, h, w)``: a class without
    images has no mean (the artifact holds zeros there)."""
    present = (torch.bincount(labels, minlength=len(classes)) > 0).tolist()
    names = [name for name, kept in zip(classes, present, strict=True) if kept]
    return names, {block: means[torch.tensor(present)].float().numpy() for block, means in spatial.items()}


def images_per_class(labels: np.ndarray, classes: int) -> tuple[int, int]:
    """The fewest and the most images of a class among ``labels`` (a class without images counts 0)."""
    counts = np.bincount(np.asarray(labels), minlength=classes)
    return int(counts.min()), int(counts.max())


# Comparison and training


def run_ids(runs: Sequence[TrainedRun]) -> list[tuple[str, int]]:
    """The ``(variant, seed)`` of each run, as captions list them."""
    return [(run.metrics["model"], run.metrics["seed"]) for run in runs]


def histories_by_run(runs: Sequence[TrainedRun]) -> dict[tuple[str, int], pd.DataFrame]:
    """Each run's history by ``(variant, seed)``, as ``comparison.curve_bands`` takes them."""
    return dict(zip(run_ids(runs), (run.history for run in runs), strict=True))


def per_class_accuracies(confusions: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Recall of every class (rows, named as the confusion matrices' rows) per variant (columns)."""
    classes = next(iter(confusions.values())).index
    return pd.DataFrame(
        {variant: per_class_accuracy(matrix.to_numpy()) for variant, matrix in confusions.items()}, index=classes
    )


# Feature maps


def feature_layers(stored: Activations) -> dict[str, torch.Tensor]:
    """The ``(N, C, h, w)`` feature maps among an artifact's layers (not the attention weights), by layer."""
    return {name: output for name, output in stored.layers.items() if output.ndim == 4}


def shared_first_channels(maps: Mapping[str, torch.Tensor], count: int) -> list[int]:
    """The first ``count`` channels, or fewer when a layer has fewer: the channels that every layer shows."""
    return min((select_channels(output[0], "first", count) for output in maps.values()), key=len)


def selected_channels(output: torch.Tensor, mode: str, count: int) -> list[list[int]]:
    """Per image of ``(N, C, h, w)`` outputs, the channels ``mode`` selects (see ``select_channels``)."""
    return [select_channels(one, mode, count) for one in output]


def pca_column(output: torch.Tensor, mode: str | None = None, count: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Every image's map of ``(N, C, h, w)`` outputs as one PCA-to-RGB picture (``pca_rgb``).

    Of all channels, or (with ``mode``) of the ``count`` channels that ``mode`` selects per image.

    Returns:
        ``(N, h, w, 3)`` pictures and the ``(N, 3)`` explained variance ratios, as ``plots.pca_grid`` takes them.
    """
    pictures = [pca_rgb(one, None if mode is None else select_channels(one, mode, count)) for one in output]
    return torch.stack([rgb for rgb, _ in pictures]).numpy(), torch.stack([ratio for _, ratio in pictures]).numpy()


def overlay_heatmaps(output: torch.Tensor, size: tuple[int, int], count: int) -> list[tuple[list[int], np.ndarray]]:
    """Per image of ``(N, C, h, w)`` outputs, its ``count`` most active channels and their min-max scaled maps
    upsampled to ``size``: the source's "attention heatmap" (``activation_heatmaps``)."""
    heatmaps = []
    for one in output:
        channels, scaled = activation_heatmaps(one, k=count)
        heatmaps.append((channels, upsample(scaled, size).numpy()))
    return heatmaps


# Depth


def first_of_classes(labels: torch.Tensor, count: int) -> list[int]:
    """Rows of the first image of each class, for the first ``count`` classes in the order they appear."""
    first: dict[int, int] = {}
    for row, label in enumerate(labels.tolist()):
        first.setdefault(label, row)
    return list(first.values())[:count]


@dataclass(frozen=True)
class ModelAtImage:
    """One trained model on one test image: its prediction and the channel mean of each feature map."""

    model: str
    seed: int
    predicted: str
    maps: dict[str, np.ndarray]  # layer -> (h, w) mean over the layer's channels


def models_at_image(models: Sequence[Activations], index: int) -> list[ModelAtImage]:
    """Each model's prediction and channel-mean maps for test image ``index`` (an index into the test split)."""
    views = []
    for stored in models:
        row = stored.image_indices.tolist().index(index)
        maps = {layer: output[row].float().mean(0).numpy() for layer, output in feature_layers(stored).items()}
        views.append(ModelAtImage(stored.model, stored.seed, stored.classes[int(stored.predictions[row])], maps))
    return views


def depth_table(statistics: Sequence[DepthStatistics]) -> pd.DataFrame:
    """The per-layer statistics of several models as one table, one row per model and layer."""
    return pd.concat([stored.frame() for stored in statistics], ignore_index=True)


def table_runs(table: pd.DataFrame) -> list[tuple[str, int]]:
    """The ``(model, seed)`` pairs of a table with those columns, in the order they first appear."""
    return in_order(zip(table["model"], table["seed"], strict=True))


# Faithfulness

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
