"""Which heatmap marks what the model uses? The faithfulness verdict, drawn from every image's score.

Each image's score for a method is its insertion AUC minus its deletion AUC (higher is more faithful), averaged over
the seeds of the model. A method is compared image by image (:mod:`cnnlens.statistics`) with two maps that know
nothing of the model, the random map and the centred Gaussian, with its own inverted map (a control that must score
worse), and with every other method; Holm's adjustment runs over every comparison of the section, all models
together. The verdict then says no more than those tests:

- a method is *faithful* only if it beats both references (adjusted p below alpha, mean and signed ranks in its
  favour);
- the best faithful method is *the most faithful* only if it also beats the runner-up; otherwise the faithful methods
  the data cannot tell from the best are named together;
- a method whose inversion does not score worse is flagged: its order carries nothing the model uses;
- every difference the tests found (between two methods, or a method and a reference) is recomputed with the other
  fill and with twice the steps; where one reverses, the verdict says that the ranking depends on that knob. (Two
  methods the tests cannot tell apart may swap places under a knob without changing any conclusion.)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from cnnlens.artifacts import Faithfulness
from cnnlens.errors import CnnlensError
from cnnlens.interpret.heatmap_methods import MODEL_METHODS
from cnnlens.plots.faithfulness import knob_phrase, method_subject, seeds_phrase
from cnnlens.reporting.faithfulness_tables import difference, signed
from cnnlens.statistics import holm, paired_difference
from cnnlens.texts import listing, text
from cnnlens.views.order import distinct, in_order

RANDOM, GAUSSIAN = "random", "gaussian"
REFERENCES = (RANDOM, GAUSSIAN)  # the maps that know nothing of the model
INVERTED = "inverted"  # the comparison of a method with its own inverted map


@dataclass(frozen=True)
class ModelScores:
    """One model's per-image scores (insertion AUC minus deletion AUC), each the mean over the model's seeds.

    Attributes:
        model: the variant's name; seeds: the seeds averaged over.
        scores: method -> ``(N,)`` score of each scored image.
        inverted: model-based method -> ``(N,)`` score of its inverted map.
        knobs: knob (``fill``, ``steps``) -> method -> ``(N,)`` score with that knob turned.
        knob_settings: knob -> the ``baseline`` and ``steps`` it was measured with.
    """

    model: str
    seeds: list[int]
    scores: dict[str, np.ndarray]
    inverted: dict[str, np.ndarray]
    knobs: dict[str, dict[str, np.ndarray]]
    knob_settings: dict[str, dict]

    @property
    def images(self) -> int:
        return len(next(iter(self.scores.values())))

    @property
    def methods(self) -> list[str]:
        """The model-based methods, in the order the artifact lists them."""
        return [method for method in self.scores if method in MODEL_METHODS]

    def order(self, scores: dict[str, np.ndarray] | None = None) -> list[str]:
        """Every method (the references too) from the highest mean score to the lowest, ties in listed order."""
        scores = self.scores if scores is None else scores
        return sorted(scores, key=lambda method: -float(scores[method].mean()))


def image_scores(aucs: dict[str, torch.Tensor]) -> np.ndarray:
    """An image's score from its AUCs: insertion minus deletion, ``(N,)``."""
    return (aucs["insertion"] - aucs["deletion"]).double().numpy()


def model_scores(runs: Sequence[Faithfulness]) -> list[ModelScores]:
    """Every model's :class:`ModelScores` from its faithfulness files (one per seed), models in order of appearance.

    The seeds of a model are averaged image by image, so every run must have scored the same images.
    """
    first = runs[0].image_indices
    if any(not torch.equal(run.image_indices, first) for run in runs):
        raise CnnlensError("the faithfulness files scored different test images: run snakemake again")
    models = []
    for model in in_order(run.model for run in runs):
        own = [run for run in runs if run.model == model]
        models.append(
            ModelScores(
                model,
                distinct(run.seed for run in own),
                _averaged([run.aucs for run in own]),
                _averaged([run.inverted_aucs for run in own]),
                {knob: _averaged([run.knob_aucs[knob] for run in own]) for knob in own[0].knob_aucs},
                own[0].knobs,
            )
        )
    return models


def _averaged(aucs: Sequence[dict[str, dict[str, torch.Tensor]]]) -> dict[str, np.ndarray]:
    """Method -> per-image score, the mean over the seeds' AUCs (one dict per seed)."""
    return {method: np.mean([image_scores(seed[method]) for seed in aucs], axis=0) for method in aucs[0]}


