"""Channel removal read image by image, on hand-made runs: removing the highest-ranked channels against as many at
random, per model, site, criterion and share, averaged over seeds, tested, Holm-adjusted, and said in words."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from cnnlens.artifacts import Faithfulness
from cnnlens.interpret.channel_removal import removed_count
from cnnlens.reporting.removal_verdict import removal_tests, removal_verdicts
from cnnlens.statistics import bootstrap_interval

from helpers import faithfulness_artifact, texts_said

Condition = tuple[str, str, str, float]  # site, criterion, ranking, fraction


def removal_run(model: str, seed: int, probabilities: dict[Condition, list[float]], channels: int = 8) -> Faithfulness:
    """A hand-made run whose channel removal has exactly these conditions (a reference row per site first), with
    these per-image true-class probabilities."""
    count = len(next(iter(probabilities.values())))
    run = faithfulness_artifact(model, seed, {"gradcam": [0.2] * count, "random": [0.5] * count})
    sites = list(dict.fromkeys(site for site, *_ in probabilities))
    conditions = {(site, "", "reference", 0.0): [0.9] * count for site in sites} | probabilities
    rows = sorted(conditions, key=lambda condition: sites.index(condition[0]))  # each site's rows together
    run.removal = {
        "site": [site for site, *_ in rows],
        "criterion": [criterion for _, criterion, _, _ in rows],
        "ranking": [ranking for _, _, ranking, _ in rows],
        "fraction": [fraction for *_, fraction in rows],
        "removed": [0 if ranking == "reference" else removed_count(f, channels) for _, _, ranking, f in rows],
        "channels": [channels] * len(rows),
        "accuracy": [0.5] * len(rows),
        "true_class_probability": [float(np.mean(conditions[row])) for row in rows],
        "images": [count] * len(rows),
    }
    run.removal_probabilities = torch.tensor([conditions[row] for row in rows], dtype=torch.float32)
    return run


def against_random(site: str, criterion: str, fraction: float, highest: list[float], random: list[float]) -> dict:
    """The conditions of one test: removing the ``criterion``'s highest channels, and as many at random."""
    return {(site, criterion, "highest", fraction): highest, (site, "", "random", fraction): random}


def test_the_difference_is_random_minus_highest_per_image_averaged_over_seeds_before_the_test():
    highest = {0: [0.10, 0.30, 0.20, 0.60, 0.25, 0.40, 0.35], 1: [0.20, 0.10, 0.40, 0.30, 0.05, 0.50, 0.15]}
    random = {0: [0.50, 0.40, 0.50, 0.50, 0.45, 0.30, 0.55], 1: [0.60, 0.30, 0.45, 0.72, 0.35, 0.45, 0.20]}
    runs = [
        removal_run("se", seed, against_random("ca1", "weight", 0.5, highest[seed], random[seed])) for seed in (0, 1)
    ]
    held = {seed: np.float32(random[seed]).astype(float) - np.float32(highest[seed]) for seed in (0, 1)}  # as stored
    averaged = (held[0] + held[1]) / 2
    assert stats.wilcoxon(averaged).pvalue != pytest.approx(stats.wilcoxon(np.concatenate([held[0], held[1]])).pvalue)
    (row,) = removal_tests(runs, 0.05).itertuples()
    assert (row.model, row.site, row.criterion, row.fraction) == ("se", "ca1", "weight", 0.5)
    assert (row.images, row.seeds) == (7, 2)
    assert row.mean == pytest.approx(averaged.mean(), abs=1e-6)
    assert row.p_value == pytest.approx(stats.wilcoxon(averaged).pvalue, abs=1e-6)
    assert (row.low, row.high) == pytest.approx(bootstrap_interval(averaged, 0.95), abs=1e-6)
    assert row.low < row.mean < row.high


def test_every_highest_row_is_tested_against_random_at_its_own_site_and_share():
    highest, random = [0.2] * 6, [0.6] * 6
    se = removal_run(
        "se",
        0,
        {
            ("ca1", "weight", "highest", 0.25): highest,
            ("ca1", "weight", "lowest", 0.25): [0.9] * 6,
            ("ca1", "activation", "highest", 0.25): [0.5] * 6,
            ("ca1", "", "random", 0.25): random,
            ("ca2", "weight", "highest", 0.25): [0.7] * 6,
            ("ca2", "", "random", 0.25): [0.4] * 6,
            ("ca2", "weight", "highest", 0.5): [0.3] * 6,
            ("ca2", "", "random", 0.5): [0.35] * 6,
        },
    )
    plain = removal_run(
        "plain", 0, {("relu1", "activation", "highest", 0.5): [0.1] * 6, ("relu1", "", "random", 0.5): [0.2] * 6}
    )
    tests = removal_tests([se, plain], 0.05)
    conditions = list(zip(tests["model"], tests["site"], tests["criterion"], tests["fraction"], strict=True))
    assert conditions == [
        ("se", "ca1", "weight", 0.25),
        ("se", "ca1", "activation", 0.25),
        ("se", "ca2", "weight", 0.25),
        ("se", "ca2", "weight", 0.5),
        ("plain", "relu1", "activation", 0.5),
    ]
    assert tests["mean"].to_numpy() == pytest.approx([0.4, 0.1, -0.3, 0.05, 0.1], abs=1e-6)
    assert list(tests["removed"]) == [2, 2, 2, 4, 4] and (tests["channels"] == 8).all()
    assert (tests["seeds"] == 1).all() and (tests["images"] == 6).all()


