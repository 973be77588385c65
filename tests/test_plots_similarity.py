import numpy as np
import pandas as pd
import pytest

from cnnlens.plots import similarity as plots

from helpers import assert_prints_legibly

# The default layers with every attention output: ten layers, the longest names of a run.
LAYERS = ["conv1", "ca1", "pool1", "conv2", "ca2", "pool2", "conv3", "ca3", "pool3", "fc1"]


def cka_table(seed: int) -> pd.DataFrame:
    generator = np.random.default_rng(seed)
    values = generator.uniform(0.2, 0.9, (len(LAYERS), len(LAYERS)))
    values = (values + values.T) / 2
    np.fill_diagonal(values, 1.0)
    return pd.DataFrame(values, index=LAYERS, columns=LAYERS)


def test_cka_maps_fit_the_page_and_their_colour_bar_spans_zero_to_one(language):
    figure = plots.cka_maps({model: cka_table(seed) for seed, model in enumerate(["plain", "attention", "cbam"])})
    assert_prints_legibly(figure)
    images = [image for axes in figure.axes for image in axes.images]
    assert len(images) == 3
    assert all(image.get_clim() == (0, 1) for image in images)  # the caption's "1 on the diagonal" is the top colour
    colour_bar = figure.axes[-1]
    assert colour_bar.get_ylim() == pytest.approx((0, 1))


def same_layer_rows(variants: list[str], seeds: int) -> pd.DataFrame:
    runs = [(model, seed) for model in ["plain", *variants] for seed in range(seeds)]
    rows = []
    for number, (first, second) in enumerate((a, b) for index, a in enumerate(runs) for b in runs[index + 1 :]):
        kind = "seeds" if first[0] == second[0] else "variants" if first[1] == second[1] else "both"
        rows += [
            (*first, *second, kind, layer, 0.5 + 0.04 * (number % 10), 0.01)
            for layer in LAYERS
            if not layer.startswith("ca")
        ]
    columns = ["model", "seed", "other_model", "other_seed", "kind", "layer", "cka", "error"]
    return pd.DataFrame(rows, columns=columns)


def test_the_floor_plot_draws_each_pair_of_runs_and_fits_the_page(language):
    variants = ["attention", "cbam"]
    figure = plots.floor_plot(same_layer_rows(variants, seeds=3), "plain", variants)
    assert_prints_legibly(figure)
    first = figure.axes[0]
    # plain and attention: 9 pairs across (3 x 3), 3 seed pairs of each; 7 layers each
    points = [len(container[0].get_xdata()) for container in first.containers]
    assert points == [9 * 7, 3 * 7, 3 * 7]
    bars = first.containers[0][2][0].get_segments()  # the caption's "± 2 standard errors" (0.01 each)
    assert {round(float(segment[1][1] - segment[0][1]), 6) for segment in bars} == {0.04}
    low, high = first.get_ylim()
    assert low <= min(segment[0][1] for segment in bars) and high >= 1.0  # the axis spans the values with bars
    assert not figure.axes[2].get_visible()  # two variants: the third panel stays empty


def test_with_one_seed_the_floor_plot_draws_no_seed_pairs(language):
    figure = plots.floor_plot(same_layer_rows(["attention"], seeds=1), "plain", ["attention"])
    assert [len(container[0].get_xdata()) for container in figure.axes[0].containers] == [7]
