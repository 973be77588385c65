"""The faithfulness section's data: each run's files reduced by hand to the numbers the tables hold."""

import re

import numpy as np
import pytest

from cnnlens.errors import CnnlensError
from cnnlens.views.faithfulness import (
    MEASURES,
    faithfulness_setup,
    gallery_maps,
    mean_curves,
    over_seeds,
    removal_over_seeds,
    representative_runs,
    run_scores,
    run_tables,
    sanity_over_seeds,
)

from helpers import faithfulness_artifact


def test_the_runs_scores_are_each_runs_means_with_its_model_and_seed():
    runs = [
        faithfulness_artifact("plain", 0),
        faithfulness_artifact("se", 1, {"gradcam": [0.1, 0.3]}, {"gradcam": [0.5, 0.9]}),
    ]
    scores = run_scores(runs)
    assert list(zip(scores["model"], scores["seed"], scores["method"], strict=True)) == [
        ("plain", 0, "gradcam"),
        ("plain", 0, "random"),
        ("se", 1, "gradcam"),
    ]
    assert list(scores["deletion_auc"]) == pytest.approx([0.3, 0.5, 0.2])  # each row holds its own run's means
    se = scores.iloc[2]
    assert (se["insertion_auc"], se["score"], se["inverted_score"]) == pytest.approx((0.7, 0.5, -0.5))
    assert np.isnan(scores.iloc[1]["inverted_score"])  # the random map has no inversion
    assert (se["average_drop"], se["increase_in_confidence"], se["tied_share"]) == pytest.approx((0.1, 0.5, 0.25))
    assert list(scores.columns) == ["model", "seed", "method", *MEASURES]


def test_over_seeds_gives_the_mean_and_sample_std_per_model_and_method():
    runs = [
        faithfulness_artifact("se", 0, {"gradcam": [0.2, 0.4], "random": [0.5, 0.5]}),
        faithfulness_artifact("se", 1, {"gradcam": [0.4, 0.6], "random": [0.5, 0.7]}),
        faithfulness_artifact("plain", 0, {"gradcam": [0.1, 0.1], "random": [0.5, 0.5]}),
    ]
    table = over_seeds(run_scores(runs))
    assert list(zip(table["model"], table["method"], strict=True)) == [
        ("se", "gradcam"),
        ("se", "random"),
        ("plain", "gradcam"),
        ("plain", "random"),
    ]
    se_gradcam = table.iloc[0]
    assert se_gradcam["deletion_auc_mean"] == pytest.approx(0.4)  # seed means 0.3 and 0.5
    assert se_gradcam["deletion_auc_std"] == pytest.approx(np.std([0.3, 0.5], ddof=1))
    assert se_gradcam["insertion_auc_mean"] == pytest.approx(0.6)
    assert se_gradcam["score_mean"] == pytest.approx(0.2)
    assert se_gradcam["seeds"] == 2
    assert table.iloc[2]["seeds"] == 1 and np.isnan(table.iloc[2]["deletion_auc_std"])


def test_mean_curves_average_the_runs_curves_over_seeds():
    runs = [
        faithfulness_artifact("se", 0, {"gradcam": [0.2, 0.4]}),
        faithfulness_artifact("se", 1, {"gradcam": [0.4, 0.6]}),
    ]
    curves = mean_curves(runs)
    deletion = curves[curves["curve"] == "deletion"]
    assert list(deletion["fraction"]) == [0.0, 0.5, 1.0]
    np.testing.assert_allclose(deletion["probability"], [1.0, 0.5, 0.4])  # the last points: 0.3 and 0.5
    insertion = curves[curves["curve"] == "insertion"]
    np.testing.assert_allclose(insertion["probability"], [0.0, 0.5, 0.6])


def test_representative_runs_take_the_seed_or_each_models_first_run():
    runs = [faithfulness_artifact("se", 1), faithfulness_artifact("se", 0), faithfulness_artifact("plain", 0)]
    assert [(run.model, run.seed) for run in representative_runs(runs, 0)] == [("se", 0), ("plain", 0)]
    assert [(run.model, run.seed) for run in representative_runs(runs, None)] == [("se", 1), ("plain", 0)]
    with pytest.raises(CnnlensError, match=r"\b1\b.*\bplain\b") as error:  # the seed, and the model without it
        representative_runs(runs, 1)
    assert not re.search(r"\bse\b", str(error.value))  # se has a run of seed 1


def test_run_tables_stack_a_table_of_every_run_with_its_model_and_seed():
    runs = [
        faithfulness_artifact("se", 3),
        faithfulness_artifact("plain", 0, {"gradcam": [0.1, 0.2], "gaussian": [0.3, 0.3]}),
    ]
    removal = run_tables(runs, "removal")
    assert list(removal.columns[:4]) == ["model", "seed", "site", "criterion"]
    assert list(zip(removal["model"], removal["seed"], strict=True)) == [("se", 3)] * 4 + [("plain", 0)] * 4
    assert len(run_tables(runs, "sanity")) == 4 + 4


def test_removal_over_seeds_averages_each_condition():
    first, second = faithfulness_artifact("se", 0), faithfulness_artifact("se", 1)
    second.removal["accuracy"] = [0.5, 0.5, 0.5, 0.5]
    table = removal_over_seeds(run_tables([first, second], "removal"))
    assert list(table["ranking"]) == ["reference", "highest", "lowest", "random"]
    np.testing.assert_allclose(table["accuracy"], [0.75, 0.25, 0.75, 0.5])
    np.testing.assert_allclose(table["true_class_probability"], [0.9, 0.2, 0.8, 0.5])
    keys = ["model", "site", "criterion", "ranking", "fraction", "removed", "channels"]
    assert list(table.columns) == [*keys, "accuracy", "true_class_probability"]


def test_sanity_over_seeds_averages_the_similarities_and_adds_up_the_flat_maps():
    first, second = faithfulness_artifact("se", 0), faithfulness_artifact("se", 1)
    second.sanity["spearman"] = [value - 0.2 for value in second.sanity["spearman"]]
    second.sanity["flat_maps"] = [1] * len(second.sanity["flat_maps"])
    second.sanity_reference["spearman"] = [0.3] * len(second.sanity_reference["spearman"])
    steps, reference = sanity_over_seeds([first, second])
    gradcam = steps[steps["method"] == "gradcam"]
    np.testing.assert_allclose(gradcam["spearman"], [0.5, 0.1])  # 0.6 and 0.4, then 0.2 and 0.0
    assert list(gradcam["flat_maps"]) == [1, 1] and list(gradcam["images"]) == [4, 4]
    assert list(gradcam["uses"]) == [True, True]
    np.testing.assert_allclose(reference["spearman"], [0.2, 0.2])


def test_gallery_maps_keep_the_methods_that_use_the_model():
    run = faithfulness_artifact(deletion={"gradcam": [0.1, 0.2], "random": [0.5, 0.5], "gaussian": [0.4, 0.4]})
    maps = gallery_maps(run)
    assert list(maps) == ["gradcam"]
    np.testing.assert_array_equal(maps["gradcam"], run.gallery["gradcam"].numpy())


def test_faithfulness_setup_is_what_every_run_measured():
    runs = [faithfulness_artifact("se", 1), faithfulness_artifact("plain", 0)]
    setup = faithfulness_setup(runs)
    assert (setup.models, setup.seeds, setup.images, setup.steps) == (["se", "plain"], [0, 1], 2, 2)
    assert (setup.baseline, setup.size, setup.sanity_images) == ("blur", (8, 8), 2)
    runs[1].baseline = "mean"
    with pytest.raises(CnnlensError):
        faithfulness_setup(runs)
