"""Training and comparison figures: their captions name what the figures draw, with the same constants."""

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from cnnlens.plots import curves as plots
from cnnlens.plots.style import CSS_DPI, retina_png
from cnnlens.texts import CIFAR10_CLASS_NAMES, class_names
from cnnlens.views.runs import curve_bands

from helpers import assert_prints_legibly

# The default run: two variants (the longest name among them), one seed, 50 epochs of 782 batches; the comparison's
# figures also drawn for three variants.
DEFAULT_RUNS = ("plain (seed 0)", "attention (seed 0)")
DEFAULT_EPOCHS = 50
DEFAULT_STEPS = DEFAULT_EPOCHS * 782
VARIANTS = ("plain", "attention", "cbam")
BANDS_MAX_HEIGHT = 2.6  # inches: the short edition shows the bands


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def history() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "epoch": [1, 2],
            "train_accuracy": [0.4, 0.5],
            "test_accuracy": [0.3, 0.6],
            "train_loss": [2, 1],
            "test_loss": [3, 2],
        }
    )


def test_iteration_losses_caption_and_legend_share_the_running_mean(monkeypatch, text_keys):
    monkeypatch.setattr(plots, "SMOOTH", 3)
    assert plots.iteration_losses_caption([("plain", 0), ("se", 1)], [2], [64, 128]) == (
        "⟨curves.iteration_losses_caption window=3 "
        "runs=⟨style.run_short model=plain seed=0⟩⟨style.list_separator⟩⟨style.run_short model=se seed=1⟩ "
        "epochs=2 batch_sizes=64⟨style.list_separator⟩128⟩"
    )
    axes = plots.iteration_losses({"plain (seed 0)": np.arange(10.0)}).axes[0]
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend == ["⟨curves.running_mean_label run=plain (seed 0) window=3⟩"]
    np.testing.assert_allclose(axes.lines[1].get_ydata(), np.arange(1.0, 9.0))  # means of 0-2, 1-3, ...


def test_epoch_curves_caption_names_the_line_style_of_each_split(text_keys):
    assert plots.epoch_curves_caption([("plain", 0)]) == (
        "⟨curves.epoch_curves_caption train=⟨style.line_dashed⟩ test=⟨style.line_solid⟩ "
        "runs=⟨style.run_short model=plain seed=0⟩⟩"
    )
    figure = plots.epoch_curves({"plain (seed 0)": history()})
    accuracy = figure.axes[0]
    assert [line.get_linestyle() for line in accuracy.lines] == ["--", "-"]  # train, then test
    np.testing.assert_allclose(accuracy.lines[1].get_ydata(), [30, 60])
    legend = figure.legends[0]
    keys = {text.get_text(): handle for text, handle in zip(legend.texts, legend.legend_handles, strict=True)}
    assert {label: handle.get_linestyle() for label, handle in keys.items()} == {
        "plain (seed 0)": "-",
        "⟨curves.split_train⟩": "--",
        "⟨curves.split_test⟩": "-",
    }
    assert keys["plain (seed 0)"].get_color() == accuracy.lines[0].get_color()


def test_confusion_caption_names_variants_seeds_and_the_drawn_range(text_keys):
    assert plots.confusion_caption(["plain", "se"], [0, 1]) == (
        "⟨curves.confusion_caption variants=plain⟨style.list_separator⟩se seeds=0⟨style.list_separator⟩1 low=0 high=1⟩"
    )
    figure = plots.confusion_matrices({"plain": np.array([[3, 1], [0, 0]])}, ["cat", "dog"])
    shown = figure.axes[0].images[0]
    assert shown.get_clim() == plots.SHARE_RANGE
    np.testing.assert_allclose(shown.get_array(), [[0.75, 0.25], [0, 0]])


def test_seed_and_class_captions_name_variants_and_seeds(text_keys):
    assert plots.seed_bands_caption(["plain", "se"], [0, 1, 2]) == (
        "⟨curves.seed_bands_caption variants=plain⟨style.list_separator⟩se "
        "seeds=0⟨style.list_separator⟩1⟨style.list_separator⟩2⟩"
    )
    assert plots.per_class_caption(["plain"], [3]) == "⟨curves.per_class_caption variants=plain seeds=3⟩"


