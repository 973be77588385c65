"""Comparing variants: the statistics against independent computations, and the verdict's words on tables built to
mislead it (texts rendered as their keys and fields: the text_keys fixture)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cnnlens.artifacts import PREDICTIONS, RUN_METRICS, ArtifactError
from cnnlens.errors import CnnlensError
from cnnlens.reporting import comparison as compare
from cnnlens.statistics import bootstrap_interval

from helpers import predictions, texts_said

ALPHA = 0.05


def metrics(variant, seed, accuracy, parameters=100):
    return {
        "model": variant,
        "seed": seed,
        "final_test_accuracy": accuracy,
        "best_test_accuracy": accuracy + 0.01,
        "final_test_loss": 1 - accuracy,
        "parameters": parameters,
        "seconds_per_epoch": 2.0 + seed,
        "recipe": {},
        "engine": {},
        "architecture": {},
        "torch": "2",
        "epochs": 1,
        "best_epoch": 1,
        "device": "cpu",
        "seconds_total": 2.0,
    }


def t1_two_sided_p(t: float) -> float:
    """Student's t with 1 degree of freedom is the Cauchy distribution: a closed form independent of scipy."""
    return 1 - 2 / math.pi * math.atan(abs(t))


def t2_two_sided_p(t: float) -> float:
    """Student's t with 2 degrees of freedom has a closed-form CDF too."""
    return 1 - abs(t) / math.sqrt(t * t + 2)


def runs_of(baseline: list[float], **variants: list[float]) -> pd.DataFrame:
    """The runs' table of a plain baseline with these accuracies on seeds 0, 1, ... and of each variant with
    ``differences`` in points over it, seed by seed."""
    rows = [metrics("plain", seed, accuracy) for seed, accuracy in enumerate(baseline)]
    for variant, differences in variants.items():
        rows += [
            metrics(variant, seed, accuracy + difference / 100)
            for seed, (accuracy, difference) in enumerate(zip(baseline, differences, strict=True))
        ]
    return compare.runs_table(rows)


def right_on_first(runs: pd.DataFrame, images: int = 10_000) -> dict:
    """Predictions of every run that get its accuracy's share of the first test images right."""
    return {(row.variant, row.seed): predictions(row.final_test_accuracy, images) for row in runs.itertuples()}


def verdicts(runs: pd.DataFrame, predicted: dict | None = None) -> dict[str, list[tuple[str, dict[str, str]]]]:
    """Each variant's verdict as the texts it says, by variant."""
    comparison = compare.compare(runs, right_on_first(runs) if predicted is None else predicted, "plain", ALPHA)
    return dict(zip(comparison.tests["variant"], map(texts_said, comparison.tests["verdict"]), strict=True))


def said(verdict: list[tuple[str, dict[str, str]]], key: str) -> list[dict[str, str]]:
    """The fields of every text ``key`` in a verdict."""
    return [fields for each, fields in verdict if each == f"comparison.{key}"]


def keys(verdict: list[tuple[str, dict[str, str]]]) -> set[str]:
    return {key for key, _ in verdict}


def test_summary_has_mean_and_sample_std_over_seeds():
    runs = runs_of([0.80, 0.81, 0.82], se=[1, 2, 3])
    summary = compare.summarize(runs).set_index("variant")
    assert summary.loc["plain", "seeds"] == 3
    assert summary.loc["plain", "accuracy_mean"] == pytest.approx(0.81)
    assert summary.loc["plain", "accuracy_std"] == pytest.approx(0.01)  # ddof=1
    assert summary.loc["se", "accuracy_mean"] == pytest.approx(0.83)
    assert summary.loc["plain", "seconds_per_epoch"] == pytest.approx(3.0)


