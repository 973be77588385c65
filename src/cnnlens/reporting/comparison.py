"""Comparing model variants: one table of runs, mean ± std over seeds, and each variant against a baseline, over
seeds and image by image (docs/conclusions.md, "Comparing variants").

Two questions, two tests, every difference in percentage points of test accuracy:

- Over seeds, is the variant as a training recipe better than the baseline? The paired t-test on the final test
  accuracy of the seeds both trained, with the mean difference, its t-interval and the smallest difference these
  seeds could detect; Holm's adjustment over the variants. A verdict is "better" or "worse" only where the adjusted
  p is below alpha, and "inconclusive" otherwise, never a tie. One seed allows no such test.
- Image by image, do the two trained networks of one seed differ beyond the sampling of the test images? McNemar's
  exact test on the images only one of them gets right, Holm over every variant and seed. It works with one seed
  and says nothing about other seeds.

With two or more seeds of the baseline, every two of them are compared in the same way: how far apart two runs of
one recipe land (the noise floor), measured in this run rather than assumed.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from cnnlens.artifacts import (
    IMAGE_TESTS,
    NOISE_FLOOR,
    PREDICTIONS,
    RUN_METRICS,
    RUNS,
    SUMMARY,
    TESTS,
    Table,
)
from cnnlens.errors import CnnlensError
from cnnlens.plots.style import confidence_level
from cnnlens.statistics import bootstrap_interval, holm
from cnnlens.texts import text

RunId = tuple[str, int]  # (variant, seed)


def load_metrics(paths: Sequence[str | Path]) -> list[dict]:
    """The ``metrics.json`` of each run, in the given order."""
    return [RUN_METRICS.load(path) for path in paths]


def compare_runs(
    metrics_paths: Sequence[str | Path],
    predictions_paths: Sequence[str | Path],
    baseline: str,
    alpha: float,
    out_dir: str | Path,
) -> Comparison:
    """The compare job: every table of :class:`Comparison` in ``out_dir``, from each run's ``metrics.json`` and
    ``predictions.csv`` (the same runs in the same order)."""
    metrics = load_metrics(metrics_paths)
    predictions = {
        (run["model"], run["seed"]): PREDICTIONS.load(path)
        for run, path in zip(metrics, predictions_paths, strict=True)
    }
    comparison = compare(runs_table(metrics), predictions, baseline, alpha)
    comparison.save(out_dir)
    return comparison


@dataclass
class Comparison:
    """The compare job's tables, as the report and the comparison notebook read them; each field is saved as
    ``<field>.csv``, the file of the table of that name in :mod:`cnnlens.artifacts`."""

    runs: pd.DataFrame
    summary: pd.DataFrame
    tests: pd.DataFrame  # over seeds
    image_tests: pd.DataFrame  # per image, each variant against the baseline of the same seed
    noise_floor: pd.DataFrame  # per image, every two seeds of the baseline

    def save(self, folder: str | Path) -> None:
        for table in _tables():
            table.save(getattr(self, table.name), Path(folder) / f"{table.name}.csv")

    @classmethod
    def read(cls, folder: str | Path) -> Comparison:
        return cls(**{table.name: table.load(Path(folder) / f"{table.name}.csv") for table in _tables()})


def _tables() -> list[Table]:
    """The tables of :class:`Comparison`, by its field names."""
    tables = {table.name: table for table in (RUNS, SUMMARY, TESTS, IMAGE_TESTS, NOISE_FLOOR)}
    return [tables[field.name] for field in fields(Comparison)]


def compare(runs: pd.DataFrame, predictions: Mapping[RunId, pd.DataFrame], baseline: str, alpha: float) -> Comparison:
    """Every table of the comparison, verdicts included, from the runs' table and their test predictions."""
    noise = noise_floor(predictions, baseline, alpha)
    tests = seed_tests(runs, baseline, alpha, noise)
    comparison = Comparison(runs, summarize(runs), tests, image_tests(predictions, baseline, alpha), noise)
    tests["verdict"] = comparison_verdicts(comparison, alpha)
    return comparison


