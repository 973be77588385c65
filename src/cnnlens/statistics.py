"""Paired comparisons behind the report's verdicts: a test, an effect size with its interval, Holm's adjustment.

Every verdict of the faithfulness section compares two things measured on the same units (the same test images):
the per-unit differences carry the comparison. Each is summarised by the Wilcoxon signed-rank test (no assumption on
the shape of the differences, which for AUCs are often skewed), the mean difference as the effect size, and a
percentile bootstrap interval of that mean over the units. A family of such tests is adjusted by Holm's step-down
method, which keeps the chance of any false claim in the family below the level without assuming independence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

RESAMPLES = 2000  # bootstrap resamples: the interval's ends move by about 0.01 standard errors between seeds


@dataclass(frozen=True)
class PairedDifference:
    """How the first of two paired measurements differs from the second, unit by unit.

    Attributes:
        mean: the mean difference (first - second), the effect size.
        low, high: its percentile bootstrap interval at the given confidence.
        p_value: the two-sided Wilcoxon signed-rank test's (1 where every difference is 0).
        direction: +1 where the mean and the signed ranks both lean to the first, -1 where both lean to the second,
            0 where they disagree or every difference is 0 (no side can be taken).
        units: how many pairs.
    """

    mean: float
    low: float
    high: float
    p_value: float
    direction: int
    units: int


def paired_difference(
    differences: Sequence[float] | np.ndarray, confidence: float = 0.95, seed: int = 0
) -> PairedDifference:
    """The :class:`PairedDifference` of per-unit ``differences`` (first - second), its interval at ``confidence``
    (the report's ``1 - compare.alpha``); ``seed`` draws the resamples."""
    values = np.asarray(differences, dtype=float)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"paired differences must be a non-empty vector, got shape {values.shape}")
    low, high = bootstrap_interval(values, confidence, seed)
    p_value, signed_ranks = signed_rank_test(values)
    mean = float(values.mean())
    direction = int(np.sign(mean)) if np.sign(mean) == np.sign(signed_ranks) else 0
    return PairedDifference(mean, low, high, p_value, direction, len(values))


def signed_rank_test(differences: np.ndarray) -> tuple[float, float]:
    """The two-sided Wilcoxon signed-rank p-value of ``differences`` and the signed rank sum that gives its side.

    The signed rank sum is the sum of the ranks of the positive differences minus that of the negative ones (zeros
    dropped, as scipy's default does): the test's own measure of which side the differences lean to, which can
    disagree with the mean when a few large differences outweigh many small ones.
    """
    nonzero = differences[differences != 0]
    if len(nonzero) == 0:
        return 1.0, 0.0
    ranks = stats.rankdata(np.abs(nonzero))
    signed_ranks = float(ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum())
    return float(stats.wilcoxon(differences).pvalue), signed_ranks


def bootstrap_interval(values: np.ndarray, confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of ``values`` at ``confidence`` (:data:`RESAMPLES` draws),
    drawn a few hundred resamples at a time so that memory stays small for a whole test split."""
    generator = np.random.default_rng(seed)
    per_chunk = max(1, min(RESAMPLES, 2_000_000 // max(1, len(values))))
    means = np.concatenate(
        [
            values[generator.integers(0, len(values), size=(min(per_chunk, RESAMPLES - start), len(values)))].mean(1)
            for start in range(0, RESAMPLES, per_chunk)
        ]
    )
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment over the finite p-values: the i-th smallest of m times m - i + 1, made
    non-decreasing and capped at 1 (Holm 1979). A NaN (where there was no test) stays NaN and does not count in m."""
    values = np.asarray(p_values, dtype=float)
    adjusted = np.full(len(values), np.nan)
    tested = np.flatnonzero(np.isfinite(values))
    order = tested[np.argsort(values[tested], kind="stable")]
    scaled = (len(order) - np.arange(len(order))) * values[order]
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled)) if len(order) else scaled
    return adjusted
