"""How alike two layers' representations of the same images are: linear CKA, accumulated over minibatches.

Linear CKA (Kornblith et al., ICML 2019) compares the Gram matrices of two layers, so layers of any widths
compare and only ``n × n`` matrices are kept: conv1's 32,768 features per image cost one ``X Xᵀ``. The
biased HSIC estimator that the paper's formula uses is far from zero for unrelated features when the
features outnumber the images (0.81 for independent 512-dimensional Gaussians over 128 images), so this
module uses the unbiased one, summed over minibatches (minibatch CKA; Nguyen, Raghu & Kornblith, ICLR 2021):
memory stays at one minibatch's Gram matrices whatever the number of images.

For a minibatch of ``n`` examples with features ``X`` (``n × p``) and ``Y`` (``n × q``), flattened per example:

- ``K = X Xᵀ``, ``L = Y Yᵀ``; ``K̃``, ``L̃`` are ``K``, ``L`` with their diagonals set to zero.
- ``HSIC₁(K, L) = [tr(K̃ L̃) + (1ᵀK̃1)(1ᵀL̃1) / ((n−1)(n−2)) − 2/(n−2) · 1ᵀK̃L̃1] / (n(n−3))``
  (Song et al., JMLR 2012), which needs ``n ≥ 4``.
- ``CKA = Σ_b HSIC₁(K_b, L_b) / sqrt(Σ_b HSIC₁(K_b, K_b) · Σ_b HSIC₁(L_b, L_b))``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch

from cnnlens.errors import CnnlensError

SMALLEST_MINIBATCH = 4  # HSIC₁ divides by n − 3


def unbiased_hsic(grams: torch.Tensor) -> torch.Tensor:
    """HSIC₁ between every pair of a stack of ``m`` Gram matrices of one minibatch: ``(m, n, n) -> (m, m)``.

    All pairs come from one matrix product, so a layer × layer table costs one pass over the data.
    """
    n = grams.shape[-1]
    zeroed = grams.clone()
    zeroed.diagonal(dim1=1, dim2=2).zero_()
    flat = zeroed.flatten(1)
    traces = flat @ flat.T  # tr(K̃ L̃) = Σ K̃ ∘ L̃ for symmetric matrices
    row_sums = zeroed.sum(dim=2)  # K̃1
    totals = row_sums.sum(dim=1)  # 1ᵀK̃1
    return (traces + torch.outer(totals, totals) / ((n - 1) * (n - 2)) - 2 / (n - 2) * row_sums @ row_sums.T) / (
        n * (n - 3)
    )


class CkaAccumulator:
    """Linear CKA between every pair of the named layers, summed minibatch by minibatch.

    Feed :meth:`update` each minibatch's activations (e.g. what :func:`cnnlens.interpret.hooks.capture`
    records), or :meth:`add` their Gram matrices; :meth:`matrix` gives the layer × layer CKA table and
    :meth:`standard_error` how much it depends on which images were drawn. It keeps one small table of HSIC₁ per
    minibatch, on the activations' device, in float64.
    """

    def __init__(self, layers: Sequence[str]) -> None:
        self.layers = list(layers)
        self._hsic: list[torch.Tensor] = []  # one (m, m) table of HSIC₁ per minibatch

    def update(self, activations: Mapping[str, torch.Tensor]) -> None:
        """Add one minibatch: ``activations[layer]`` is ``(n, ...)`` for the same ``n`` images in every layer."""
        counts = {layer: activations[layer].shape[0] for layer in self.layers}
        if len(set(counts.values())) > 1:
            raise CnnlensError(
                f"the layers see different numbers of examples in one minibatch ({counts}): "
                "pass every layer's activations for the same images"
            )
        self.add(torch.stack([gram(activations[layer]) for layer in self.layers]))

    def add(self, grams: torch.Tensor) -> None:
        """Add one minibatch as the ``(m, n, n)`` Gram matrices of the layers, in the order of ``layers``."""
        n = grams.shape[-1]
        if n < SMALLEST_MINIBATCH:
            raise CnnlensError(
                f"a minibatch of {n} examples is too small for the unbiased HSIC estimator, which needs at least "
                f"{SMALLEST_MINIBATCH}: use larger minibatches or drop the last incomplete one"
            )
        self._hsic.append(unbiased_hsic(grams.double()))

    def matrix(self) -> np.ndarray:
        """CKA of every pair of layers, ``(m, m)`` in the order of ``layers``: symmetric, ones on the diagonal.

        NaN in the rows and columns of a layer whose HSIC₁(K, K) is not positive: one that does not vary over the
        images, or varies too little for the estimator to see over this few.
        """
        if not self._hsic:
            raise CnnlensError("no minibatches accumulated yet: call update() with at least one minibatch first")
        return _cka(torch.stack(self._hsic).sum(0).cpu().numpy())

    def standard_error(self) -> np.ndarray:
        """The jackknife standard error of :meth:`matrix` over the minibatches (each left out in turn), ``(m, m)``:
        how far another draw of as many images would move each value. NaN from fewer than two minibatches."""
        stacked = torch.stack(self._hsic).cpu().numpy()
        count = len(stacked)
        if count < 2:
            return np.full(stacked.shape[1:], np.nan)
        left_out = np.stack([_cka(stacked.sum(0) - one) for one in stacked])
        return np.sqrt((count - 1) / count * ((left_out - left_out.mean(0)) ** 2).sum(0))


def minibatch_cka(batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Linear CKA between two layers from ``(X_b, Y_b)`` minibatch pairs of ``(n_b, ...)`` activations."""
    accumulator = CkaAccumulator(["X", "Y"])
    for features_x, features_y in batches:
        accumulator.update({"X": features_x, "Y": features_y})
    return float(accumulator.matrix()[0, 1])


