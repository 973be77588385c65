"""The verdict's sentence on the heatmaps of each model: the most faithful method by deletion AUC, or none.

Deletion AUC (the area under the deletion curve, :mod:`cnnlens.interpret.deletion_insertion`) is lower for a map whose
strongest pixels the model's prediction rests on; the random map knows nothing of the model, so a method that does
not beat it marks nothing the model uses, as far as deletion can tell.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from cnnlens.artifacts import Faithfulness
from cnnlens.interpret.deletion_insertion import MODEL_METHODS
from cnnlens.reporting.summaries import (
    distinct,
    in_order,
    over_seeds,
    representative_runs,
    run_tables,
)
from cnnlens.texts import listing, text

RANDOM = "random"
# method -> the text that names it to readers
METHOD_TEXTS = {
    "channels": "faithfulness.method_channels",
    "gradcam": "faithfulness.method_gradcam",
    "deconvnet": "faithfulness.method_deconvnet",
    "spatial_attention": "faithfulness.method_spatial_attention",
    "random": "faithfulness.method_random",
    "gaussian": "faithfulness.method_gaussian",
}


def method_name(method: str) -> str:
    """A heatmap method as readers read it ("Grad-CAM", "random map")."""
    return text(METHOD_TEXTS[method])


def seeds_phrase(seeds: Sequence[int]) -> str:
    """Which seeds a number comes from: "seed 0", or "mean over seeds 0, 1"."""
    if len(seeds) == 1:
        return text("faithfulness.one_seed", seed=seeds[0])
    return text("faithfulness.over_seeds", seeds=listing(seeds))


def against_random(paired: pd.DataFrame, method: str) -> pd.Series:
    """The row of a run's paired tests (``Faithfulness.paired``) that compares ``method`` with the random map."""
    rows = paired[
        ((paired["method_a"] == method) & (paired["method_b"] == RANDOM))
        | ((paired["method_a"] == RANDOM) & (paired["method_b"] == method))
    ]
    return rows.iloc[0]


def beats_random(means: pd.Series, paired: pd.DataFrame, method: str, alpha: float) -> bool:
    """Whether ``method`` beats the random map on deletion AUC: both

    - its mean deletion AUC over seeds (each seed's mean over its images) is lower than the random map's, and
    - on the representative seed, the Wilcoxon signed-rank test of the two methods' per-image deletion AUCs is
      significant, its Holm-adjusted p-value (over all pairs of that run's methods) below ``alpha``, in the method's
      favour (the sign of its signed ranks).

    Args:
        means: mean deletion AUC over seeds by method.
        paired: the representative run's paired tests on deletion AUC.
    """
    test = against_random(paired, method)
    return bool(means[method] < means[RANDOM] and test["p_holm"] < alpha and test["favours"] == method)


def most_faithful(means: pd.Series, paired: pd.DataFrame, alpha: float) -> str | None:
    """Of the methods that use the model and beat the random map (:func:`beats_random`), the one with the lowest mean
    deletion AUC over seeds; ``None`` when none does. The centred Gaussian, which ignores the model too, is no
    candidate."""
    winners = [
        method for method in means.index if method in MODEL_METHODS and beats_random(means, paired, method, alpha)
    ]
    return min(winners, key=lambda method: means[method], default=None)


def faithfulness_verdicts(runs: Sequence[Faithfulness], seed: int, alpha: float) -> list[str]:
    """One sentence per model, in order of appearance (:func:`model_verdict`).

    Args:
        runs: every faithfulness file of the run, every model and seed.
        seed: the representative seed, whose paired tests decide significance.
        alpha: the significance level (the config's ``compare.alpha``).
    """
    table = over_seeds(run_tables(runs, "scores"))
    paired = run_tables(representative_runs(runs, seed), "paired")
    return [
        model_verdict(
            model,
            deletion_means(table, model),
            paired[paired["model"] == model],
            distinct(run.seed for run in runs if run.model == model),
            alpha,
        )
        for model in in_order(table["model"])
    ]


def deletion_means(table: pd.DataFrame, model: str) -> pd.Series:
    """One model's mean deletion AUC over seeds by method, from :func:`cnnlens.reporting.summaries.over_seeds`."""
    rows = table[table["model"] == model]
    return pd.Series(rows["deletion_auc_mean"].to_numpy(), index=rows["method"])


def model_verdict(model: str, means: pd.Series, paired: pd.DataFrame, seeds: Sequence[int], alpha: float) -> str:
    """The model's most faithful heatmap method by deletion AUC (:func:`most_faithful`), or that none beats the random
    map and which method came lowest.

    Args:
        means: mean deletion AUC over ``seeds`` by method; paired: the representative run's paired tests.
    """
    winner = most_faithful(means, paired, alpha)
    named = winner or min((method for method in means.index if method in MODEL_METHODS), key=lambda name: means[name])
    values = {
        "model": model,
        "method": method_name(named),
        "auc": f"{means[named]:.4f}",
        "random": f"{means[RANDOM]:.4f}",
        "over": seeds_phrase(seeds),
    }
    if winner is None:
        return text("verdict.none_beats_random", **values)
    return text("verdict.most_faithful", **values, p=f"{against_random(paired, winner)['p_holm']:.3g}")
