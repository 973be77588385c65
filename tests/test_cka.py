import numpy as np
import pytest
import torch

from cnnlens.errors import CnnlensError
from cnnlens.interpret.cka import SMALLEST_MINIBATCH, CkaAccumulator, cross_cka, gram, minibatch_cka

from helpers import reference_hsic


def reference_cka(batches_x: list[np.ndarray], batches_y: list[np.ndarray]) -> float:
    """Minibatch CKA (Nguyen et al. 2021) from the per-batch HSIC₁ sums."""
    grams_x = [x.reshape(len(x), -1) @ x.reshape(len(x), -1).T for x in batches_x]
    grams_y = [y.reshape(len(y), -1) @ y.reshape(len(y), -1).T for y in batches_y]
    cross = sum(reference_hsic(K, L) for K, L in zip(grams_x, grams_y, strict=True))
    self_x = sum(reference_hsic(K, K) for K in grams_x)
    self_y = sum(reference_hsic(L, L) for L in grams_y)
    return cross / np.sqrt(self_x * self_y)


def biased_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Kornblith et al.'s linear CKA with the biased HSIC, tr(KHLH)/(n−1)², on the whole set at once."""
    n = X.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    K, L = X @ X.T, Y @ Y.T

    def hsic(A: np.ndarray, B: np.ndarray) -> float:
        return np.trace(A @ H @ B @ H) / (n - 1) ** 2

    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def split(features: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    return list(torch.split(features, sizes))


def related_pair(generator: torch.Generator, n: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    """Two layers that share some structure, so that their CKA is well inside (0, 1)."""
    X = torch.randn(n, 40, generator=generator, dtype=torch.float64)
    Y = torch.tanh(X[:, :25] @ torch.randn(25, 30, generator=generator, dtype=torch.float64))
    return X, Y + torch.randn(n, 30, generator=generator, dtype=torch.float64)


def test_self_cka_is_one_over_several_minibatches():
    X = torch.randn(80, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    assert minibatch_cka(zip(split(X, [16] * 5), split(X, [16] * 5), strict=True)) == pytest.approx(1.0, abs=1e-9)


def test_cka_is_invariant_to_orthogonal_transforms_scaling_and_a_shared_offset():
    # The offset, large as ReLU features' means are next to their spread, costs digits unless it is removed.
    generator = torch.Generator().manual_seed(1)
    X, Y = related_pair(generator)
    Q, _ = torch.linalg.qr(torch.randn(X.shape[1], X.shape[1], generator=generator, dtype=torch.float64))
    sizes = [32] * 3

    def cka(features_x: torch.Tensor) -> float:
        return minibatch_cka(zip(split(features_x, sizes), split(Y, sizes), strict=True))

    original = cka(X)
    assert 0.1 < original < 0.9
    assert cka(X @ Q) == pytest.approx(original, abs=1e-12)
    assert cka(7.5 * X) == pytest.approx(original, abs=1e-12)
    assert cka(X + 100 * torch.rand(X.shape[1], generator=generator, dtype=torch.float64)) == pytest.approx(
        original, abs=1e-12
    )


def test_unbiased_cka_is_near_zero_for_independent_features_where_the_biased_one_is_not():
    generator = torch.Generator().manual_seed(2)
    X = torch.randn(256, 512, generator=generator)
    Y = torch.randn(256, 512, generator=generator)
    assert abs(minibatch_cka(zip(split(X, [64] * 4), split(Y, [64] * 4), strict=True))) < 0.05
    assert biased_cka(X[:128].double().numpy(), Y[:128].double().numpy()) > 0.5


def test_cka_matches_the_published_formula_over_unequal_minibatches():
    # Unequal sizes so that the per-batch factors 1/(n(n−3)) and 1/((n−1)(n−2)) do not cancel; float32
    # input so that a computation in single precision would miss the 1e-10.
    generator = torch.Generator().manual_seed(3)
    X, Y = related_pair(generator)
    X, Y = X.float().reshape(-1, 4, 10), Y.float()
    sizes = [7, 33, 20, 36]
    expected = reference_cka(
        [x.double().numpy() for x in split(X, sizes)], [y.double().numpy() for y in split(Y, sizes)]
    )
    assert minibatch_cka(zip(split(X, sizes), split(Y, sizes), strict=True)) == pytest.approx(expected, abs=1e-10)


def test_diagonal_is_zeroed_not_subtracted_row_by_row():
    # Examples of very unequal norms: subtracting diag(K) from every row instead of zeroing it moves the result.
    generator = torch.Generator().manual_seed(4)
    X, Y = related_pair(generator, n=48)
    scales = torch.logspace(-1, 1.5, 48, dtype=torch.float64)[torch.randperm(48, generator=generator)]
    X, Y = X * scales[:, None], Y * scales.flip(0)[:, None]
    sizes = [12] * 4
    expected = reference_cka([x.numpy() for x in split(X, sizes)], [y.numpy() for y in split(Y, sizes)])
    assert minibatch_cka(zip(split(X, sizes), split(Y, sizes), strict=True)) == pytest.approx(expected, abs=1e-10)


def test_layer_matrix_from_one_pass_equals_pairwise_cka():
    generator = torch.Generator().manual_seed(5)
    X, Y = related_pair(generator)
    layers = {
        "conv": X.reshape(-1, 10, 2, 2),
        "fc": Y,
        "mixed": torch.cat([X[:, :10], Y[:, :5]], dim=1) ** 2,
        "noise": torch.randn(96, 7, generator=generator, dtype=torch.float64),
    }
    sizes = [24] * 4
    accumulator = CkaAccumulator(list(layers))
    for start in range(0, 96, 24):
        accumulator.update({name: features[start : start + 24] for name, features in layers.items()})
    matrix = accumulator.matrix()

    pairwise = [
        [minibatch_cka(zip(split(first, sizes), split(second, sizes), strict=True)) for second in layers.values()]
        for first in layers.values()
    ]
    np.testing.assert_allclose(matrix, pairwise, rtol=0, atol=1e-12)
    np.testing.assert_allclose(matrix, matrix.T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.diag(matrix), 1.0, rtol=0, atol=1e-12)
    expected_conv_fc = reference_cka(
        [x.numpy() for x in split(layers["conv"], sizes)], [y.numpy() for y in split(layers["fc"], sizes)]
    )
    assert matrix[0, 1] == pytest.approx(expected_conv_fc, abs=1e-10)


def refusal(call) -> str:
    """The one-line message of the error that ``call`` raises."""
    with pytest.raises(CnnlensError) as raised:
        call()
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_too_small_minibatch_is_refused():
    X = torch.randn(3, 8)
    message = refusal(lambda: minibatch_cka([(X, X)]))
    assert "3" in message and str(SMALLEST_MINIBATCH) in message


def test_mismatched_example_counts_are_refused():
    message = refusal(lambda: minibatch_cka([(torch.randn(8, 5), torch.randn(6, 5))]))
    assert "'X': 8" in message and "'Y': 6" in message


@pytest.mark.parametrize(("value", "n"), [(0.0, 9), (0.1, 5), (1.7, 17), (12.345, 33)])
def test_a_constant_layer_is_not_measured_and_leaves_the_others_measured(value, n):
    # A dead layer, and nonzero constants, whose HSIC(K, K) computed from X Xᵀ as it is would be rounding noise,
    # often positive.
    accumulator = CkaAccumulator(["varied", "constant"])
    accumulator.update({"varied": torch.randn(n, 4), "constant": torch.full((n, 3, 2, 2), value)})
    matrix = accumulator.matrix()
    assert matrix[0, 0] == pytest.approx(1.0)
    assert np.isnan(matrix[1]).all() and np.isnan(matrix[:, 1]).all()


def test_cross_cka_of_stored_grams_equals_cka_of_the_activations():
    generator = torch.Generator().manual_seed(6)
    X, Y = related_pair(generator)
    Z = torch.randn(96, 12, generator=generator, dtype=torch.float64)
    sizes = [24, 24, 48]

    def grams(features: torch.Tensor) -> list[torch.Tensor]:
        return [gram(part) for part in split(features, sizes)]

    values, errors = cross_cka({"x": grams(X), "z": grams(Z)}, {"y": grams(Y)})
    assert values.shape == errors.shape == (2, 1)
    assert values[0, 0] == pytest.approx(minibatch_cka(zip(split(X, sizes), split(Y, sizes), strict=True)), abs=1e-12)
    assert values[1, 0] == pytest.approx(minibatch_cka(zip(split(Z, sizes), split(Y, sizes), strict=True)), abs=1e-12)


def test_the_standard_error_is_the_jackknife_over_minibatches():
    generator = torch.Generator().manual_seed(7)
    X, Y = related_pair(generator)
    sizes = [24] * 4
    parts = list(zip(split(X, sizes), split(Y, sizes), strict=True))
    accumulator = CkaAccumulator(["X", "Y"])
    for x, y in parts:
        accumulator.update({"X": x, "Y": y})
    left_out = np.array([minibatch_cka(parts[:index] + parts[index + 1 :]) for index in range(len(parts))])
    expected = np.sqrt(3 / 4 * ((left_out - left_out.mean()) ** 2).sum())
    assert accumulator.standard_error()[0, 1] == pytest.approx(expected, rel=1e-9)
    assert expected > 0.005  # 96 images leave a visible spread
    one = CkaAccumulator(["X", "Y"])
    one.update({"X": X, "Y": Y})
    assert np.isnan(one.standard_error()).all()  # one minibatch: nothing to leave out


def test_grams_of_other_minibatches_are_refused():
    X = torch.randn(16, 3, dtype=torch.float64)
    message = refusal(lambda: cross_cka({"a": [gram(X[:8]), gram(X[8:])]}, {"b": [gram(X)]}))
    assert "same images" in message


def test_matrix_before_any_minibatch_is_refused():
    assert "update()" in refusal(CkaAccumulator(["a"]).matrix)