def cross_cka(
    first: Mapping[str, Sequence[torch.Tensor]], second: Mapping[str, Sequence[torch.Tensor]]
) -> tuple[np.ndarray, np.ndarray]:
    """CKA of every layer of one model with every layer of another, from each layer's Gram matrices of the same
    images in the same minibatches (``layer -> [(n_b, n_b), ...]``): the ``(len(first), len(second))`` values and
    their jackknife standard errors (:meth:`CkaAccumulator.standard_error`)."""
    layers = [*first.values(), *second.values()]
    shapes = {tuple(tuple(matrix.shape) for matrix in batches) for batches in layers}
    if len(shapes) != 1:
        raise CnnlensError(
            "the two models' Gram matrices are of different minibatches: measure both on the same images "
            "with the same minibatch size"
        )
    accumulator = CkaAccumulator([*(f"first/{name}" for name in first), *(f"second/{name}" for name in second)])
    for batch in zip(*layers, strict=True):
        accumulator.add(torch.stack(batch))
    split = len(first)
    return accumulator.matrix()[:split, split:], accumulator.standard_error()[:split, split:]


def _cka(hsic: np.ndarray) -> np.ndarray:
    """CKA from summed HSIC₁ values: NaN where a layer's own HSIC₁ is not positive."""
    own = np.diag(hsic)
    scale = np.sqrt(np.outer(own, own), where=np.outer(own > 0, own > 0), out=np.full(hsic.shape, np.nan))
    return hsic / scale


def gram(activations: torch.Tensor) -> torch.Tensor:
    """``X Xᵀ`` in float64 of the flattened ``(n, ...)`` activations, measured from the first example.

    Shifting every example by one vector leaves HSIC₁ unchanged, and subtracting the first example makes a
    constant layer's Gram matrix exactly zero (NaN, not a quotient of rounding noise) and spares the digits that the
    offset shared by all ReLU features would cost in HSIC₁'s cancellations.
    """
    features = activations.detach().flatten(1).double()
    features = features - features[:1]
    return features @ features.T
