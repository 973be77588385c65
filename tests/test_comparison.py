import math

import numpy as np
import pandas as pd
import pytest

from cnnlens.reporting import comparison as compare


def metrics(variant, seed, accuracy, parameters=100):
    return {
        "model": variant,
        "seed": seed,
        "final_test_accuracy": accuracy,
        "best_test_accuracy": accuracy + 0.01,
        "final_test_loss": 1 - accuracy,
        "parameters": parameters,
        "seconds_per_epoch": 2.0 + seed,
    }


def t2_two_sided_p(t: float) -> float:
    """Student's t with 2 degrees of freedom has a closed-form CDF: an answer independent of scipy."""
    return 1 - abs(t) / math.sqrt(t * t + 2)


@pytest.fixture
def runs():
    plain = [0.80, 0.81, 0.82]
    se_gains, cbam_gains = [0.01, 0.02, 0.03], [0.010, 0.011, 0.009]  # over plain, seed by seed
    return compare.runs_table(
        [metrics("plain", seed, acc) for seed, acc in enumerate(plain)]
        + [metrics("se", seed, acc + gain, 120) for seed, (acc, gain) in enumerate(zip(plain, se_gains, strict=True))]
        + [
            metrics("cbam", seed, acc + gain, 130)
            for seed, (acc, gain) in enumerate(zip(plain, cbam_gains, strict=True))
        ]
    )


def test_summary_has_mean_and_sample_std_over_seeds(runs):
    summary = compare.summarize(runs).set_index("variant")
    assert summary.loc["plain", "seeds"] == 3
    assert summary.loc["plain", "accuracy_mean"] == pytest.approx(0.81)
    assert summary.loc["plain", "accuracy_std"] == pytest.approx(0.01)  # ddof=1
    assert summary.loc["se", "accuracy_mean"] == pytest.approx(0.83)
    assert summary.loc["cbam", "parameters"] == 130
    assert summary.loc["plain", "seconds_per_epoch"] == pytest.approx(3.0)


def test_paired_test_matches_the_closed_form_p_value(runs):
    tests = compare.paired_tests(runs, "plain", alpha=0.05).set_index("variant")
    assert list(tests.index) == ["se", "cbam"]  # in the order the runs came (the config's)
    se = tests.loc["se"]
    # differences 1, 2, 3 points: mean 2, sd 1, t = 2 / (1 / sqrt 3)
    assert se["difference_mean"] == pytest.approx(2.0) and se["difference_std"] == pytest.approx(1.0)
    assert se["p_value"] == pytest.approx(t2_two_sided_p(2 * math.sqrt(3)), rel=1e-9)
    assert not se["significant"] and "not significant, a tie" in se["verdict"]
    cbam = tests.loc["cbam"]
    # differences 1.0, 1.1, 0.9 points: mean 1, sd 0.1, t = 1 / (0.1 / sqrt 3)
    assert cbam["p_value"] == pytest.approx(t2_two_sided_p(10 * math.sqrt(3)), rel=1e-6)
    assert cbam["significant"]
    assert cbam["verdict"].startswith(
        "cbam is better than plain by 1.00 points (mean over 3 seeds; paired t-test p = 0.00"
    )


def test_one_seed_says_no_test_is_possible():
    runs = compare.runs_table([metrics("plain", 0, 0.8), metrics("se", 0, 0.805)])
    test = compare.paired_tests(runs, "plain").iloc[0]
    assert math.isnan(test["p_value"]) and test["significant"] is None
    assert "+0.50 points with one seed; no test is possible" in test["verdict"]


def test_worse_variant_and_identical_differences():
    runs = compare.runs_table(
        [metrics("plain", s, 0.8 + 0.01 * s) for s in range(3)]
        + [metrics("bad", s, 0.7 + 0.01 * s + 0.001 * (s == 1)) for s in range(3)]
        + [metrics("same", s, 0.81 + 0.01 * s) for s in range(3)]
    )
    tests = compare.paired_tests(runs, "plain").set_index("variant")
    assert tests.loc["bad", "verdict"].startswith("bad is worse than plain by 9.97 points")
    assert math.isnan(tests.loc["same", "p_value"]) and "identical differences" in tests.loc["same", "verdict"]


def test_differences_equal_up_to_rounding_are_identical_not_significant():
    # 0.815 - 0.81 and 0.825 - 0.82 are both 0.5 points, up to float rounding
    runs = compare.runs_table(
        [
            metrics("plain", 0, 0.81),
            metrics("plain", 1, 0.82),
            metrics("plain", 2, 0.83),
            metrics("se", 0, 0.815),
            metrics("se", 1, 0.825),
            metrics("se", 2, 0.835),
        ]
    )
    differences = runs.pivot(index="seed", columns="variant", values="final_test_accuracy").diff(axis=1)
    assert differences.iloc[:, 1].nunique() > 1  # the rounding noise is really there
    test = compare.paired_tests(runs, "plain").iloc[0]
    assert math.isnan(test["p_value"]) and test["significant"] is None


def test_curve_bands_over_seeds():
    histories = {
        ("a", 0): pd.DataFrame({"epoch": [1, 2], "test_accuracy": [0.1, 0.5]}),
        ("a", 1): pd.DataFrame({"epoch": [1, 2], "test_accuracy": [0.3, 0.7]}),
        ("b", 0): pd.DataFrame({"epoch": [1, 2], "test_accuracy": [0.2, 0.4]}),
    }
    bands = compare.curve_bands(histories, "test_accuracy").set_index(["variant", "epoch"])
    assert bands.loc[("a", 2)].tolist() == pytest.approx([0.6, 0.5, 0.7])
    assert bands.loc[("b", 1)].tolist() == pytest.approx([0.2, 0.2, 0.2])


def test_per_class_accuracy_is_the_diagonal_over_row_sums():
    confusion = np.array([[8, 2, 0], [1, 1, 2], [0, 0, 0]])
    accuracy = compare.per_class_accuracy(confusion)
    assert accuracy[:2].tolist() == [0.8, 0.25] and math.isnan(accuracy[2])
