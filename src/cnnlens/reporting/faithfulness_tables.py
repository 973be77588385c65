"""The faithfulness section's tables as readers see them, and the paragraphs that say what each holds.

Every table is built from numbers computed elsewhere (:mod:`cnnlens.views.faithfulness`, the verdict modules); here
they get their headers in the chosen language and their digits.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from cnnlens.interpret.sanity import SSIM_WINDOW
from cnnlens.plots.faithfulness import (
    criterion_name,
    fill_name,
    knob_phrase,
    method_name,
    seeds_phrase,
    step_layers,
)
from cnnlens.plots.style import confidence_level, listing
from cnnlens.texts import text
from cnnlens.views.faithfulness import FaithfulnessSetup
from cnnlens.views.order import in_order

DIGITS = 4  # decimals of the mean scores: differences between methods are often in the third
# over_seeds measure -> the text that heads it in the score table
SCORE_HEADERS = {
    "deletion_auc": "faithfulness.header_deletion",
    "insertion_auc": "faithfulness.header_insertion",
    "score": "faithfulness.header_score",
    "inverted_score": "faithfulness.header_inverted_score",
}
DROP_INCREASE_HEADERS = {  # torch-cam's measures, in a table of their own
    "average_drop": "faithfulness.header_drop",
    "increase_in_confidence": "faithfulness.header_increase",
}
REMOVAL_OUTCOME_TEXTS = {  # removal_verdict.outcome -> its word in the table
    "more": "faithfulness.removal_more",
    "less": "faithfulness.removal_less",
    "inconclusive": "faithfulness.removal_inconclusive",
}
OUTCOME_TEXTS = {  # interpret.sanity.sanity_verdict's outcome -> its word in the table
    "ignores_model": "faithfulness.outcome_ignores_model",
    "inconclusive": "faithfulness.outcome_inconclusive",
    "fails": "faithfulness.outcome_fails",
    "passes": "faithfulness.outcome_passes",
}


def signed(value: float) -> str:
    """A difference with its sign and three decimals: ``+0.052``, ``-0.004``; ``+0.000`` for what rounds to 0."""
    return f"{round(value, 3) + 0.0:+.3f}"


def difference(row: pd.Series) -> str:
    """A mean difference with its interval, as verdicts and tables show it: ``+0.052 [+0.041, +0.063]``."""
    return text("faithfulness.difference", mean=signed(row["mean"]), low=signed(row["low"]), high=signed(row["high"]))


def two_decimals(value: float) -> str:
    """A similarity with two decimals, without the "-0.00" that a small negative value would round to."""
    return f"{round(value, 2) + 0.0:.2f}"


def percent(share: float) -> str:
    return f"{100 * share:.0f} %"


def mean_std(mean: float, std: float, seeds: int, digits: int = DIGITS) -> str:
    """A score over seeds as the table shows it: "0.2134 ± 0.0051", or "0.2134" from one seed; "n/a" for none."""
    if pd.isna(mean):
        return text("style.missing")
    if seeds == 1:
        return f"{mean:.{digits}f}"
    return text("faithfulness.mean_std", mean=f"{mean:.{digits}f}", std=f"{std:.{digits}f}")


def significance(p_holm: float, direction: int, alpha: float) -> str:
    """What a comparison shows: higher, lower, or no difference the data can tell."""
    if p_holm >= alpha or direction == 0:
        return text("faithfulness.outcome_not_significant")
    return text("faithfulness.outcome_higher" if direction > 0 else "faithfulness.outcome_lower")


def score_table(table: pd.DataFrame) -> pd.DataFrame:
    """The AUCs and scores over seeds (``views.faithfulness.over_seeds``) as readers see them: mean ± std over seeds
    (the mean alone from one seed), and the share of tied pixels."""
    return _measures_table(table, SCORE_HEADERS).assign(
        **{text("faithfulness.header_tied"): [percent(share) for share in table["tied_share_mean"]]}
    )


def drop_increase_table(table: pd.DataFrame) -> pd.DataFrame:
    """Average Drop and Increase in Confidence over seeds (``views.faithfulness.over_seeds``), as
    :func:`score_table`."""
    return _measures_table(table, DROP_INCREASE_HEADERS)


def _measures_table(table: pd.DataFrame, headers: Mapping[str, str]) -> pd.DataFrame:
    def spread(measure: str) -> list[str]:
        values = zip(table[f"{measure}_mean"], table[f"{measure}_std"], table["seeds"], strict=True)
        return [mean_std(mean, std, seeds) for mean, std, seeds in values]

    return pd.DataFrame(
        {
            text("faithfulness.header_model"): table["model"],
            text("faithfulness.header_method"): [method_name(method) for method in table["method"]],
            **{text(key): spread(measure) for measure, key in headers.items()},
        }
    )


def tests_table(tests: pd.DataFrame, model: str, alpha: float) -> pd.DataFrame:
    """The verdict's comparisons of one model (``heatmap_verdict.comparison_tests``) as readers see them."""
    mine = tests[tests["model"] == model]
    return pd.DataFrame(
        {
            text("faithfulness.header_method"): [method_name(method) for method in mine["method"]],
            text("faithfulness.header_against"): [against_name(other) for other in mine["against"]],
            text("faithfulness.header_difference", confidence=confidence_level(alpha)): [
                difference(row) for _, row in mine.iterrows()
            ],
            text("faithfulness.header_p_holm"): [f"{p:.3g}" for p in mine["p_holm"]],
            text("faithfulness.header_outcome"): [
                significance(p, direction, alpha)
                for p, direction in zip(mine["p_holm"], mine["direction"], strict=True)
            ],
        }
    )


