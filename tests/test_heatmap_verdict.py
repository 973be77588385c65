"""The faithfulness verdict on tables built to mislead it: what it may call faithful, and in which words."""

import numpy as np
import pandas as pd
import pytest
import torch

from cnnlens.errors import CnnlensError
from cnnlens.reporting import heatmap_verdict as verdict
from cnnlens.statistics import holm

from helpers import faithfulness_artifact

IMAGES = 40


def noisy(level: float, spread: float = 0.02, seed: int = 0) -> list[float]:
    """``IMAGES`` per-image AUCs around ``level``."""
    return list(level + spread * np.random.default_rng(seed).standard_normal(IMAGES))


def run(deletion: dict[str, list[float]], insertion: dict[str, list[float]], model: str = "se", seed: int = 0):
    return faithfulness_artifact(model, seed, deletion, insertion)


def judged(runs, alpha: float = 0.05) -> tuple[verdict.ModelScores, verdict.HeatmapVerdict, pd.DataFrame]:
    models = verdict.model_scores(runs)
    tests = verdict.comparison_tests(models, 0.05)
    return models[0], verdict.heatmap_verdict(models[0], tests, alpha), tests


def references(seed: int = 9) -> tuple[dict, dict]:
    """A random map (score about 0) and a centred Gaussian with the lowest deletion AUC but a modest score."""
    deletion = {"random": noisy(0.35, seed=seed), "gaussian": noisy(0.20, seed=seed + 1)}
    insertion = {"random": noisy(0.35, seed=seed + 2), "gaussian": noisy(0.30, seed=seed + 3)}
    return deletion, insertion


def test_deletion_alone_does_not_decide_and_the_gaussian_is_never_named(text_keys):
    deletion, insertion = references()
    deletion |= {"channels": noisy(0.25, seed=1), "gradcam": noisy(0.30, seed=2)}  # channels: lower deletion AUC
    insertion |= {"channels": noisy(0.30, seed=3), "gradcam": noisy(0.60, seed=4)}  # gradcam: far higher insertion
    scores, found, tests = judged([run(deletion, insertion)])
    assert found.faithful == ["gradcam"] and found.leaders == ["gradcam"]
    assert found.order[:2] == ["gradcam", "gaussian"]
    lead = verdict.verdict_text(scores, found, tests)
    assert lead.startswith("⟨verdict.only_faithful model=se method=⟨faithfulness.subject_gradcam⟩")
    gaussian = verdict.comparison_row(tests, "se", "gradcam", "gaussian")
    assert f"gaussian={verdict.difference(gaussian)}" in lead
    assert gaussian["mean"] == pytest.approx(
        np.mean(np.subtract(insertion["gradcam"], deletion["gradcam"]))
        - np.mean(np.subtract(insertion["gaussian"], deletion["gaussian"]))
    )