def comparison_tests(models: Sequence[ModelScores], alpha: float) -> pd.DataFrame:
    """Every comparison the verdict reads, one row each, Holm-adjusted together, intervals at ``1 - alpha``.

    Per model and model-based method: against each reference, against its inverted map (``against`` is
    ``inverted``), and against every later method. Columns: ``model``, ``method``, ``against``, ``mean`` (the mean
    difference in score, method minus the other), ``low`` and ``high`` (its bootstrap interval), ``p_value``,
    ``p_holm``, ``direction`` (see :class:`cnnlens.statistics.PairedDifference`), ``images``.
    """
    rows = []
    for scores in models:
        others = [*(reference for reference in REFERENCES if reference in scores.scores), INVERTED]
        pairs = [(method, other) for method in scores.methods for other in others]
        pairs += list(itertools.combinations(scores.methods, 2))
        for method, other in pairs:
            versus = scores.inverted[method] if other == INVERTED else scores.scores[other]
            found = paired_difference(scores.scores[method] - versus, 1 - alpha)
            rows.append(
                {"model": scores.model, "method": method, "against": other}
                | {key: getattr(found, key) for key in ("mean", "low", "high", "p_value", "direction")}
                | {"images": found.units}
            )
    columns = ["model", "method", "against", "mean", "low", "high", "p_value", "direction", "images"]
    table = pd.DataFrame(rows, columns=columns)
    table.insert(table.columns.get_loc("p_value") + 1, "p_holm", holm(table["p_value"].to_numpy()))
    return table


def comparison_row(tests: pd.DataFrame, model: str, method: str, against: str) -> pd.Series:
    """The comparison of ``method`` with ``against`` for ``model``, in either order (the sign then flipped)."""
    mine = tests[tests["model"] == model]
    found = mine[(mine["method"] == method) & (mine["against"] == against)]
    if len(found):
        return found.iloc[0]
    row = mine[(mine["method"] == against) & (mine["against"] == method)].iloc[0].copy()
    row["mean"], row["low"], row["high"] = -row["mean"], -row["high"], -row["low"]
    row["direction"] = -row["direction"]
    row["method"], row["against"] = method, against
    return row


def beats(tests: pd.DataFrame, model: str, method: str, against: str, alpha: float) -> bool:
    """Whether ``method`` scores higher than ``against``: adjusted p below ``alpha``, mean and ranks in its favour."""
    row = comparison_row(tests, model, method, against)
    return bool(row["p_holm"] < alpha and row["direction"] > 0)


@dataclass(frozen=True)
class HeatmapVerdict:
    """What the tests say about one model's heatmaps.

    Attributes:
        model: the variant.
        faithful: the methods that beat both references, highest mean score first.
        leaders: the most faithful method alone, or the faithful methods the data cannot tell from the best; empty
            when none is faithful.
        best: the model-based method with the highest mean score, faithful or not.
        inversion_failures: the methods whose inverted map does not score worse than the map itself.
        order: every method by mean score, highest first.
        reversals: knob -> the ``(higher, lower)`` pairs the tests ordered whose mean difference does not keep its
            sign with that knob turned; only knobs with a reversal.
    """

    model: str
    faithful: list[str]
    leaders: list[str]
    best: str
    inversion_failures: list[str]
    order: list[str]
    reversals: dict[str, list[tuple[str, str]]]


def heatmap_verdict(scores: ModelScores, tests: pd.DataFrame, alpha: float) -> HeatmapVerdict:
    """Read the tests of one model (:func:`comparison_tests`) as the module's docstring says."""
    model = scores.model
    order = scores.order()
    faithful = [
        method
        for method in order
        if method in scores.methods
        and all(beats(tests, model, method, other, alpha) for other in REFERENCES if other in scores.scores)
    ]
    leaders = faithful[:1]
    if len(faithful) > 1 and not beats(tests, model, faithful[0], faithful[1], alpha):
        leaders += [other for other in faithful[1:] if not beats(tests, model, faithful[0], other, alpha)]
    return HeatmapVerdict(
        model,
        faithful,
        leaders,
        next(method for method in order if method in scores.methods),
        [method for method in scores.methods if not beats(tests, model, method, INVERTED, alpha)],
        order,
        knob_reversals(scores, tests, alpha),
    )


def knob_reversals(scores: ModelScores, tests: pd.DataFrame, alpha: float) -> dict[str, list[tuple[str, str]]]:
    """Knob -> the ``(higher, lower)`` pairs of methods (references included) that the tests order (adjusted p below
    ``alpha``, sides agreeing) and whose mean difference in score, with that knob turned, is zero or of the other
    sign; knobs without a reversal are left out."""
    mine = tests[(tests["model"] == scores.model) & (tests["against"] != INVERTED)]
    ordered = mine[(mine["p_holm"] < alpha) & (mine["direction"] != 0)]
    reversals = {}
    for knob, values in scores.knobs.items():
        pairs = [
            (row.method, row.against) if row.direction > 0 else (row.against, row.method)
            for row in ordered.itertuples()
            if np.sign(values[row.method].mean() - values[row.against].mean()) != row.direction
        ]
        if pairs:
            reversals[knob] = pairs
    return reversals


