"""Do the channels an attention module weights highest matter most? Channel removal read image by image.

For every model, site, criterion and share of channels, the true class's probability after removing the channels
ranked highest is compared, image by image (each image's probability the mean over the model's seeds), with its
probability after removing as many channels at random (:mod:`cnnlens.statistics`); Holm's adjustment runs over every
comparison of the section. Within an attention model the two criteria (the weight, and the gated activation it
scales) say whether the weight adds anything; across models the same criterion compares the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from cnnlens.artifacts import Faithfulness
from cnnlens.plots.faithfulness import criterion_name
from cnnlens.reporting.faithfulness_tables import difference
from cnnlens.statistics import holm, paired_difference
from cnnlens.texts import text
from cnnlens.views.order import in_order

CONDITION = ["site", "criterion", "ranking", "fraction"]


def removal_tests(runs: Sequence[Faithfulness], alpha: float) -> pd.DataFrame:
    """One row per model, site, criterion and fraction: removing the highest-ranked channels against random ones.

    Columns: ``model``, ``site``, ``criterion``, ``fraction``, ``removed``, ``channels``, ``mean`` (the mean over the
    images of the true class's probability after random removal minus after removing the highest: positive where
    the highest hurt more), ``low`` and ``high`` (its bootstrap interval), ``p_value``, ``p_holm`` (over every row),
    ``direction``, ``images``, ``seeds``, and ``outcome`` at ``alpha`` (:func:`outcome`).
    """
    rows = []
    for model in in_order(run.model for run in runs):
        own = [run for run in runs if run.model == model]
        probabilities = _per_image(own)
        table = pd.DataFrame(own[0].removal)
        highest = table[table["ranking"] == "highest"]
        for row in highest.itertuples():
            random = probabilities[(row.site, "", "random", row.fraction)]
            found = paired_difference(
                (random - probabilities[(row.site, row.criterion, "highest", row.fraction)]).numpy(), 1 - alpha
            )
            rows.append(
                {
                    "model": model,
                    "site": row.site,
                    "criterion": row.criterion,
                    "fraction": row.fraction,
                    "removed": row.removed,
                    "channels": row.channels,
                    "mean": found.mean,
                    "low": found.low,
                    "high": found.high,
                    "p_value": found.p_value,
                    "direction": found.direction,
                    "images": found.units,
                    "seeds": len(own),
                }
            )
    tests = pd.DataFrame(rows)
    tests.insert(tests.columns.get_loc("p_value") + 1, "p_holm", holm(tests["p_value"].to_numpy()))
    tests["outcome"] = [outcome(row.p_holm, row.direction, alpha) for row in tests.itertuples()]
    return tests


def outcome(p_holm: float, direction: int, alpha: float) -> str:
    """``more`` where removing the highest hurt significantly more than random, ``less`` where significantly less,
    ``inconclusive`` otherwise."""
    if p_holm >= alpha or direction == 0:
        return "inconclusive"
    return "more" if direction > 0 else "less"


def removal_verdicts(tests: pd.DataFrame) -> list[str]:
    """One sentence per model and criterion, in order of appearance: in how many conditions removing the highest
    channels hurt more than random, and the largest such difference with its interval."""
    sentences = []
    for (model, criterion), rows in tests.groupby(["model", "criterion"], sort=False):
        outcomes = list(rows["outcome"])
        largest = rows.loc[rows["mean"].idxmax()]
        sentences.append(
            text(
                "faithfulness.removal_verdict",
                model=model,
                criterion=criterion_name(criterion),
                more=outcomes.count("more"),
                less=outcomes.count("less"),
                total=len(rows),
                site=largest["site"],
                removed=int(largest["removed"]),
                channels=int(largest["channels"]),
                difference=difference(largest),
            )
        )
    return sentences


def _per_image(runs: Sequence[Faithfulness]) -> dict[tuple, torch.Tensor]:
    """Condition (:data:`CONDITION`) -> ``(N,)`` true-class probability per image, the mean over ``runs``."""
    stacked: dict[tuple, list[torch.Tensor]] = {}
    for run in runs:
        table = pd.DataFrame(run.removal)
        for index, key in enumerate(table[CONDITION].itertuples(index=False, name=None)):
            stacked.setdefault(key, []).append(run.removal_probabilities[index])
    return {key: torch.stack(values).double().mean(0) for key, values in stacked.items()}