def test_the_paired_t_test_interval_and_detectable_difference():
    runs = runs_of([0.80, 0.81, 0.82], se=[1, 2, 3])
    test = compare.compare(runs, right_on_first(runs), "plain", ALPHA).tests.iloc[0]
    differences = np.array([1.0, 2.0, 3.0])
    # mean 2, sd 1, t = 2 / (1 / sqrt 3)
    assert test["difference_mean"] == pytest.approx(2.0) and test["difference_std"] == pytest.approx(1.0)
    assert test["p_value"] == pytest.approx(t2_two_sided_p(2 * math.sqrt(3)), rel=1e-9)
    assert test["p_holm"] == pytest.approx(test["p_value"])  # one variant: nothing to adjust
    interval = stats.ttest_1samp(differences, 0.0).confidence_interval(0.95)
    assert (test["interval_low"], test["interval_high"]) == pytest.approx((interval.low, interval.high), abs=1e-6)
    # one variant: the detectable difference is the interval's half-width, where p reaches alpha
    assert test["detectable"] == pytest.approx((interval.high - interval.low) / 2, abs=1e-6)


@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_the_t_interval_is_scipys(alpha):
    differences = np.array([1.0, 2.5, 0.3, 1.7])
    interval = stats.ttest_1samp(differences, 0.0).confidence_interval(1 - alpha)
    assert compare.t_interval(differences, alpha) == pytest.approx((interval.low, interval.high), rel=1e-12)


@pytest.mark.parametrize("tested", [1, 3])
def test_a_mean_difference_at_the_detectable_difference_reaches_p_alpha_over_the_variants_tested(tested):
    differences = np.array([0.4, 1.9, 1.1, 0.2])
    detectable = compare.detectable_difference(differences, ALPHA, tested)
    shifted = differences - differences.mean() + detectable  # the same spread, the mean at the detectable difference
    assert compare.paired_p_value(shifted) == pytest.approx(ALPHA / tested, rel=1e-9)
    assert compare.paired_p_value(shifted + 0.01) < ALPHA / tested < compare.paired_p_value(shifted - 0.01)


def test_two_seeds_at_1_0_and_1_2_points_are_inconclusive_with_their_interval(text_keys):
    verdict = verdicts(runs_of([0.80, 0.81], attention=[1.0, 1.2]))["attention"]
    (lead,) = said(verdict, "verdict_inconclusive")
    # differences 1.0 and 1.2: mean 1.1, standard error 0.1, t = 11 with 1 degree of freedom
    p_value = t1_two_sided_p(11)
    assert p_value == pytest.approx(0.0577, abs=1e-4)  # the p = 0.058
    critical = stats.t.ppf(0.975, 1)  # 12.71: what 2 seeds need for p < 0.05
    assert lead == {
        "variant": "attention",
        "baseline": "plain",
        "seeds": "2",
        "difference": "+1.10",
        "level": "95",
        "low": f"{1.1 - critical * 0.1:+.2f}",
        "high": f"{1.1 + critical * 0.1:+.2f}",
        "p": f"{p_value:.3g}",
        "p_holm": f"{p_value:.3g}",
        "alpha": "0.05",
        "detectable": f"{critical * 0.1:.2f}",
    }
    assert lead["low"] == "-0.17" and lead["high"] == "+2.37" and lead["detectable"] == "1.27"
    assert not keys(verdict) & {"comparison.verdict_better", "comparison.verdict_worse"}


def test_a_variant_significant_only_before_holms_adjustment_is_not_called_better(text_keys):
    runs = runs_of([0.80, 0.81, 0.82], clear=[1.0, 1.1, 0.9], borderline=[2, 3, 4], noisy=[-1, 0.5, 1])
    tests = compare.compare(runs, right_on_first(runs), "plain", ALPHA).tests.set_index("variant")
    clear, borderline = t2_two_sided_p(1 / (0.1 / math.sqrt(3))), t2_two_sided_p(3 / (1 / math.sqrt(3)))
    assert tests.loc["borderline", "p_value"] == pytest.approx(borderline) and borderline < ALPHA  # alone: significant
    assert tests.loc["clear", "p_holm"] == pytest.approx(3 * clear)  # the smallest of 3 p-values, times 3
    assert tests.loc["borderline", "p_holm"] == pytest.approx(2 * borderline)  # the next, times 2
    assert 2 * borderline > ALPHA
    said_by = verdicts(runs)
    (better,) = said(said_by["clear"], "verdict_better")
    assert better["difference"] == "+1.00" and better["p_holm"] == f"{3 * clear:.3g}"
    (inconclusive,) = said(said_by["borderline"], "verdict_inconclusive")
    assert inconclusive["p"] == f"{borderline:.3g}" and inconclusive["p_holm"] == f"{2 * borderline:.3g}"
    # the mean 3.0 is beyond the threshold of one test alone, not beyond what the seeds could detect among 3 variants
    half_width = compare.t_interval(np.array([2.0, 3.0, 4.0]), ALPHA)[1] - 3.0
    assert half_width < 3.0 < float(inconclusive["detectable"])
    assert said(said_by["noisy"], "verdict_inconclusive")