def faithfulness_verdicts(runs: Sequence[Faithfulness], alpha: float) -> list[str]:
    """One paragraph per model, in order of appearance (:func:`verdict_text`), from every faithfulness file."""
    models = model_scores(runs)
    return verdict_texts(models, comparison_tests(models, alpha), alpha)


def verdict_texts(models: Sequence[ModelScores], tests: pd.DataFrame, alpha: float) -> list[str]:
    """:func:`verdict_text` of every model."""
    return [verdict_text(scores, heatmap_verdict(scores, tests, alpha), tests) for scores in models]


def verdict_text(scores: ModelScores, verdict: HeatmapVerdict, tests: pd.DataFrame) -> str:
    """The verdict in words: which methods are faithful, with the effect sizes and intervals behind that, the
    inversion control and whether the ranking survives its knobs."""
    sentences = [_lead(scores, verdict, tests)]
    if verdict.inversion_failures:
        methods = listing(method_subject(method) for method in verdict.inversion_failures)
        sentences.append(text("verdict.inversion_failed", methods=methods))
    sentences.append(_knob_sentence(scores, verdict))
    return text("style.sentence_separator").join(sentences)


def _lead(scores: ModelScores, verdict: HeatmapVerdict, tests: pd.DataFrame) -> str:
    """The first sentence: the most faithful method, the tied leaders, or that none beats both references."""
    model, seeds = scores.model, seeds_phrase(scores.seeds)
    named = verdict.leaders[0] if verdict.leaders else verdict.best
    values = {
        "model": model,
        "method": method_subject(named),
        "random": difference(comparison_row(tests, model, named, RANDOM)),
        "gaussian": difference(comparison_row(tests, model, named, GAUSSIAN)),
        "over": seeds,
    }
    if not verdict.faithful:
        return text("verdict.none_faithful", **values)
    if len(verdict.faithful) == 1:
        return text("verdict.only_faithful", **values)
    if len(verdict.leaders) == 1:
        runner = verdict.faithful[1]
        versus = difference(comparison_row(tests, model, named, runner))
        return text("verdict.most_faithful", **values, runner=method_subject(runner), versus=versus)
    closest = difference(comparison_row(tests, model, named, verdict.leaders[1]))
    methods = listing(method_subject(method) for method in verdict.leaders)
    return text("verdict.tied_leaders", **values, methods=methods, versus=closest)


def _knob_sentence(scores: ModelScores, verdict: HeatmapVerdict) -> str:
    """Whether every difference the tests found keeps its sign with each knob turned, and which do not."""
    settings = {knob: knob_phrase(knob, setting) for knob, setting in scores.knob_settings.items()}
    if not verdict.reversals:
        return text("verdict.ranking_holds", knobs=text("style.and").join(settings.values()))
    changes = [
        text("verdict.reversed_under", knob=settings[knob], higher=method_subject(higher), lower=method_subject(lower))
        for knob, pairs in verdict.reversals.items()
        for higher, lower in pairs
    ]
    return text(
        "verdict.ranking_depends",
        knobs=text("style.and").join(settings[knob] for knob in verdict.reversals),
        changes=text("style.clause_separator").join(changes),
    )


def knob_scores(models: Sequence[ModelScores]) -> pd.DataFrame:
    """Every method's mean score and its rank (1 = highest) at the measured settings and with each knob turned, one
    row per model, method and setting: ``model``, ``method``, ``setting`` (``given`` or the knob), ``header`` (the
    setting as a column header), ``score``, ``rank``, ``cell`` (``+0.0521 (1)``)."""
    rows = []
    for scores in models:
        settings = {"given": (text("faithfulness.header_given"), scores.scores)}
        for knob, knob_scores in scores.knobs.items():
            header = text("faithfulness.header_knob", knob=knob_phrase(knob, scores.knob_settings[knob]))
            settings[knob] = (header, knob_scores)
        for setting, (header, values) in settings.items():
            ranks = {method: rank for rank, method in enumerate(scores.order(values), start=1)}
            for method, per_image in values.items():
                mean = float(per_image.mean())
                rows.append(
                    {
                        "model": scores.model,
                        "method": method,
                        "setting": setting,
                        "header": header,
                        "score": mean,
                        "rank": ranks[method],
                        "cell": f"{signed(mean)} ({ranks[method]})",
                    }
                )
    return pd.DataFrame(rows)
