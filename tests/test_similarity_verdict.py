import math
import re

import pandas as pd
import pytest

from cnnlens.reporting import similarity_verdict as verdict


@pytest.mark.parametrize(
    ("between", "floor", "errors", "outcome"),
    [
        ([0.70, 0.72], [0.88, 0.90], 0.01, "differs"),
        # the means are far apart, but one seed pair lies below a pair across: seeds alone can do that
        ([0.70, 0.85], [0.88, 0.80], 0.01, "inconclusive"),
        # every pair across lies within the seed pairs' range: no more than seeds
        ([0.84, 0.86], [0.80, 0.90], 0.01, "alike"),
        # below every seed pair, but by less than the gap's noise: neither claim holds
        ([0.86], [0.88, 0.90], 0.01, "inconclusive"),
        ([0.80], [0.88, 0.90], 0.01, "differs"),
        # a low similarity says nothing without seeds to compare with
        ([0.10, 0.12], [], 0.01, "floor_unknown"),
        ([math.nan], [0.9], math.nan, "not_measured"),
        # no standard error measured (one minibatch): a gap cannot be shown to beat the noise; a match still shows
        ([0.10], [0.90, 0.95], math.nan, "inconclusive"),
        ([0.92], [0.90, 0.95], math.nan, "alike"),
        # a layer that does not vary in one seed pair: the rest still decide
        ([0.70], [math.nan, 0.90], 0.01, "differs"),
    ],
)
def test_the_outcome_follows_every_pair_not_the_means(between, floor, errors, outcome):
    result = verdict.compare_with_floor(between, floor, [errors] * len(between), [errors] * len(floor))
    assert result.outcome == outcome


def test_the_noise_is_that_of_the_gap_between_the_closest_pair_across_and_the_lowest_seed_pair():
    # 0.80 against 0.88: a gap of 0.08; its ends' errors 0.03 and 0.02 make a noise of 2 x 0.036 = 0.072
    result = verdict.compare_with_floor([0.80, 0.60], [0.88, 0.95], [0.03, 0.30], [0.02, 0.30])
    assert result.noise == pytest.approx(2 * math.hypot(0.03, 0.02))
    assert result.outcome == "differs"  # the far pairs' large errors do not decide
    assert (result.between_low, result.between_high, result.floor_low, result.floor_high) == (0.60, 0.80, 0.88, 0.95)
    assert (result.pairs, result.seed_pairs) == (2, 2)
    assert verdict.compare_with_floor([0.80], [0.88], [0.04], [0.03]).outcome == "inconclusive"  # noise 0.10


def pairs(rows: list[tuple]) -> pd.DataFrame:
    columns = ["model", "seed", "other_model", "other_seed", "kind", "layer", "cka", "error"]
    return pd.DataFrame(rows, columns=columns)


def test_layer_verdicts_read_the_pairs_of_the_variant_and_the_baseline_only():
    table = pairs(
        [
            ("plain", 0, "plain", 1, "seeds", "conv3", 0.90, 0.01),
            ("plain", 0, "se", 0, "variants", "conv3", 0.60, 0.01),
            ("plain", 0, "se", 1, "both", "conv3", 0.62, 0.01),
            ("plain", 0, "cbam", 0, "variants", "conv3", 0.20, 0.01),  # another variant: not SE's business
            ("plain", 1, "se", 0, "both", "conv3", 0.61, 0.01),
            ("plain", 1, "se", 1, "variants", "conv3", 0.59, 0.01),
            ("se", 0, "se", 1, "seeds", "conv3", 0.88, 0.01),
            ("cbam", 0, "cbam", 1, "seeds", "conv3", 0.10, 0.01),  # a noisy variant must not lower SE's floor
        ]
    )
    verdicts = verdict.layer_verdicts(table, "plain").set_index("variant")
    assert verdicts.loc["se", "outcome"] == "differs"
    assert (verdicts.loc["se", "between_low"], verdicts.loc["se", "between_high"]) == (0.59, 0.62)
    assert (verdicts.loc["se", "floor_low"], verdicts.loc["se", "floor_high"]) == (0.88, 0.90)
    assert verdicts.loc["se", "seed_pairs"] == 2 and verdicts.loc["se", "pairs"] == 4
    # CBAM lies far from plain, but two of its own seeds lie further apart still: no more than seeds
    assert verdicts.loc["cbam", "outcome"] == "alike"
    assert verdicts.loc["cbam", "floor_low"] == 0.10
    # where CKA cannot tell CBAM's layers apart, its verdicts cannot be read; SE's stand
    hidden = verdict.layer_verdicts(table, "plain", unreadable=["cbam"]).set_index("variant")["outcome"]
    assert hidden.to_dict() == {"se": "differs", "cbam": "unreadable"}
    assert set(verdict.layer_verdicts(table, "plain", unreadable=["plain"])["outcome"]) == {"unreadable"}