def runs_table(metrics: Sequence[dict]) -> pd.DataFrame:
    """One row per training run (variant × seed), from the runs' ``metrics.json``, in the given order."""
    rows = [{"variant": m["model"], **{key: m[key] for key in RUNS.columns[1:]}} for m in metrics]
    return pd.DataFrame(rows, columns=list(RUNS.columns))


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample standard deviation over seeds per variant, in the order variants first appear."""
    grouped = runs.groupby("variant", sort=False)
    summary = grouped.agg(
        seeds=("seed", "count"),
        accuracy_mean=("final_test_accuracy", "mean"),
        accuracy_std=("final_test_accuracy", "std"),
        best_accuracy_mean=("best_test_accuracy", "mean"),
        test_loss_mean=("final_test_loss", "mean"),
        parameters=("parameters", "first"),
        seconds_per_epoch=("seconds_per_epoch", "mean"),
    )
    return summary.reset_index()


# Over seeds

SEED_STATISTICS = (
    "seeds",
    "difference_mean",
    "difference_std",
    "interval_low",
    "interval_high",
    "p_value",
    "detectable",
)


def seed_tests(runs: pd.DataFrame, baseline: str, alpha: float, noise: pd.DataFrame) -> pd.DataFrame:
    """Each variant's final test accuracy against the baseline's, paired by seed: the columns of ``tests.csv`` but
    the verdict (:func:`comparison_verdicts`).

    Differences are in percentage points. The p-values are adjusted by Holm's method over the variants that could be
    tested; where no test is possible (fewer than two shared seeds, or the same difference on every seed) the p-values,
    the interval and the detectable difference are NaN. ``noise_floor`` is the mean seed-to-seed difference of the
    baseline (:func:`mean_noise`), the same on every row.
    """
    accuracy = runs.pivot(index="seed", columns="variant", values="final_test_accuracy")
    variants = [variant for variant in dict.fromkeys(runs["variant"]) if variant != baseline]
    differences = [100 * (accuracy[variant] - accuracy[baseline]).dropna().to_numpy() for variant in variants]
    p_values = np.array([paired_p_value(each) for each in differences])
    tested = max(1, int(np.isfinite(p_values).sum()))
    rows = [
        {"variant": variant, "baseline": baseline, **seed_statistics(each, p_value, alpha, tested)}
        for variant, each, p_value in zip(variants, differences, p_values, strict=True)
    ]
    tests = pd.DataFrame(rows, columns=["variant", "baseline", *SEED_STATISTICS])
    return with_holm(tests, "p_value", alpha).assign(noise_floor=mean_noise(noise))[list(TESTS.columns[:-1])]


def seed_statistics(differences: np.ndarray, p_value: float, alpha: float, tested: int) -> dict[str, float]:
    """The mean of the per-seed ``differences``, their standard deviation, the mean's t-interval at 1 - ``alpha``,
    ``p_value`` (:func:`paired_p_value`) and the smallest difference these seeds could detect among ``tested``
    variants (:func:`detectable_difference`); NaN where they are undefined."""
    seeds = len(differences)
    values = dict.fromkeys(SEED_STATISTICS, np.nan) | {"seeds": seeds}
    if seeds:
        values["difference_mean"] = float(differences.mean())
    if seeds > 1:
        values["difference_std"] = float(differences.std(ddof=1))
    if np.isfinite(p_value):
        low, high = t_interval(differences, alpha)
        values |= {"interval_low": low, "interval_high": high, "p_value": p_value}
        values["detectable"] = detectable_difference(differences, alpha, tested)
    return values


def paired_p_value(differences: np.ndarray) -> float:
    """The two-sided paired t-test's p-value of the per-seed differences; NaN with fewer than two, or where they are
    all the same."""
    # Accuracies are ratios of counts: differences that agree to 1e-9 points are equal, and a t-test of rounding
    # noise would report p ~ 1e-29.
    if len(differences) < 2 or np.ptp(differences) <= 1e-9:
        return float("nan")
    return float(stats.ttest_1samp(differences, 0.0).pvalue)


def t_interval(differences: np.ndarray, alpha: float) -> tuple[float, float]:
    """The two-sided t-interval of the mean difference at level 1 - ``alpha``: it excludes 0 exactly where the paired
    t-test's p is below ``alpha``."""
    mean, half_width = differences.mean(), _significance_threshold(differences, alpha)
    return float(mean - half_width), float(mean + half_width)


def detectable_difference(differences: np.ndarray, alpha: float, tested: int) -> float:
    """The smallest mean difference these seeds could detect: with the standard deviation of these differences, the
    smallest absolute mean whose paired t-test p is below ``alpha / tested``, which Holm's adjustment over ``tested``
    variants leaves significant whatever the other p-values are."""
    return _significance_threshold(differences, alpha / tested)