def test_a_worse_variant_is_called_worse_with_a_negative_interval(text_keys):
    (worse,) = said(verdicts(runs_of([0.80, 0.81, 0.82], bad=[-3.0, -3.2, -2.9]))["bad"], "verdict_worse")
    assert worse["difference"] == "-3.03" and float(worse["high"]) < 0


def test_one_seed_allows_no_t_test_but_mcnemar_decides_about_the_two_networks(text_keys):
    runs = runs_of([0.50], attention=[20.0], close=[2.0])
    predicted = {
        ("plain", 0): predictions(0.5, 100, right=range(50)),
        ("attention", 0): predictions(0.7, 100, right=range(10, 80)),  # right only: 30 images, plain only: 10
        ("close", 0): predictions(0.52, 100, right=range(8, 60)),  # right only: 10 images, plain only: 8
    }
    comparison = compare.compare(runs, predicted, "plain", ALPHA)
    assert comparison.tests["p_value"].isna().all() and comparison.tests["interval_low"].isna().all()
    said_by = verdicts(runs, predicted)
    for variant, difference in (("attention", "+20.00"), ("close", "+2.00")):
        (lead,) = said(said_by[variant], "verdict_one_seed")
        assert lead["difference"] == difference
        assert not keys(said_by[variant]) & {f"comparison.verdict_{key}" for key in ("better", "worse", "noise")}
    # McNemar: 30 against 10 discordant images; Holm over the two variants' tests
    p_attention, p_close = stats.binomtest(30, 40).pvalue, stats.binomtest(10, 18).pvalue
    (differ,) = said(said_by["attention"], "verdict_image_differ")
    low, high = per_image_interval(predicted[("attention", 0)], predicted[("plain", 0)])
    assert differ == {
        "seed": "0",
        "difference": "+20.00",
        "low": f"{low:+.2f}",
        "high": f"{high:+.2f}",
        "level": "95",
        "p_holm": f"{2 * p_attention:.3g}",
    }
    assert low < 20 < high
    (same,) = said(said_by["close"], "verdict_image_same")
    assert same["difference"] == "+2.00" and same["p_holm"] == f"{min(1, max(2 * p_attention, p_close)):.3g}"
    assert float(same["low"]) < 0 < float(same["high"])  # not significant: the interval spans no difference


def test_mcnemar_results_are_adjusted_by_holm_over_every_variant_and_seed(text_keys):
    runs = runs_of([0.50, 0.50], attention=[6.0, 6.0])
    plain = predictions(0.5, 200, right=range(100))
    attention = predictions(0.56, 200, right=range(8, 120))  # 20 images right only here, 8 only in plain
    predicted = {("plain", 0): plain, ("plain", 1): plain, ("attention", 0): attention, ("attention", 1): attention}
    p_value = stats.binomtest(20, 28).pvalue
    assert p_value < ALPHA < 2 * p_value  # each test alone would differ; not the two together
    tests = compare.compare(runs, predicted, "plain", ALPHA).image_tests
    assert tests["p_holm"].tolist() == pytest.approx([2 * p_value] * 2) and not tests["significant"].any()
    assert len(said(verdicts(runs, predicted)["attention"], "verdict_image_same")) == 2


