"""The sanity checks in words: per model and method, what randomising the weights did to its maps.

The curves are the mean over the model's seeds (:func:`cnnlens.views.faithfulness.sanity_over_seeds`); the outcome
is :func:`cnnlens.interpret.sanity.sanity_verdict`'s, read against the config's threshold and the reference measured
in the same run (two unrelated images' maps).
"""

from __future__ import annotations

import pandas as pd

from cnnlens.interpret.sanity import sanity_verdict
from cnnlens.plots.faithfulness import method_subject, step_layers
from cnnlens.reporting.faithfulness_tables import two_decimals
from cnnlens.texts import listing, text

SENTENCES = {  # sanity_verdict's outcome -> the sentence that says it
    "ignores_model": "faithfulness.sanity_ignores_model",
    "inconclusive": "faithfulness.sanity_inconclusive",
    "fails": "faithfulness.sanity_fails",
    "passes": "faithfulness.sanity_passes",
}


def sanity_verdicts(steps: pd.DataFrame, reference: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """:func:`cnnlens.interpret.sanity.sanity_verdict` of every model, with its ``model`` as the first column."""
    frames = [
        sanity_verdict(rows, reference[reference["model"] == model], threshold).assign(model=model)
        for model, rows in steps.groupby("model", sort=False)
    ]
    table = pd.concat(frames, ignore_index=True)
    return table[["model", *table.columns[:-1]]]


def sanity_paragraphs(verdicts: pd.DataFrame, steps: pd.DataFrame) -> list[str]:
    """One paragraph per model: its name, then :func:`sanity_sentence` of each method."""
    return [
        text("faithfulness.sanity_model", model=model)
        + text("style.sentence_separator").join(
            sanity_sentence(verdict, steps[steps["model"] == model]) for _, verdict in rows.iterrows()
        )
        for model, rows in verdicts.groupby("model", sort=False)
    ]


def sanity_sentence(verdict: pd.Series, steps: pd.DataFrame) -> str:
    """One method's outcome in a sentence: what it reads, where its similarity fell, and why it passes or fails.

    Args:
        verdict: a row of :func:`sanity_verdicts`.
        steps: the model's pooled curves (for the names of the steps).
    """
    layers = step_layers(list(dict.fromkeys(steps["randomised"])))
    values = {
        "model": verdict["model"],
        "method": method_subject(verdict["method"], starts_sentence=True),
        "end": two_decimals(verdict["end_spearman"]),
        "threshold": f"{verdict['threshold']:g}",
        "reference": two_decimals(verdict["reference"]),
        "flat": int(verdict["flat_maps"]),
        "images": int(steps["images"].iloc[0]),
    }
    sentences = [text(SENTENCES[verdict["outcome"]], **values)]
    unused = layers[: max(0, int(verdict["first_used"]) - 1)]
    if verdict["outcome"] != "ignores_model" and unused:
        sentences.append(
            text(
                "faithfulness.sanity_unused",
                layers=listing(unused),
                spearman=two_decimals(verdict["unused_spearman"]),
                first=layers[int(verdict["first_used"]) - 1],
            )
        )
    return text("style.sentence_separator").join(sentences)
