"""The paired comparisons behind the verdicts, against direct computations of their definitions."""

import numpy as np
import pytest
from scipy import stats

from cnnlens.statistics import RESAMPLES, bootstrap_interval, holm, paired_difference, signed_rank_test


def test_holm_multiplies_the_ith_smallest_p_by_the_hypotheses_left_and_keeps_the_order():
    p = [0.01, 0.04, 0.03, 0.005, 0.5]
    adjusted = holm(p)
    # sorted: 0.005 (x5), 0.01 (x4), 0.03 (x3), 0.04 (x2), 0.5 (x1), made monotone
    expected = {3: 0.025, 0: 0.04, 2: 0.09, 1: 0.09, 4: 0.5}
    for index, value in expected.items():
        assert adjusted[index] == pytest.approx(value)
    assert holm([0.3, 0.4])[0] == pytest.approx(0.6) and holm([0.9, 0.8]).max() == 1.0  # capped at 1
    assert len(holm([])) == 0


def test_holm_leaves_rows_without_a_test_out_of_the_count():
    # sorted: 0.01 times 3, 0.03 times 2, 0.04 times 1 raised to the 0.06 before it; NaN is no test and no count
    adjusted = holm([0.01, 0.04, np.nan, 0.03])
    assert adjusted[[0, 1, 3]].tolist() == pytest.approx([0.03, 0.06, 0.06]) and np.isnan(adjusted[2])
    assert np.isnan(holm([np.nan])).all()


def test_the_signed_rank_test_is_scipys_with_its_own_side():
    differences = np.array([0.5, -0.1, 0.3, 0.2, -0.05, 0.4, 0.25, 0.0])
    p_value, signed_ranks = signed_rank_test(differences)
    assert p_value == pytest.approx(stats.wilcoxon(differences).pvalue)
    nonzero = differences[differences != 0]
    ranks = stats.rankdata(np.abs(nonzero))
    assert signed_ranks == pytest.approx(ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum())
    assert signed_rank_test(np.zeros(5)) == (1.0, 0.0)


def test_the_bootstrap_interval_is_the_percentile_interval_of_resampled_means():
    values = np.random.default_rng(3).normal(0.2, 1.0, size=40)
    low, high = bootstrap_interval(values, 0.95, seed=7)
    draws = np.random.default_rng(7).integers(0, len(values), size=(RESAMPLES, len(values)))
    means = values[draws].mean(1)
    tail = 0.025
    assert (low, high) == pytest.approx(tuple(np.quantile(means, [tail, 1 - tail])))
    narrower = bootstrap_interval(values, 0.8, seed=7)
    assert narrower == pytest.approx(tuple(np.quantile(means, [0.1, 0.9])))
    # about the normal interval for a sample this size
    half = stats.norm.ppf(1 - tail) * values.std(ddof=1) / np.sqrt(len(values))
    assert high - low == pytest.approx(2 * half, rel=0.2)


def test_a_paired_difference_takes_a_side_only_where_the_mean_and_the_ranks_agree():
    leaning_first = [0.1, 0.2, 0.15, 0.3, -0.02, 0.25]
    favours_first = paired_difference(leaning_first)
    assert favours_first.direction == 1 and favours_first.mean == pytest.approx(np.mean(leaning_first))
    assert favours_first.low < favours_first.mean < favours_first.high and favours_first.units == 6
    assert paired_difference([-0.1, -0.2, -0.3, 0.05]).direction == -1
    # five small wins for the first, one large loss: the mean leans to the second, the ranks to the first
    split = paired_difference([0.01, 0.02, 0.03, 0.04, 0.05, -1.0])
    assert split.mean < 0 and signed_rank_test(np.array([0.01, 0.02, 0.03, 0.04, 0.05, -1.0]))[1] > 0
    assert split.direction == 0
    same = paired_difference([0.0, 0.0, 0.0])
    assert (same.direction, same.p_value, same.low, same.high) == (0, 1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="non-empty vector"):
        paired_difference([])


def test_a_whole_test_splits_bootstrap_is_drawn_in_chunks_and_still_the_normal_interval():
    values = np.random.default_rng(5).choice([-1.0, 0.0, 1.0], size=10_000, p=[0.05, 0.85, 0.10])
    low, high = bootstrap_interval(values, 0.95, seed=1)
    half = stats.norm.ppf(0.975) * values.std(ddof=1) / np.sqrt(len(values))
    assert (low, high) == pytest.approx((values.mean() - half, values.mean() + half), abs=0.1 * half)
