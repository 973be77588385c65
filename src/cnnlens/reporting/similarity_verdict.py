"""Architecture or seed, in words: does a variant's layer (or heatmap) differ from the baseline's more than two
seeds of one variant differ?

A difference between two variants means something only next to the floor, the difference between two seeds of
one recipe. The rule is stated over every measured pair, not over means, so that one outlying pair cannot carry a
verdict: a variant *differs* only where the most similar pair across the two variants lies below the least similar
seed pair by more than the noise of that gap (the image sample's); it is *alike* where no pair across lies below
every seed pair; what lies between, a gap the noise could make included, is *inconclusive*. With one seed the floor
is unknown: no verdict; where CKA cannot tell a variant's layers apart, its layers' verdicts cannot be read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from cnnlens.plots.faithfulness import method_name, method_subject
from cnnlens.reporting.faithfulness_tables import percent, two_decimals
from cnnlens.texts import listing, text
from cnnlens.views.order import in_order
from cnnlens.views.similarity import NOISE_ERRORS, TOP_FRACTION

LEAST_IDENTIFIED = 0.9  # below this share of layers found again in another seed, CKA cannot tell layers apart
# Each outcome: its words in a table, the clause that lists a variant's layers of it, the sentence on a method's maps.
OUTCOME_WORDS = {
    "unreadable": "similarity.outcome_unreadable",
    "differs": "similarity.outcome_differs",
    "alike": "similarity.outcome_alike",
    "inconclusive": "similarity.outcome_inconclusive",
    "floor_unknown": "similarity.outcome_floor_unknown",
    "not_measured": "similarity.outcome_not_measured",
}
LAYER_CLAUSES = {
    "unreadable": "similarity.layers_unreadable",
    "differs": "similarity.layers_differs",
    "alike": "similarity.layers_alike",
    "inconclusive": "similarity.layers_inconclusive",
    "floor_unknown": "similarity.layers_floor_unknown",
    "not_measured": "similarity.layers_not_measured",
}
MAP_SENTENCES = {
    "differs": "similarity.maps_differs",
    "alike": "similarity.maps_alike",
    "inconclusive": "similarity.maps_inconclusive",
    "floor_unknown": "similarity.maps_floor_unknown",
    "not_measured": "similarity.maps_not_measured",
}
PAIR_GROUPS = {
    "seeds": "similarity.group_seeds",
    "variants": "similarity.group_variants",
    "both": "similarity.group_both",
}


@dataclass(frozen=True)
class FloorComparison:
    """Values between two variants against the seed-to-seed floor (:func:`compare_with_floor`)."""

    outcome: str  # a key of OUTCOME_WORDS
    between_low: float  # the least similar pair of different variants (NaN when none is measured)
    between_high: float  # the most similar one
    floor_low: float  # the least similar seed pair (NaN when there are none)
    floor_high: float  # the most similar one
    noise: float  # NOISE_ERRORS standard errors of the gap between_high - floor_low; NaN where one is not measured
    pairs: int
    seed_pairs: int


def compare_with_floor(
    between: Sequence[float], floor: Sequence[float], between_errors: Sequence[float], floor_errors: Sequence[float]
) -> FloorComparison:
    """The outcome for the similarities ``between`` pairs of variants against those of ``floor`` seed pairs, each
    with its standard error (NaN values are left out: a layer that does not vary)."""
    across = [(value, error) for value, error in zip(between, between_errors, strict=True) if np.isfinite(value)]
    seeds = [(value, error) for value, error in zip(floor, floor_errors, strict=True) if np.isfinite(value)]
    if not across:
        nan = float("nan")
        return FloorComparison("not_measured", nan, nan, nan, nan, nan, 0, len(seeds))
    (low, _), (high, high_error) = min(across), max(across)
    if not seeds:
        return FloorComparison("floor_unknown", low, high, float("nan"), float("nan"), float("nan"), len(across), 0)
    (floor_low, floor_low_error), (floor_high, _) = min(seeds), max(seeds)
    # the gap's noise: its two ends' errors combined (NaN, so never beaten, where either was not measured)
    noise = NOISE_ERRORS * float(np.hypot(high_error, floor_low_error))
    if high < floor_low - noise:
        outcome = "differs"
    elif low >= floor_low:
        outcome = "alike"
    else:
        outcome = "inconclusive"
    return FloorComparison(outcome, low, high, floor_low, floor_high, noise, len(across), len(seeds))


def _against_baseline(pairs: pd.DataFrame, variant: str, baseline: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of ``pairs`` across ``variant`` and ``baseline``, and those of two seeds of either."""
    models = {variant, baseline}
    across = pairs["model"].isin(models) & pairs["other_model"].isin(models) & (pairs["kind"] != "seeds")
    floor = (pairs["kind"] == "seeds") & pairs["model"].isin(models)
    return pairs[across], pairs[floor]