def test_a_method_no_better_than_the_centred_gaussian_is_not_faithful(text_keys):
    deletion, insertion = references()
    half = noisy(0.0, 0.01, seed=5)[: IMAGES // 2]
    offsets = half + [-value for value in half]  # as often above the Gaussian as below it, by as much
    deletion |= {"gradcam": list(deletion["gaussian"])}
    insertion |= {"gradcam": list(np.add(insertion["gaussian"], offsets))}
    scores, found, tests = judged([run(deletion, insertion)])
    assert verdict.beats(tests, "se", "gradcam", "random", 0.05)
    assert not verdict.beats(tests, "se", "gradcam", "gaussian", 0.05)
    assert found.faithful == [] and found.leaders == [] and found.best == "gradcam"
    assert verdict.verdict_text(scores, found, tests).startswith("⟨verdict.none_faithful model=se")


def test_an_inverted_map_that_does_not_score_worse_is_flagged(text_keys):
    deletion, insertion = references()
    deletion |= {"gradcam": noisy(0.15, seed=7), "deconvnet": noisy(0.15, seed=8)}
    insertion |= {"gradcam": noisy(0.7, seed=9), "deconvnet": noisy(0.7, seed=10)}
    artifact = run(deletion, insertion)
    artifact.inverted_aucs["deconvnet"] = {key: value.clone() for key, value in artifact.aucs["deconvnet"].items()}
    scores, found, tests = judged([artifact])
    assert found.inversion_failures == ["deconvnet"]
    text = verdict.verdict_text(scores, found, tests)
    assert "⟨verdict.inversion_failed methods=⟨faithfulness.subject_deconvnet⟩⟩" in text


def test_leaders_the_data_cannot_tell_apart_are_named_together(text_keys):
    deletion, insertion = references()
    deletion |= {"gradcam": noisy(0.15, seed=11), "deconvnet": noisy(0.15, seed=12), "channels": noisy(0.3, seed=13)}
    insertion |= {"gradcam": noisy(0.70, seed=14), "deconvnet": noisy(0.70, seed=15), "channels": noisy(0.6, seed=16)}
    scores, found, tests = judged([run(deletion, insertion)])
    assert set(found.faithful) == {"gradcam", "deconvnet", "channels"}
    assert set(found.leaders) == {"gradcam", "deconvnet"}  # channels is clearly behind both
    text = verdict.verdict_text(scores, found, tests)
    assert text.startswith("⟨verdict.tied_leaders model=se")
    # the same table with one clear winner
    insertion["gradcam"] = noisy(0.85, seed=14)
    scores, found, tests = judged([run(deletion, insertion)])
    assert found.leaders == ["gradcam"]
    lead = verdict.verdict_text(scores, found, tests)
    assert lead.startswith("⟨verdict.most_faithful model=se method=⟨faithfulness.subject_gradcam⟩")
    assert "runner=⟨faithfulness.subject_deconvnet⟩" in lead


def test_a_difference_the_tests_found_that_a_knob_reverses_makes_the_ranking_depend_on_it(text_keys):
    deletion, insertion = references()
    half = noisy(0.0, 0.01, seed=27)[: IMAGES // 2]
    deletion |= {"gradcam": noisy(0.15, seed=17), "deconvnet": noisy(0.2, seed=18)}
    insertion |= {"gradcam": noisy(0.7, seed=19), "deconvnet": noisy(0.6, seed=20)}
    deletion["channels"] = list(deletion["deconvnet"])  # as often above the deconvnet as below it, by as much
    insertion["channels"] = list(
        np.add(insertion["deconvnet"], [0.0005 + value for value in half + [-v for v in half]])
    )
    artifact = run(deletion, insertion)
    scores, found, tests = judged([artifact])
    assert found.reversals == {}
    assert "⟨verdict.ranking_holds" in verdict.verdict_text(scores, found, tests)
    fill = artifact.knob_aucs["fill"]
    fill["deconvnet"], fill["channels"] = fill["channels"], fill["deconvnet"]  # a pair the tests cannot tell apart
    scores, found, tests = judged([artifact])
    assert not verdict.beats(tests, "se", "deconvnet", "channels", 0.05)
    assert scores.order(scores.knobs["fill"]) != scores.order()  # the order changes, no conclusion does
    assert found.reversals == {}
    fill["gradcam"], fill["deconvnet"] = fill["deconvnet"], fill["gradcam"]  # a difference the tests found
    scores, found, tests = judged([artifact])
    assert found.reversals == {"fill": [("gradcam", "deconvnet")]}
    text = verdict.verdict_text(scores, found, tests)
    assert "⟨verdict.ranking_depends knobs=⟨faithfulness.knob_fill_mean⟩" in text
    assert (
        "⟨verdict.reversed_under knob=⟨faithfulness.knob_fill_mean⟩ higher=⟨faithfulness.subject_gradcam⟩ "
        "lower=⟨faithfulness.subject_deconvnet⟩⟩"
    ) in text


def test_the_section_is_one_family_for_holms_adjustment():
    deletion, insertion = references()
    deletion |= {"gradcam": noisy(0.15, seed=21), "channels": noisy(0.3, seed=22)}
    insertion |= {"gradcam": noisy(0.7, seed=23), "channels": noisy(0.4, seed=24)}
    models = verdict.model_scores([run(deletion, insertion, "se"), run(deletion, insertion, "plain")])
    tests = verdict.comparison_tests(models, 0.05)
    # per model: 2 methods x (random, gaussian, inverted) + 1 pair; both models in one family
    assert len(tests) == 2 * (2 * 3 + 1)
    np.testing.assert_allclose(tests["p_holm"], holm(tests["p_value"]))
    row = verdict.comparison_row(tests, "se", "channels", "gradcam")  # stored as gradcam against channels
    stored = tests[(tests["model"] == "se") & (tests["method"] == "gradcam") & (tests["against"] == "channels")].iloc[0]
    assert row["mean"] == -stored["mean"] and (row["low"], row["high"]) == (-stored["high"], -stored["low"])
    assert row["direction"] == -stored["direction"]


def test_beating_takes_the_adjusted_p_below_alpha_and_both_sides_agreeing():
    tests = pd.DataFrame(
        {
            "model": ["se"] * 3,
            "method": ["gradcam"] * 3,
            "against": ["random", "gaussian", "inverted"],
            "mean": [0.1, 0.1, 0.1],
            "low": [0.05] * 3,
            "high": [0.15] * 3,
            "p_value": [0.01, 0.01, 0.01],
            "p_holm": [0.049, 0.05, 0.01],
            "direction": [1, 1, 0],
        }
    )
    assert verdict.beats(tests, "se", "gradcam", "random", 0.05)
    assert not verdict.beats(tests, "se", "gradcam", "gaussian", 0.05)  # p must be below alpha, not at it
    assert not verdict.beats(tests, "se", "gradcam", "inverted", 0.05)  # the mean and the ranks disagree


def test_seeds_are_averaged_image_by_image_and_must_share_their_images():
    first = run({"gradcam": [0.2, 0.4, 0.3]}, {"gradcam": [0.6, 0.6, 0.6]}, seed=0)
    second = run({"gradcam": [0.4, 0.2, 0.3]}, {"gradcam": [0.8, 0.6, 0.7]}, seed=1)
    (scores,) = verdict.model_scores([first, second])
    np.testing.assert_allclose(scores.scores["gradcam"], [0.4, 0.3, 0.35])
    np.testing.assert_allclose(scores.inverted["gradcam"], [-0.4, -0.3, -0.35])
    assert scores.seeds == [0, 1] and scores.images == 3
    second.image_indices = torch.tensor([1, 2, 3])
    with pytest.raises(CnnlensError, match=r"faithfulness .*snakemake"):  # which files, and what remakes them
        verdict.model_scores([first, second])


def test_the_knob_table_ranks_every_method_per_setting():
    deletion, insertion = references()
    deletion |= {"gradcam": noisy(0.15, seed=25)}
    insertion |= {"gradcam": noisy(0.7, seed=26)}
    table = verdict.knob_scores(verdict.model_scores([run(deletion, insertion)]))
    given = table[table["setting"] == "given"].set_index("method")
    assert given.loc["gradcam", "rank"] == 1 and given.loc["random", "rank"] == 3
    assert given.loc["gradcam", "score"] == pytest.approx(
        np.mean(np.subtract(insertion["gradcam"], deletion["gradcam"]))
    )
    assert set(table["setting"]) == {"given", "fill", "steps"}


def test_the_intervals_are_at_one_minus_alpha():
    deletion, insertion = references()
    deletion |= {"gradcam": noisy(0.15, seed=29)}
    insertion |= {"gradcam": noisy(0.7, seed=30)}
    models = verdict.model_scores([run(deletion, insertion)])
    wide, narrow = verdict.comparison_tests(models, 0.01), verdict.comparison_tests(models, 0.2)
    assert (wide["high"] - wide["low"] > narrow["high"] - narrow["low"]).all()
    np.testing.assert_allclose(wide["mean"], narrow["mean"])