def test_holm_runs_over_every_row_of_every_model():
    """Six images that all lean one way: Wilcoxon's exact p is 2 / 2**6 = 0.03125, below 0.05 alone but not after
    Holm over four rows; the fourth row's p is larger."""
    lean, mixed, random = [0.1, 0.2, 0.3, 0.15, 0.25, 0.35], [0.1, 0.6, 0.3, 0.7, 0.2, 0.45], [0.5] * 6
    runs = [
        removal_run(
            "se",
            0,
            against_random("ca1", "weight", 0.5, lean, random) | against_random("ca2", "weight", 0.5, lean, random),
        ),
        removal_run(
            "plain",
            0,
            against_random("relu1", "activation", 0.5, lean, random)
            | against_random("relu2", "activation", 0.5, mixed, random),
        ),
    ]
    tests = removal_tests(runs, 0.05)
    assert list(tests["p_value"][:3]) == pytest.approx([2 / 2**6] * 3)
    p = tests["p_value"].to_numpy()
    order = np.argsort(p)
    by_hand = np.maximum.accumulate(np.minimum(1, (len(p) - np.arange(len(p))) * p[order]))
    assert tests["p_holm"].to_numpy()[order] == pytest.approx(by_hand)
    assert list(tests["p_holm"][:3]) == pytest.approx([4 * 2 / 2**6] * 3)
    assert list(tests["outcome"]) == ["inconclusive"] * 4


def test_the_outcome_says_whether_the_highest_hurt_more_or_less_than_random_or_neither():
    twelve = np.linspace(0.1, 0.4, 12)
    runs = [
        removal_run(
            "se",
            0,
            {
                ("ca1", "weight", "highest", 0.5): list(0.5 - twelve),  # lower than random on every image
                ("ca1", "activation", "highest", 0.5): list(0.5 + twelve / 2),  # higher on every image
                ("ca1", "", "random", 0.5): [0.5] * 12,
                ("ca1", "weight", "highest", 0.25): [0.3, 0.7] * 6,  # as often lower as higher, by as much
                ("ca1", "", "random", 0.25): [0.5] * 12,
            },
        )
    ]
    tests = removal_tests(runs, 0.05).set_index(["criterion", "fraction"])
    assert tests.loc[("weight", 0.5), "outcome"] == "more" and tests.loc[("weight", 0.5), "mean"] > 0
    assert tests.loc[("weight", 0.5), "p_holm"] == pytest.approx(3 * 2 / 2**12)
    assert tests.loc[("activation", 0.5), "outcome"] == "less" and tests.loc[("activation", 0.5), "mean"] < 0
    assert tests.loc[("weight", 0.25), "outcome"] == "inconclusive"
    assert tests.loc[("weight", 0.25), "mean"] == pytest.approx(0.0, abs=1e-6)
    at_alpha = removal_tests(runs, tests.loc[("weight", 0.5), "p_holm"]).set_index(["criterion", "fraction"])
    assert at_alpha.loc[("weight", 0.5), "outcome"] == "inconclusive"  # alpha is the argument; p must be below it


def test_a_significant_test_whose_mean_and_ranks_disagree_is_inconclusive():
    """Eleven images where the highest hurt a little more, one where it hurt far less: the signed ranks lean one way
    (p = 0.034), the mean the other."""
    differences = [0.01 + 0.001 * image for image in range(11)] + [-0.5]
    run = removal_run("se", 0, against_random("ca1", "weight", 0.5, [0.6 - d for d in differences], [0.6] * 12))
    (row,) = removal_tests([run], 0.05).itertuples()
    assert row.p_holm < 0.05 and row.mean < 0
    assert row.outcome == "inconclusive"


def verdict_table(rows: list[tuple]) -> pd.DataFrame:
    """removal_tests rows: (model, criterion, site, removed, mean, low, high, outcome), 32 channels each."""
    columns = ["model", "criterion", "site", "removed", "mean", "low", "high", "outcome"]
    return pd.DataFrame(rows, columns=columns).assign(channels=32)


def test_one_sentence_per_model_and_criterion_counts_the_outcomes_and_names_the_largest_difference(text_keys):
    tests = verdict_table(
        [
            ("se", "weight", "ca1", 3, 0.012, -0.004, 0.030, "inconclusive"),
            ("se", "weight", "ca3", 16, 0.25, 0.20, 0.31, "more"),
            ("se", "weight", "ca2", 8, 0.1, 0.05, 0.15, "more"),
            ("se", "activation", "ca1", 3, -0.0504, -0.0801, -0.0207, "less"),
            ("se", "activation", "ca2", 8, -0.1, -0.2, -0.05, "less"),
            ("plain", "activation", "relu2", 8, 0.0404, 0.0101, 0.0707, "more"),
        ]
    )
    weight, activation, plain = (texts_said(sentence) for sentence in removal_verdicts(tests))
    expected = [
        (weight, "se", "weight", ("2", "0", "3"), ("ca3", "16"), ("+0.250", "+0.200", "+0.310")),
        (activation, "se", "activation", ("0", "2", "2"), ("ca1", "3"), ("-0.050", "-0.080", "-0.021")),
        (plain, "plain", "activation", ("1", "0", "1"), ("relu2", "8"), ("+0.040", "+0.010", "+0.071")),
    ]
    for texts, model, criterion, counts, where, interval in expected:
        keys = [key for key, _ in texts]
        verdict = dict(texts)["faithfulness.removal_verdict"]
        assert verdict["model"] == model
        assert verdict["criterion"] == f"#{keys.index(f'faithfulness.criterion_{criterion}')}"
        assert (verdict["more"], verdict["less"], verdict["total"]) == counts
        assert (verdict["site"], verdict["removed"], verdict["channels"]) == (*where, "32")
        assert verdict["difference"] == f"#{keys.index('faithfulness.difference')}"
        difference = dict(texts)["faithfulness.difference"]
        assert (difference["mean"], difference["low"], difference["high"]) == interval