def layer_verdicts(cka: pd.DataFrame, baseline: str, unreadable: Sequence[str] = ()) -> pd.DataFrame:
    """Per variant other than ``baseline`` and per layer both have (the rows of
    :func:`cnnlens.views.similarity.same_layer_cka`): ``variant``, ``layer`` and the fields of
    :class:`FloorComparison`; ``unreadable`` where the variant or the baseline is among the ``unreadable`` models
    (those whose layers CKA did not tell apart: :func:`unreadable_models`)."""
    verdicts = _floor_verdicts(cka, baseline, "layer", "cka", "error")
    hidden = verdicts["variant"].isin(unreadable) | (baseline in unreadable)
    return verdicts.assign(outcome=verdicts["outcome"].where(~hidden, "unreadable"))


def heatmap_verdicts(agreement: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Per variant other than ``baseline`` and per method both have (the rows of
    :func:`cnnlens.views.similarity.heatmap_agreement`), the same on the maps' mean Spearman agreement."""
    return _floor_verdicts(agreement, baseline, "method", "spearman", "spearman_error")


def _floor_verdicts(pairs: pd.DataFrame, baseline: str, by: str, value: str, error: str) -> pd.DataFrame:
    rows = []
    for variant in _variants(pairs, baseline):
        for name in dict.fromkeys(pairs[by]):
            across, floor = _against_baseline(pairs[pairs[by] == name], variant, baseline)
            if len(across):
                comparison = compare_with_floor(across[value], floor[value], across[error], floor[error])
                rows.append({"variant": variant, by: name, **asdict(comparison)})
    return pd.DataFrame(rows, columns=["variant", by, *(field.name for field in fields(FloorComparison))])


def unreadable_models(identification: pd.DataFrame) -> list[str]:
    """The models whose layers CKA found again in another seed less often than :data:`LEAST_IDENTIFIED`."""
    return identification.loc[~(identification["share"] >= LEAST_IDENTIFIED), "model"].tolist()


def _variants(pairs: pd.DataFrame, baseline: str) -> list[str]:
    return [model for model in in_order([*pairs["model"], *pairs["other_model"]]) if model != baseline]


def layer_paragraphs(verdicts: pd.DataFrame, baseline: str) -> list[str]:
    """One paragraph per variant: the layers where it differs from ``baseline`` more than seeds do, each with its
    numbers, then the layers of each other outcome."""
    paragraphs = []
    for variant, rows in verdicts.groupby("variant", sort=False):
        sentences = [text("similarity.layers_variant", variant=variant, baseline=baseline)]
        for outcome, clause in LAYER_CLAUSES.items():
            chosen = rows[rows["outcome"] == outcome]
            if len(chosen):
                details = listing(_layer_numbers(row) for _, row in chosen.iterrows())
                sentences.append(text(clause, layers=details))
        paragraphs.append(text("style.sentence_separator").join(sentences))
    return paragraphs


def _layer_numbers(row: pd.Series) -> str:
    if row["outcome"] == "not_measured":
        return str(row["layer"])
    if row["outcome"] == "floor_unknown":
        return text("similarity.layer_between", layer=row["layer"], between=_range(row, "between"))
    return text(
        "similarity.layer_against_floor", layer=row["layer"], between=_range(row, "between"), floor=_range(row, "floor")
    )


def _range(row: pd.Series, prefix: str) -> str:
    """The values of the pairs as "0.83–0.88", one value alone as "0.85", none as the missing mark."""
    low, high = row[f"{prefix}_low"], row[f"{prefix}_high"]
    if not np.isfinite(low):
        return text("style.missing")
    if two_decimals(low) == two_decimals(high):
        return two_decimals(low)
    return text("similarity.range", low=two_decimals(low), high=two_decimals(high))


def verdict_words(outcome: str) -> str:
    """An outcome as the tables write it, in a few words."""
    return text(OUTCOME_WORDS[outcome])


def heatmap_sentences(verdicts: pd.DataFrame, centre: pd.DataFrame, baseline: str) -> list[str]:
    """One sentence per method and variant: the agreement across the variants against that of two seeds, the
    outcome, and the model-free reference, the centre-only map's agreement (the table above gives chance too)."""
    sentences = []
    for _, row in verdicts.iterrows():
        models = {row["variant"], baseline}
        reference = centre[centre["method"] == row["method"]]
        values = {
            "method": method_subject(row["method"], starts_sentence=True),
            "variant": row["variant"],
            "baseline": baseline,
            "between": _range(row, "between"),
            "centre": _number(reference[reference["model"].isin(models)]["spearman"].mean()),
        }
        sentences.append(text(MAP_SENTENCES[row["outcome"]], floor=_range(row, "floor"), **values))
    return sentences


def identification_sentence(identification: pd.DataFrame) -> str:
    """Whether CKA finds each layer again in another seed of its variant (Kornblith et al.: 99.3 % for ten 10-layer
    CNNs on CIFAR-10); the variants below :data:`LEAST_IDENTIFIED` are named: their comparisons cannot be read."""
    if identification.empty:
        return text("similarity.identification_unknown")
    shares = listing(
        text(
            "similarity.identification_share",
            model=row["model"],
            share=_percent(row["share"]),
            identified=int(row["identified"]),
            comparisons=int(row["comparisons"]),
        )
        for _, row in identification.iterrows()
    )
    failing = unreadable_models(identification)
    if not failing:
        return text("similarity.identification_readable", shares=shares, least=percent(LEAST_IDENTIFIED))
    return text(
        "similarity.identification_unreadable", shares=shares, least=percent(LEAST_IDENTIFIED), models=listing(failing)
    )


def _percent(share: float) -> str:
    return percent(share) if np.isfinite(share) else text("style.missing")


def _number(value: float) -> str:
    return two_decimals(value) if np.isfinite(value) else text("style.missing")


def layer_table(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The per-layer verdicts (:func:`layer_verdicts`) as readers see them."""
    return pd.DataFrame(
        {
            text("similarity.header_variant"): verdicts["variant"],
            text("similarity.header_layer"): verdicts["layer"],
            text("similarity.header_across"): [_range(row, "between") for _, row in verdicts.iterrows()],
            text("similarity.header_floor"): [_range(row, "floor") for _, row in verdicts.iterrows()],
            text("similarity.header_verdict"): [verdict_words(outcome) for outcome in verdicts["outcome"]],
        }
    )


def identification_table(identification: pd.DataFrame) -> pd.DataFrame:
    """Kornblith's check per variant (``views.similarity.layer_identification``) as readers see it."""
    return pd.DataFrame(
        {
            text("similarity.header_variant"): identification["model"],
            text("similarity.header_layers"): identification["layers"],
            text("similarity.header_identified"): [
                f"{identified} / {compared}"
                for identified, compared in zip(
                    identification["identified"], identification["comparisons"], strict=True
                )
            ],
            text("similarity.header_share"): [_percent(share) for share in identification["share"]],
        }
    )


def maps_intro(images: int) -> str:
    """How the heatmaps of two runs are compared, before the table of :func:`agreement_table`."""
    return text("similarity.maps_intro", top=f"{100 * TOP_FRACTION:g}", images=images)


def agreement_table(agreement: pd.DataFrame, centre: pd.DataFrame, top_fraction: float = TOP_FRACTION) -> pd.DataFrame:
    """One row per group of run pairs (two seeds of a variant; two variants of one seed; of other seeds), then the
    references (each variant's maps against the centre-only map; chance), one column per method: the mean over the
    pairs of the maps' mean Spearman agreement, and in brackets their top-pixel overlap."""
    methods = list(dict.fromkeys([*agreement["method"], *centre["method"]]))
    groups = agreement.assign(group=[_pair_group(row) for _, row in agreement.iterrows()])
    references = centre.assign(group=[text("similarity.group_centre", model=model) for model in centre["model"]])
    rows = pd.concat([groups, references], ignore_index=True)
    means = rows.groupby(["group", "method"], sort=False)[["spearman", "top_overlap"]].mean()
    table = {
        text("similarity.header_pairs"): [*dict.fromkeys(rows["group"]), text("similarity.group_chance")],
    }
    for method in methods:
        cells = [
            _agreement_cell(*means.loc[(group, method)]) if (group, method) in means.index else text("style.missing")
            for group in dict.fromkeys(rows["group"])
        ]
        table[method_name(method)] = [*cells, _agreement_cell(0.0, top_fraction)]
    return pd.DataFrame(table)


def _pair_group(row: pd.Series) -> str:
    return text(PAIR_GROUPS[row["kind"]], model=row["model"], other=row["other_model"])


def _agreement_cell(spearman: float, overlap: float) -> str:
    return text("similarity.agreement_cell", spearman=_number(spearman), overlap=_number(overlap))