def test_a_baseline_with_several_seeds_reports_its_measured_noise_floor(text_keys):
    runs = runs_of([0.50, 0.53, 0.46], attention=[1.0, 1.0, 1.0])
    predicted = right_on_first(runs, images=1000)
    comparison = compare.compare(runs, predicted, "plain", ALPHA)
    noise = comparison.noise_floor
    assert list(zip(noise["seed"], noise["other_seed"], strict=True)) == [(0, 1), (0, 2), (1, 2)]
    # right on the first 500, 530 and 460 images: seed minus other seed, all of it discordant
    assert noise["difference"].tolist() == pytest.approx([-3.0, 4.0, 7.0])
    assert (noise["seed_only"] + noise["other_only"]).tolist() == [30, 40, 70]
    assert noise["mcnemar_p"].tolist() == pytest.approx([2 * 0.5**30, 2 * 0.5**40, 2 * 0.5**70])
    assert comparison.tests["noise_floor"].tolist() == pytest.approx([14 / 3])
    (floor,) = said(verdicts(runs, predicted)["attention"], "verdict_noise")
    assert floor == {"baseline": "plain", "mean": "4.67", "largest": "7.00", "pairs": "3", "beyond": "3"}


def test_the_noise_floor_counts_the_pairs_of_seeds_told_apart_after_holms_adjustment(text_keys):
    runs = runs_of([0.50, 0.56, 0.50], attention=[0.0, 0.0, 0.0])
    first = predictions(0.5, 200, right=range(100))
    other = predictions(0.56, 200, right=range(8, 120))  # 20 images right only here, 8 only in the first
    predicted = {("plain", 0): first, ("plain", 1): other, ("plain", 2): first}
    predicted |= {("attention", seed): table for (_, seed), table in predicted.items()}
    p_value = stats.binomtest(20, 28).pvalue
    noise = compare.compare(runs, predicted, "plain", ALPHA).noise_floor
    assert noise["mcnemar_p"].tolist() == pytest.approx([p_value, 1.0, p_value]) and p_value < ALPHA
    assert noise["p_holm"].tolist() == pytest.approx([3 * p_value, 1.0, 3 * p_value]) and 3 * p_value > ALPHA
    (floor,) = said(verdicts(runs, predicted)["attention"], "verdict_noise")
    assert floor == {"baseline": "plain", "mean": "4.00", "largest": "6.00", "pairs": "3", "beyond": "0"}


def test_a_baseline_with_one_seed_has_no_noise_floor(text_keys):
    runs = runs_of([0.50], attention=[1.0])
    comparison = compare.compare(runs, right_on_first(runs), "plain", ALPHA)
    assert comparison.noise_floor.empty and comparison.tests["noise_floor"].isna().all()
    assert not said(verdicts(runs)["attention"], "verdict_noise")


def test_mcnemar_is_the_exact_binomial_sum_by_hand():
    """Both right on 50 images, only the first on 9, only the second on 2, both wrong on 39."""
    first = predictions(0.59, 100, right=range(59))
    second = predictions(0.52, 100, right=[*range(50), 59, 60])
    test = compare.mcnemar({("a", 0): first, ("b", 0): second}, ("a", 0), ("b", 0), 0.05)
    by_hand = 2 * sum(math.comb(11, k) for k in range(3)) / 2**11  # two-sided: twice the tail of the smaller count
    low, high = per_image_interval(first, second)
    assert test == {
        "images": 100,
        "difference": pytest.approx(7.0),
        "interval_low": pytest.approx(low),
        "interval_high": pytest.approx(high),
        "first_only": 9,
        "second_only": 2,
        "mcnemar_p": pytest.approx(by_hand, rel=1e-12),
    }
    pair = {("a", 0): first, ("b", 0): first}
    assert compare.mcnemar(pair, ("a", 0), ("b", 0), 0.05)["mcnemar_p"] == 1.0  # no discordance
    balanced = predictions(0.59, 100, right=[*range(50), *range(60, 69)])  # 9 against 9
    assert compare.mcnemar({("a", 0): first, ("b", 0): balanced}, ("a", 0), ("b", 0), 0.05)["mcnemar_p"] == 1.0


