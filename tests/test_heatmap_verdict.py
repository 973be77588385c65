"""The verdict's sentence on the heatmaps: which method beats the random map, worked out on hand-made runs."""

import pandas as pd
import pytest

from cnnlens.reporting import heatmap_verdict as verdict

from helpers import faithfulness_artifact

MEANS = pd.Series({"channels": 0.30, "gradcam": 0.20, "random": 0.40, "gaussian": 0.10})


def paired_tests(*rows: tuple[str, str, float, str]) -> pd.DataFrame:
    """Paired tests on deletion AUC: (method_a, method_b, p_holm, favours)."""
    return pd.DataFrame(rows, columns=["method_a", "method_b", "p_holm", "favours"])


def test_the_test_against_random_is_found_in_either_order():
    paired = paired_tests(("channels", "gradcam", 0.9, "gradcam"), ("random", "gradcam", 0.01, "gradcam"))
    assert verdict.against_random(paired, "gradcam")["p_holm"] == 0.01
    paired = paired_tests(("gradcam", "random", 0.02, "gradcam"))
    assert verdict.against_random(paired, "gradcam")["p_holm"] == 0.02


@pytest.mark.parametrize(
    ("means", "p_holm", "favours", "beats"),
    [
        (MEANS, 0.01, "gradcam", True),
        (MEANS, 0.05, "gradcam", False),  # p must be below alpha, not equal to it
        (MEANS, 0.01, "random", False),  # significant, but the ranks favour the random map
        (MEANS.replace({0.20: 0.45}), 0.01, "gradcam", False),  # a higher mean than the random map's
    ],
    ids=["beats", "p at alpha", "favours random", "higher mean"],
)
def test_beating_the_random_map_takes_a_lower_mean_and_a_significant_test_in_its_favour(means, p_holm, favours, beats):
    paired = paired_tests(("gradcam", "random", p_holm, favours))
    assert verdict.beats_random(means, paired, "gradcam", 0.05) is beats


def test_the_most_faithful_is_the_lowest_of_the_methods_that_beat_random():
    paired = paired_tests(
        ("channels", "random", 0.01, "channels"),
        ("gradcam", "random", 0.20, "gradcam"),  # lowest mean, but not significant
        ("random", "gaussian", 0.001, "gaussian"),  # the Gaussian ignores the model: never named
    )
    assert verdict.most_faithful(MEANS, paired, 0.05) == "channels"
    paired.loc[1, "p_holm"] = 0.01
    assert verdict.most_faithful(MEANS, paired, 0.05) == "gradcam"
    paired.loc[:1, "p_holm"] = 0.5
    assert verdict.most_faithful(MEANS, paired, 0.05) is None


def test_a_models_sentence_names_the_winner_with_its_numbers_or_the_lowest_method():
    paired = paired_tests(("gradcam", "random", 0.0123, "gradcam"), ("channels", "random", 0.5, "channels"))
    sentence = verdict.model_verdict("cbam", MEANS, paired, [0, 1], 0.05)
    assert sentence == (
        "cbam CNN: Grad-CAM is the most faithful heatmap that beats the random map, deletion AUC 0.2000 against the "
        "random map's 0.4000 (mean over seeds 0, 1; Wilcoxon p = 0.0123 after Holm)."
    )
    paired.loc[0, "p_holm"] = 0.06
    sentence = verdict.model_verdict("cbam", MEANS, paired, [2], 0.05)
    assert sentence == (
        "cbam CNN: no heatmap beats the random map, deletion AUC 0.4000 (seed 2); the lowest is Grad-CAM's, 0.2000."
    )


def test_verdicts_average_over_seeds_and_test_on_the_representative_seed():
    significant = [{"method_a": "gradcam", "method_b": "random", "p_holm": 0.01, "favours": "gradcam"}]
    runs = [
        faithfulness_artifact("se", 0, {"gradcam": [0.2, 0.4], "random": [0.5, 0.5]}, significant),
        faithfulness_artifact("se", 1, {"gradcam": [0.4, 0.6], "random": [0.5, 0.7]}),
        faithfulness_artifact("plain", 0, {"gradcam": [0.6, 0.6], "random": [0.5, 0.5]}, significant),
        faithfulness_artifact("plain", 1, {"gradcam": [0.6, 0.6], "random": [0.5, 0.5]}),
    ]
    se, plain = verdict.faithfulness_verdicts(runs, 0, 0.05)
    assert se.startswith("se CNN: Grad-CAM is the most faithful") and "deletion AUC 0.4000 against" in se
    assert "random map's 0.5500 (mean over seeds 0, 1; Wilcoxon p = 0.01" in se
    assert plain.startswith("plain CNN: no heatmap beats the random map, deletion AUC 0.5000")  # significant, higher
    assert verdict.faithfulness_verdicts(runs, 1, 0.05)[0].startswith("se CNN: no heatmap beats")  # seed 1's test


def test_method_names_and_seeds_read_as_words():
    assert verdict.method_name("spatial_attention") == "CBAM spatial attention"
    assert verdict.method_name("random") == "random map"
    assert verdict.seeds_phrase([3]) == "seed 3"
    assert verdict.seeds_phrase([0, 1]) == "mean over seeds 0, 1"