def test_comparison_tables_leave_the_verdict_to_the_header_and_put_each_interval_beside_its_difference(text_keys):
    tests = pd.DataFrame(
        {
            "variant": ["se", "cbam"],
            "baseline": ["plain", "plain"],
            "difference_mean": [1.1, 2.0],
            "difference_std": [0.14, float("nan")],
            "interval_low": [-0.17, float("nan")],
            "interval_high": [2.37, float("nan")],
            "p_holm": [0.06, float("nan")],
            "significant": [False, None],
            "verdict": ["se vs plain: ...", "cbam vs plain: ..."],
        }
    )
    shown = plots.comparison_table(tests)
    assert list(shown.columns) == ["⟨table.variant⟩", "⟨table.difference_mean_interval⟩", "⟨table.p_holm⟩"]
    assert list(shown["⟨table.difference_mean_interval⟩"]) == ["1.10 [-0.17, 2.37]", "2.00"]  # one seed: no interval
    images = pd.DataFrame(
        {"variant": ["se"], "seed": [0], "difference": [3.28], "interval_low": [2.57], "interval_high": [4.05]}
        | {"variant_only": [921], "baseline_only": [593], "mcnemar_p": [3e-17]}
    )
    shown = plots.comparison_table(images)
    assert list(shown.columns) == [
        "⟨table.variant⟩",
        "⟨table.seed⟩",
        "⟨table.difference_interval⟩",
        "⟨table.discordant⟩",
        "⟨table.mcnemar_p⟩",
    ]
    assert shown.iloc[0]["⟨table.discordant⟩"] == "921 / 593"


def test_a_table_is_headed_in_the_chosen_language(chinese):
    runs = pd.DataFrame({"variant": ["se"], "seconds_per_epoch": [1.5]})
    assert list(plots.readable_columns(runs).columns) == ["变体", "s/轮"]


def test_truth_values_read_as_yes_or_no_in_the_chosen_language_and_numbers_stay_numbers(text_keys):
    tests = pd.DataFrame({"significant": [True, False, None], "seeds": [1, 0, 2], "p_holm": [1.0, 0.0, float("nan")]})
    shown = plots.readable_columns(tests)
    assert list(shown["⟨table.significant⟩"][:2]) == ["⟨table.yes⟩", "⟨table.no⟩"]
    assert pd.isna(shown["⟨table.significant⟩"].iloc[2])  # no test: the page shows n/a
    assert list(shown["⟨table.seeds⟩"]) == [1, 0, 2] and shown["⟨table.p_holm⟩"].iloc[0] == 1.0


def default_history() -> pd.DataFrame:
    epochs = np.arange(1, DEFAULT_EPOCHS + 1)
    return pd.DataFrame(
        {
            "epoch": epochs,
            "train_accuracy": 1 - 0.6 / np.sqrt(epochs),
            "test_accuracy": 0.9 - 0.5 / np.sqrt(epochs),
            "train_loss": 2 / np.sqrt(epochs),
            "test_loss": 0.5 + 1.6 / epochs,
        }
    )


def default_confusion(variants: int) -> dict[str, np.ndarray]:
    noise = np.random.default_rng(0).integers(0, 100, (variants, 10, 10))
    return {variant: counts + 800 * np.eye(10, dtype=int) for variant, counts in zip(VARIANTS, noise, strict=False)}


def shown_height(figure) -> float:
    return retina_png(figure)[1]["height"] / CSS_DPI


def test_iteration_losses_print_legibly(language):
    losses = np.random.default_rng(0).random(DEFAULT_STEPS) + np.linspace(2, 0.2, DEFAULT_STEPS)
    assert_prints_legibly(plots.iteration_losses(dict.fromkeys(DEFAULT_RUNS, losses)))


def test_epoch_curves_print_legibly(language):
    assert_prints_legibly(plots.epoch_curves(dict.fromkeys(DEFAULT_RUNS, default_history())))


def test_seed_bands_print_legibly_and_short(language):
    histories = {(variant, 0): default_history() for variant in VARIANTS[:2]}
    figure = plots.seed_bands(curve_bands(histories, "test_accuracy"), curve_bands(histories, "test_loss"))
    assert_prints_legibly(figure)
    assert shown_height(figure) <= BANDS_MAX_HEIGHT


@pytest.mark.parametrize("variants", [2, 3])
def test_per_class_bars_print_legibly(language, variants):
    classes = class_names(CIFAR10_CLASS_NAMES)
    accuracy = pd.DataFrame({variant: np.linspace(0.6, 0.95, 10) for variant in VARIANTS[:variants]}, index=classes)
    assert_prints_legibly(plots.per_class_bars(accuracy))


@pytest.mark.parametrize("variants", [2, 3])
def test_confusion_matrices_print_legibly_in_one_row(language, variants):
    figure = plots.confusion_matrices(default_confusion(variants), class_names(CIFAR10_CLASS_NAMES))
    assert_prints_legibly(figure)
    panels = [axes for axes in figure.axes if axes.images]
    assert {axes.get_subplotspec().rowspan.start for axes in panels} == {0}
    named = [any(label.get_text() for label in axes.get_yticklabels()) for axes in panels]
    assert named == [True] + [False] * (variants - 1)  # the first panel names the true classes for the row