def per_image_interval(first: pd.DataFrame, second: pd.DataFrame, confidence: float = 0.95) -> tuple[float, float]:
    """The bootstrap interval of the accuracy difference in points, from each image's right or wrong."""
    right = [
        (table.sort_values("image")["predicted"] == table.sort_values("image")["label"]).to_numpy()
        for table in (first, second)
    ]
    return bootstrap_interval(100 * (right[0].astype(float) - right[1]), confidence)


def test_runs_on_different_test_images_are_refused_with_one_line():
    shuffled = predictions(0.5, 10).assign(label=lambda table: (table["label"] + 1) % 10)
    with pytest.raises(CnnlensError) as raised:
        compare.mcnemar({("plain", 0): predictions(0.5, 10), ("se", 0): shuffled}, ("plain", 0), ("se", 0), 0.05)
    message = str(raised.value)
    assert all(part in message for part in ("predictions.csv", "plain seed 0", "se seed 0")) and "\n" not in message


def test_identical_differences_have_no_test(text_keys):
    # 0.815 - 0.81 and 0.825 - 0.82 are both 0.5 points, up to float rounding
    runs = compare.runs_table(
        [metrics("plain", s, a) for s, a in enumerate([0.81, 0.82, 0.83])]
        + [metrics("se", s, a) for s, a in enumerate([0.815, 0.825, 0.835])]
    )
    differences = runs.pivot(index="seed", columns="variant", values="final_test_accuracy").diff(axis=1)
    assert differences.iloc[:, 1].nunique() > 1  # the rounding noise is really there
    comparison = compare.compare(runs, right_on_first(runs), "plain", ALPHA)
    test = comparison.tests.iloc[0]
    assert math.isnan(test["p_value"]) and math.isnan(test["p_holm"]) and test["significant"] is None
    (lead,) = said(texts_said(test["verdict"]), "verdict_identical")
    assert lead["difference"] == "+0.50" and lead["seeds"] == "3"


def test_variants_without_a_shared_seed_are_said_to_have_none(text_keys):
    runs = compare.runs_table([metrics("plain", 0, 0.5), metrics("se", 1, 0.6)])
    comparison = compare.compare(runs, right_on_first(runs), "plain", ALPHA)
    assert comparison.image_tests.empty
    assert [key for key, _ in texts_said(comparison.tests["verdict"].iloc[0])] == ["comparison.verdict_no_shared_seed"]


def test_the_compare_job_writes_tables_that_read_back_and_refuses_old_ones(tmp_path):
    runs = [metrics("plain", 0, 0.5), metrics("plain", 1, 0.52), metrics("se", 0, 0.55), metrics("se", 1, 0.56)]
    metrics_paths, predictions_paths = [], []
    for run in runs:
        stem = tmp_path / f"{run['model']}-{run['seed']}"
        RUN_METRICS.save(run, stem.with_suffix(".json"))
        PREDICTIONS.save(predictions(run["final_test_accuracy"], 100), stem.with_suffix(".csv"))
        metrics_paths.append(stem.with_suffix(".json"))
        predictions_paths.append(stem.with_suffix(".csv"))
    written = compare.compare_runs(metrics_paths, predictions_paths, "plain", ALPHA, tmp_path / "out")
    read = compare.Comparison.read(tmp_path / "out")
    for name in ("runs", "summary", "tests", "image_tests", "noise_floor"):
        pd.testing.assert_frame_equal(getattr(read, name), getattr(written, name), check_dtype=False)
    assert read.image_tests["difference"].tolist() == pytest.approx([5.0, 4.0])
    old = read.tests[["variant", "baseline", "seeds", "difference_mean", "difference_std", "p_value", "verdict"]]
    old.to_csv(tmp_path / "out" / "tests.csv", index=False)  # what the compare rule wrote before
    with pytest.raises(ArtifactError) as raised:
        compare.Comparison.read(tmp_path / "out")
    assert str(tmp_path / "out" / "tests.csv") in str(raised.value) and "compare rule" in str(raised.value)