def _significance_threshold(differences: np.ndarray, alpha: float) -> float:
    """The critical t at two-sided level ``alpha`` times the standard error of the mean: the absolute mean
    difference beyond which the t-test's p is below ``alpha``."""
    seeds = len(differences)
    standard_error = differences.std(ddof=1) / np.sqrt(seeds)
    return float(stats.t.ppf(1 - alpha / 2, seeds - 1) * standard_error)


# Image by image


def mcnemar(predictions: Mapping[RunId, pd.DataFrame], first: RunId, second: RunId, alpha: float) -> dict[str, float]:
    """McNemar's exact test of two runs on the same test images: of the images only one of them gets right,
    ``first_only`` the first gets right, ``second_only`` the second; the two-sided binomial test of ``first_only`` out
    of both at one half (p 1 where there are none), and the accuracy difference first - second in points with its
    percentile bootstrap interval over the images at ``1 - alpha`` (``interval_low``, ``interval_high``)."""
    correct_first, correct_second = _correct_on_same_images(predictions, first, second)
    first_only = int((correct_first & ~correct_second).sum())
    second_only = int((correct_second & ~correct_first).sum())
    discordant = first_only + second_only
    p_value = stats.binomtest(first_only, discordant, 0.5).pvalue if discordant else 1.0
    images = len(correct_first)
    low, high = bootstrap_interval(100 * (correct_first.astype(float) - correct_second), 1 - alpha)
    return {
        "images": images,
        "difference": 100 * (first_only - second_only) / images,
        "interval_low": low,
        "interval_high": high,
        "first_only": first_only,
        "second_only": second_only,
        "mcnemar_p": float(p_value),
    }


