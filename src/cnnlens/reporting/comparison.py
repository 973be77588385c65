"""Comparing model variants over seeds: one table of runs, mean ± std, and paired tests against a baseline.

One seed decides nothing (seed noise on CIFAR-10 is about a point), so every verdict states its test
and p-value, or says plainly that no test was possible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from cnnlens.artifacts import CONFUSION, HISTORY, RUN_METRICS, RUNS, SUMMARY, TESTS
from cnnlens.texts import text


def load_metrics(paths: Sequence[str | Path]) -> list[dict]:
    """The ``metrics.json`` of each run, in the given order."""
    return [RUN_METRICS.load(path) for path in paths]


def compare_runs(metrics_paths: Sequence[str | Path], baseline: str, alpha: float, out_dir: str | Path) -> pd.DataFrame:
    """The compare job: ``runs.csv``, ``summary.csv`` and ``tests.csv`` in ``out_dir``; returns the tests."""
    out = Path(out_dir)
    runs = runs_table(load_metrics(metrics_paths))
    RUNS.save(runs, out / "runs.csv")
    SUMMARY.save(summarize(runs), out / "summary.csv")
    tests = paired_tests(runs, baseline, alpha)
    TESTS.save(tests, out / "tests.csv")
    return tests


@dataclass
class Comparison:
    """The compare job's tables, as the report and the comparison notebook read them."""

    runs: pd.DataFrame
    summary: pd.DataFrame
    tests: pd.DataFrame

    @classmethod
    def read(cls, folder: str | Path) -> Comparison:
        folder = Path(folder)
        return cls(
            RUNS.load(folder / "runs.csv"), SUMMARY.load(folder / "summary.csv"), TESTS.load(folder / "tests.csv")
        )


@dataclass
class TrainedRun:
    """One training run's files, as the comparison and training notebooks read them."""

    metrics: dict
    history: pd.DataFrame
    confusion: pd.DataFrame  # counts; rows true classes, columns predicted

    @property
    def label(self) -> str:
        return f"{self.metrics['model']} (seed {self.metrics['seed']})"

    @classmethod
    def read(cls, folder: str | Path) -> TrainedRun:
        folder = Path(folder)
        return cls(
            RUN_METRICS.load(folder / "metrics.json"),
            HISTORY.load(folder / "history.csv"),
            CONFUSION.load(folder / "confusion.csv"),
        )


def pooled_confusion(runs: Sequence[TrainedRun]) -> dict[str, pd.DataFrame]:
    """Per variant, the confusion counts summed over its seeds, in the order variants first appear."""
    pooled: dict[str, pd.DataFrame] = {}
    for run in runs:
        variant = run.metrics["model"]
        pooled[variant] = pooled[variant] + run.confusion if variant in pooled else run.confusion
    return pooled


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


def paired_tests(runs: pd.DataFrame, baseline: str, alpha: float = 0.05) -> pd.DataFrame:
    """Each variant's final test accuracy against the baseline's, paired by seed (two-sided paired t-test).

    Differences are in percentage points. ``p_value`` is NaN where no test is possible (fewer than two
    common seeds, or differences identical across seeds).
    """
    table = runs.pivot(index="seed", columns="variant", values="final_test_accuracy")
    rows = []
    for variant in dict.fromkeys(runs["variant"]):
        if variant == baseline:
            continue
        pairs = table[[variant, baseline]].dropna()
        differences = 100 * (pairs[variant] - pairs[baseline]).to_numpy()
        p_value = _paired_p_value(differences)
        rows.append(
            {
                "variant": variant,
                "baseline": baseline,
                "seeds": len(differences),
                "difference_mean": differences.mean() if len(differences) else np.nan,
                "difference_std": differences.std(ddof=1) if len(differences) > 1 else np.nan,
                "p_value": p_value,
                "significant": bool(p_value < alpha) if not np.isnan(p_value) else None,
            }
        )
    tests = pd.DataFrame(
        rows, columns=["variant", "baseline", "seeds", "difference_mean", "difference_std", "p_value", "significant"]
    )
    tests["verdict"] = [verdict(row, alpha) for row in tests.to_dict("records")]
    return tests


def _paired_p_value(differences: np.ndarray) -> float:
    # Accuracies are ratios of counts: differences that agree to 1e-9 points are equal, and a t-test of
    # rounding noise would report p ~ 1e-29.
    if len(differences) < 2 or np.ptp(differences) <= 1e-9:
        return float("nan")
    return float(stats.ttest_1samp(differences, 0.0).pvalue)


def verdict(test: Mapping, alpha: float) -> str:
    """One plain sentence: which variant is better and how sure that is, or that it is a tie."""
    seeds, difference = test["seeds"], test["difference_mean"]
    values = {"variant": test["variant"], "baseline": test["baseline"], "seeds": seeds, "alpha": alpha}
    values |= {"difference": f"{difference:+.2f}", "p": f"{test['p_value']:.3g}"}
    if seeds == 0:
        return text("comparison.verdict_no_shared_seed", **values)
    if seeds < 2:
        return text("comparison.verdict_one_seed", **values)
    if np.isnan(test["p_value"]):
        return text("comparison.verdict_identical", **values)
    if test["significant"]:
        direction = "comparison.verdict_better" if difference > 0 else "comparison.verdict_worse"
        return text(direction, **values | {"difference": f"{abs(difference):.2f}"})
    return text("comparison.verdict_tie", **values)


def curve_bands(histories: Mapping[tuple[str, int], pd.DataFrame], column: str) -> pd.DataFrame:
    """Per variant and epoch, the mean, min and max of a history column over seeds (for a band plot)."""
    frames = [history[["epoch", column]].assign(variant=variant) for (variant, _), history in histories.items()]
    joined = pd.concat(frames)
    bands = joined.groupby(["variant", "epoch"], sort=False)[column].agg(["mean", "min", "max"])
    return bands.reset_index()


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Recall of every class from a confusion matrix whose rows are true and columns predicted classes."""
    totals = confusion.sum(1)
    return np.divide(np.diag(confusion), totals, out=np.full(len(totals), np.nan), where=totals > 0)