def against_name(other: str) -> str:
    """What a method was compared with: another method, a reference map, or its own inverted map."""
    return text("faithfulness.against_inverted") if other == "inverted" else method_name(other)


def knob_table(orders: pd.DataFrame) -> pd.DataFrame:
    """Every method's mean score and rank at the given settings and with each knob turned
    (``heatmap_verdict.knob_scores``): one row per model and method, one column per setting."""
    settings = in_order(orders["setting"])
    wide = orders.pivot(index=["model", "method"], columns="setting", values="cell")
    index = in_order(zip(orders["model"], orders["method"], strict=True))
    wide = wide.loc[index]
    headers = {setting: orders.loc[orders["setting"] == setting, "header"].iloc[0] for setting in settings}
    return pd.DataFrame(
        {
            text("faithfulness.header_model"): [model for model, _ in index],
            text("faithfulness.header_method"): [method_name(method) for _, method in index],
            **{headers[setting]: wide[setting].to_numpy() for setting in settings},
        }
    )


def removal_table(tests: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Channel removal's tests (``removal_verdict.removal_tests``) as readers see them, the models side by side for
    each site, criterion and share removed."""
    models = {model: place for place, model in enumerate(in_order(tests["model"]))}
    blocks = tests["site"].str.extract(r"(\d+)$", expand=False).astype(int)  # relu2 and ca2 end the same block
    ordered = tests.assign(block=blocks, place=tests["model"].map(models)).sort_values(
        ["criterion", "block", "fraction", "place"], kind="stable"
    )
    return pd.DataFrame(
        {
            text("faithfulness.header_criterion"): [criterion_name(criterion) for criterion in ordered["criterion"]],
            text("faithfulness.header_site"): ordered["site"],
            text("faithfulness.header_removed"): [
                text("faithfulness.removed_count", removed=row.removed, share=f"{100 * row.removed / row.channels:.1f}")
                for row in ordered.itertuples()
            ],
            text("faithfulness.header_model"): ordered["model"],
            text("faithfulness.header_probability_drop", confidence=confidence_level(alpha)): [
                difference(row) for _, row in ordered.iterrows()
            ],
            text("faithfulness.header_p_holm"): [f"{p:.3g}" for p in ordered["p_holm"]],
            text("faithfulness.header_outcome"): [
                text(f"faithfulness.removal_{found}") for found in ordered["outcome"]
            ],
        }
    )


def sanity_table(steps: pd.DataFrame, verdicts: pd.DataFrame, model: str) -> pd.DataFrame:
    """One model's sanity checks (``views.faithfulness.sanity_over_seeds``, ``sanity_verdict.sanity_verdicts``) as
    readers see them: one row per method and target, one column per randomisation step holding "Spearman / SSIM"
    (two decimals; in brackets where the step has not reached a layer the method reads), the reference of two
    unrelated images' maps, the flat maps at the last step and the outcome."""
    mine = steps[steps["model"] == model]
    layers = step_layers(in_order(mine["randomised"]))
    cells = mine.assign(
        cell=[
            _cell(spearman, ssim, uses)
            for spearman, ssim, uses in zip(mine["spearman"], mine["ssim"], mine["uses"], strict=True)
        ]
    )
    methods = {method: place for place, method in enumerate(in_order(mine["method"]))}
    order = sorted(  # each method's re-predicted row right after its own
        in_order(zip(mine["method"], mine["target"], strict=True)),
        key=lambda row: (methods[row[0]], row[1] != "fixed"),
    )
    wide = cells.pivot(index=["method", "target"], columns="step", values="cell").loc[order]
    last = cells[cells["step"] == cells["step"].max()].set_index(["method", "target"]).loc[order]
    outcomes = verdicts[verdicts["model"] == model].set_index("method")
    return pd.DataFrame(
        {
            text("faithfulness.header_method"): [_target_name(method, target) for method, target in order],
            **{
                text("faithfulness.step_header", layer=layer): wide[step].to_numpy()
                for step, layer in zip(wide.columns, layers, strict=True)
            },
            text("faithfulness.header_reference"): [
                two_decimals(outcomes.loc[method, "reference"]) for method, _ in order
            ],
            text("faithfulness.header_flat"): [
                f"{flat} / {images}" for flat, images in zip(last["flat_maps"], last["images"], strict=True)
            ],
            text("faithfulness.header_sanity_outcome"): [
                text(OUTCOME_TEXTS[outcomes.loc[method, "outcome"]]) if target == "fixed" else ""
                for method, target in order
            ],
        }
    )


def _cell(spearman: float, ssim: float, uses: bool) -> str:
    cell = f"{two_decimals(spearman)} / {two_decimals(ssim)}"
    return cell if uses else f"({cell})"


def _target_name(method: str, target: str) -> str:
    return method_name(method) if target == "fixed" else text("faithfulness.repredicted", method=method_name(method))


# ---- the paragraphs ----


def intro() -> str:
    """What the section measures and how to read it, before its first figure."""
    return text("faithfulness.intro")


def methods_paragraph() -> str:
    """The heatmap methods and the two references, after :func:`intro`."""
    return text("faithfulness.methods")


def drop_increase_paragraph() -> str:
    """What the table of Average Drop and Increase in Confidence (:func:`drop_increase_table`) holds."""
    return text("faithfulness.drop_increase_paragraph")


def score_paragraph(setup: FaithfulnessSetup) -> str:
    """What the score table (:func:`score_table`) holds, on which images and seeds."""
    if len(setup.seeds) == 1:
        spread = text("faithfulness.spread_one_seed", seed=setup.seeds[0])
    else:
        spread = text("faithfulness.spread_seeds", seeds=listing(setup.seeds))
    return text(
        "faithfulness.score_paragraph",
        images=setup.images,
        fill=fill_name(setup.baseline, setup.size),
        steps=setup.steps,
        spread=spread,
    )


def tests_paragraph(setup: FaithfulnessSetup, tests: pd.DataFrame, alpha: float) -> str:
    """How the verdict's comparisons (:func:`tests_table`) were made."""
    return text(
        "faithfulness.tests_paragraph",
        images=setup.images,
        over=seeds_phrase(setup.seeds),
        tests=len(tests),
        alpha=f"{alpha:g}",
        confidence=confidence_level(alpha),
    )


def knob_paragraph(setup: FaithfulnessSetup, knobs: Mapping[str, Mapping[str, object]]) -> str:
    """What the knob table (:func:`knob_table`) holds."""
    return text(
        "faithfulness.knob_paragraph",
        fill=fill_name(setup.baseline, setup.size),
        steps=setup.steps,
        knobs=text("style.and").join(knob_phrase(knob, setting) for knob, setting in knobs.items()),
    )


def removal_paragraph(setup: FaithfulnessSetup, alpha: float, tests: int) -> str:
    """How the channel-removal tests (:func:`removal_table`) were made."""
    return text(
        "faithfulness.removal_paragraph",
        images=setup.images,
        over=seeds_phrase(setup.seeds),
        tests=tests,
        alpha=f"{alpha:g}",
        confidence=confidence_level(alpha),
    )


def sanity_paragraph(setup: FaithfulnessSetup, steps: pd.DataFrame, threshold: float) -> str:
    """What the sanity table (:func:`sanity_table`) holds: the runs, the steps, the images and the threshold."""
    return text(
        "faithfulness.sanity_paragraph",
        over=seeds_phrase(setup.seeds),
        steps=listing(step_layers(in_order(steps["randomised"]))),
        images=setup.sanity_images,
        window=SSIM_WINDOW,
        threshold=f"{threshold:g}",
    )