def _correct_on_same_images(
    predictions: Mapping[RunId, pd.DataFrame], first: RunId, second: RunId
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each run predicts each test image right, image by image; an error unless both have predictions of
    the same images with the same labels."""
    tables = [predictions[run].sort_values("image") for run in (first, second)]
    same_images = all(np.array_equal(tables[0][column], tables[1][column]) for column in ("image", "label"))
    if not same_images:
        names = " and ".join(f"{variant} seed {seed}" for variant, seed in (first, second))
        raise CnnlensError(
            f"the predictions.csv of {names} are not of the same test images: retrain both on the same data "
            "(delete their folders under results/models, then run snakemake again)"
        )
    first_table, second_table = tables
    return _correct(first_table), _correct(second_table)


def _correct(predictions: pd.DataFrame) -> np.ndarray:
    return (predictions["label"] == predictions["predicted"]).to_numpy()


def image_tests(predictions: Mapping[RunId, pd.DataFrame], baseline: str, alpha: float) -> pd.DataFrame:
    """McNemar's test (:func:`mcnemar`) of each variant against the baseline of the same seed, the rows of
    ``image_tests.csv``: in the order of ``predictions``, Holm over every row."""
    rows = [
        {"variant": variant, "baseline": baseline, "seed": seed}
        | _named(mcnemar(predictions, (variant, seed), (baseline, seed), alpha), "variant_only", "baseline_only")
        for variant, seed in predictions
        if variant != baseline and (baseline, seed) in predictions
    ]
    return with_holm(pd.DataFrame(rows, columns=list(IMAGE_TESTS.columns[:-2])), "mcnemar_p", alpha)


def noise_floor(predictions: Mapping[RunId, pd.DataFrame], baseline: str, alpha: float) -> pd.DataFrame:
    """Every two seeds of the baseline compared as :func:`image_tests` compares a variant with it, the rows of
    ``noise_floor.csv`` (none with one seed): how far apart two runs of one recipe land."""
    seeds = [seed for variant, seed in predictions if variant == baseline]
    rows = [
        {"baseline": baseline, "seed": seed, "other_seed": other}
        | _named(mcnemar(predictions, (baseline, seed), (baseline, other), alpha), "seed_only", "other_only")
        for seed, other in itertools.combinations(seeds, 2)
    ]
    return with_holm(pd.DataFrame(rows, columns=list(NOISE_FLOOR.columns[:-2])), "mcnemar_p", alpha)


def mean_noise(noise: pd.DataFrame) -> float:
    """The noise floor in one number: the mean absolute accuracy difference of two seeds of the baseline (NaN
    without two seeds)."""
    return float(noise["difference"].abs().mean()) if len(noise) else float("nan")


def _named(test: dict[str, float], first_only: str, second_only: str) -> dict[str, float]:
    """A :func:`mcnemar` result with its discordant counts under the names of a table's columns."""
    names = {"first_only": first_only, "second_only": second_only}
    return {names.get(key, key): value for key, value in test.items()}


# Both


def with_holm(table: pd.DataFrame, p_column: str, alpha: float) -> pd.DataFrame:
    """``table`` with ``p_holm``, the p-values of ``p_column`` adjusted by Holm's method over the rows that have one,
    and ``significant`` (:func:`significant`), after ``p_column``."""
    adjusted = holm(table[p_column].to_numpy(dtype=float))
    position = table.columns.get_loc(p_column) + 1
    table = table.copy()
    table.insert(position, "p_holm", adjusted)
    return table.assign(significant=[significant(p, alpha) for p in adjusted])


def significant(p_holm: float, alpha: float) -> bool | None:
    """Whether an adjusted p-value is below ``alpha``; None where there was no test."""
    return bool(p_holm < alpha) if np.isfinite(p_holm) else None


# The verdict


def comparison_verdicts(comparison: Comparison, alpha: float) -> list[str]:
    """One verdict per variant, in the order of the tests: over seeds, then image by image per seed, then the noise
    floor where the baseline has two or more seeds."""
    noise = noise_verdict(comparison.noise_floor, alpha)
    return [
        text("comparison.sentence_separator").join(
            sentence
            for sentence in (
                seed_verdict(test, alpha),
                image_verdict(comparison.image_tests, test["variant"], alpha),
                noise,
            )
            if sentence
        )
        for test in comparison.tests.to_dict("records")
    ]


def seed_verdict(test: Mapping, alpha: float) -> str:
    """What the test over seeds says: better or worse only where Holm's adjusted p is below ``alpha``; otherwise
    inconclusive, with the interval and the detectable difference; or why there is no test."""
    values = {"variant": test["variant"], "baseline": test["baseline"], "seeds": test["seeds"]}
    if test["seeds"] == 0:
        return text("comparison.verdict_no_shared_seed", **values)
    values["difference"] = f"{test['difference_mean']:+.2f}"
    if test["seeds"] == 1:
        return text("comparison.verdict_one_seed", **values)
    if not np.isfinite(test["p_value"]):
        return text("comparison.verdict_identical", **values)
    values |= {
        "level": confidence_level(alpha),
        "low": f"{test['interval_low']:+.2f}",
        "high": f"{test['interval_high']:+.2f}",
        "p": f"{test['p_value']:.3g}",
        "p_holm": f"{test['p_holm']:.3g}",
    }
    if significant(test["p_holm"], alpha):
        better = test["difference_mean"] > 0
        return text("comparison.verdict_better" if better else "comparison.verdict_worse", **values)
    values |= {"alpha": f"{alpha:g}", "detectable": f"{test['detectable']:.2f}"}
    return text("comparison.verdict_inconclusive", **values)


def image_verdict(image_tests: pd.DataFrame, variant: str, alpha: float) -> str:
    """What McNemar's tests of ``variant`` say, seed by seed: whether its network and the baseline's differ (Holm's
    adjusted p below ``alpha``); empty where they share no seed."""
    rows = image_tests[image_tests["variant"] == variant].to_dict("records")
    results = [
        text(
            "comparison.verdict_image_differ" if significant(row["p_holm"], alpha) else "comparison.verdict_image_same",
            seed=row["seed"],
            difference=f"{row['difference']:+.2f}",
            low=f"{row['interval_low']:+.2f}",
            high=f"{row['interval_high']:+.2f}",
            level=confidence_level(alpha),
            p_holm=f"{row['p_holm']:.3g}",
        )
        for row in rows
    ]
    return text("comparison.verdict_images", results=text("style.clause_separator").join(results)) if rows else ""


def noise_verdict(noise: pd.DataFrame, alpha: float) -> str:
    """The noise floor in words: how far apart two seeds of the baseline land and how many pairs of them McNemar's
    test tells apart (Holm's adjusted p below ``alpha``); empty without two seeds."""
    if noise.empty:
        return ""
    return text(
        "comparison.verdict_noise",
        baseline=noise["baseline"].iloc[0],
        mean=f"{mean_noise(noise):.2f}",
        largest=f"{noise['difference'].abs().max():.2f}",
        pairs=len(noise),
        beyond=sum(bool(significant(p_holm, alpha)) for p_holm in noise["p_holm"]),
    )