def test_with_one_seed_no_layer_gets_a_verdict(text_keys):
    table = pairs([("plain", 0, "se", 0, "variants", layer, 0.3, 0.01) for layer in ("conv1", "fc1")])
    verdicts = verdict.layer_verdicts(table, "plain")
    assert verdicts["outcome"].tolist() == ["floor_unknown", "floor_unknown"]
    paragraph = verdict.layer_paragraphs(verdicts, "plain")[0]
    outcomes = re.findall(r"⟨(similarity\.layers_\w+)", paragraph)
    assert outcomes == ["similarity.layers_variant", "similarity.layers_floor_unknown"]
    assert re.findall(r"⟨similarity\.layer_between layer=(\w+) between=([\d.]+)⟩", paragraph) == [
        ("conv1", "0.30"),
        ("fc1", "0.30"),
    ]
    words = verdict.layer_table(verdicts).iloc[:, -1].tolist()
    assert words == ["⟨similarity.outcome_floor_unknown⟩"] * 2


def test_identification_below_the_least_share_says_the_comparison_cannot_be_read(text_keys):
    readable = pd.DataFrame([{"model": "plain", "layers": 7, "comparisons": 14, "identified": 14, "share": 1.0}])
    low = pd.DataFrame(
        [
            {"model": "plain", "layers": 7, "comparisons": 14, "identified": 14, "share": 1.0},
            {"model": "se", "layers": 10, "comparisons": 20, "identified": 16, "share": 0.8},
        ]
    )

    def outcome(identification: pd.DataFrame) -> str:
        return re.match(r"⟨(similarity\.identification_\w+)", verdict.identification_sentence(identification))[1]

    assert outcome(readable) == "similarity.identification_readable"
    assert outcome(low) == "similarity.identification_unreadable"
    assert outcome(low.iloc[:0]) == "similarity.identification_unknown"
    assert "share=80 %" in verdict.identification_sentence(low)
    assert verdict.unreadable_models(low) == ["se"]
    assert "models=se" in verdict.identification_sentence(low)  # only the variant that fails is named


def agreement_rows(rows: list[tuple]) -> pd.DataFrame:
    columns = ["model", "seed", "other_model", "other_seed", "kind", "method", "spearman", "spearman_error"]
    return pd.DataFrame(rows, columns=columns).assign(top_overlap=0.3, images=100)


def test_the_agreement_table_groups_pairs_and_ends_with_both_references(text_keys):
    agreement = agreement_rows(
        [
            ("plain", 0, "plain", 1, "seeds", "gradcam", 0.60, 0.01),
            ("plain", 0, "se", 0, "variants", "gradcam", 0.50, 0.01),
            ("plain", 1, "se", 1, "variants", "gradcam", 0.40, 0.01),
            ("se", 0, "se", 1, "seeds", "gradcam", 0.70, 0.01),
        ]
    )
    centre = pd.DataFrame(
        [
            {"model": "plain", "seed": 0, "method": "gradcam", "spearman": 0.2, "top_overlap": 0.1},
            {"model": "plain", "seed": 1, "method": "gradcam", "spearman": 0.4, "top_overlap": 0.1},
        ]
    )
    shown = verdict.agreement_table(agreement, centre)
    assert shown.iloc[:, 0].tolist() == [
        "⟨similarity.group_seeds model=plain other=plain⟩",
        "⟨similarity.group_variants model=plain other=se⟩",
        "⟨similarity.group_seeds model=se other=se⟩",
        "⟨similarity.group_centre model=plain⟩",
        "⟨similarity.group_chance⟩",
    ]
    cells = shown.iloc[:, 1].tolist()  # the two same-seed pairs averaged; the centre over plain's two runs
    assert cells[1] == "⟨similarity.agreement_cell spearman=0.45 overlap=0.30⟩"
    assert cells[3] == "⟨similarity.agreement_cell spearman=0.30 overlap=0.10⟩"
    assert cells[4] == "⟨similarity.agreement_cell spearman=0.00 overlap=0.10⟩"  # chance: top 10 % by luck


def test_each_heatmap_sentence_says_its_outcome_with_the_centre_reference(text_keys):
    agreement = agreement_rows(
        [
            ("plain", 0, "plain", 1, "seeds", "gradcam", 0.60, 0.01),
            ("plain", 0, "se", 0, "variants", "gradcam", 0.30, 0.01),
            ("se", 0, "se", 1, "seeds", "gradcam", 0.70, 0.01),
        ]
    )
    centre = pd.DataFrame([{"model": model, "method": "gradcam", "spearman": 0.25} for model in ("plain", "se")])
    (sentence,) = verdict.heatmap_sentences(verdict.heatmap_verdicts(agreement, "plain"), centre, "plain")
    assert sentence.startswith("⟨similarity.maps_differs ")
    assert "between=0.30" in sentence and "centre=0.25" in sentence
