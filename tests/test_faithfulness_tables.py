"""The faithfulness section's tables: which numbers land in which column, and the paragraphs' numbers."""

import numpy as np
import pandas as pd

from cnnlens.reporting import faithfulness_tables as tables
from cnnlens.reporting import heatmap_verdict, removal_verdict, sanity_verdict
from cnnlens.views.faithfulness import faithfulness_setup, over_seeds, run_scores, sanity_over_seeds

from helpers import faithfulness_artifact, faithfulness_runs


def test_score_table_shows_mean_and_std_over_seeds_the_score_its_inversion_and_the_ties(text_keys):
    scores = over_seeds(run_scores(faithfulness_runs()))
    table = tables.score_table(scores)
    assert list(table.columns) == [
        "⟨faithfulness.header_model⟩",
        "⟨faithfulness.header_method⟩",
        *(f"⟨{key}⟩" for key in tables.SCORE_HEADERS.values()),
        "⟨faithfulness.header_tied⟩",
    ]
    first = table.iloc[0]
    assert first["⟨faithfulness.header_method⟩"] == "⟨faithfulness.method_gradcam⟩"
    std = np.std([0.3, 0.5], ddof=1)
    assert first["⟨faithfulness.header_deletion⟩"] == f"⟨faithfulness.mean_std mean=0.4000 std={std:.4f}⟩"
    # the score is insertion (1 - deletion) minus deletion: 0.4 and 0.0 over the seeds; the inversion its negative
    assert first["⟨faithfulness.header_score⟩"] == f"⟨faithfulness.mean_std mean=0.2000 std={2 * std:.4f}⟩"
    assert first["⟨faithfulness.header_inverted_score⟩"] == f"⟨faithfulness.mean_std mean=-0.2000 std={2 * std:.4f}⟩"
    assert table.iloc[1]["⟨faithfulness.header_inverted_score⟩"] == "⟨style.missing⟩"  # the random map has none
    assert table.iloc[2]["⟨faithfulness.header_deletion⟩"] == "0.1000"  # cbam: one seed, no ±
    assert first["⟨faithfulness.header_tied⟩"] == "25 %"
    confidence = tables.drop_increase_table(scores)
    assert list(confidence.columns[2:]) == [f"⟨{key}⟩" for key in tables.DROP_INCREASE_HEADERS.values()]
    # Average Drop is half the deletion AUC here: 0.15 and 0.25 over the seeds; the confidence rose on one image of 2
    assert confidence.iloc[0]["⟨faithfulness.header_drop⟩"] == f"⟨faithfulness.mean_std mean=0.2000 std={std / 2:.4f}⟩"
    assert confidence.iloc[0]["⟨faithfulness.header_increase⟩"] == "⟨faithfulness.mean_std mean=0.5000 std=0.0000⟩"


def test_the_tests_table_shows_each_difference_with_its_interval_and_what_it_shows(text_keys):
    models = heatmap_verdict.model_scores(faithfulness_runs()[:2])
    tests = heatmap_verdict.comparison_tests(models, 0.05).assign(p_holm=[0.01, 0.001], direction=[1, -1])
    table = tables.tests_table(tests, "se", 0.05)
    assert tables.tests_table(tests, "cbam", 0.05).empty  # each model's own rows
    against = ["⟨faithfulness.method_random⟩", "⟨faithfulness.against_inverted⟩"]
    assert list(table["⟨faithfulness.header_against⟩"]) == against
    row = tests.iloc[0]
    assert table.iloc[0]["⟨faithfulness.header_difference confidence=95⟩"] == (
        f"⟨faithfulness.difference mean={tables.signed(row['mean'])} low={tables.signed(row['low'])} "
        f"high={tables.signed(row['high'])}⟩"
    )
    outcomes = ["⟨faithfulness.outcome_higher⟩", "⟨faithfulness.outcome_lower⟩"]
    assert list(table["⟨faithfulness.header_outcome⟩"]) == outcomes
    undecided = tables.tests_table(
        tests.assign(p_holm=[0.05, 0.001], direction=[1, 0]), "se", 0.05
    )  # at alpha; sides differ
    assert set(undecided["⟨faithfulness.header_outcome⟩"]) == {"⟨faithfulness.outcome_not_significant⟩"}


def test_the_knob_table_has_one_column_per_setting(text_keys):
    table = tables.knob_table(heatmap_verdict.knob_scores(heatmap_verdict.model_scores(faithfulness_runs()[:1])))
    assert list(table.columns[2:]) == [
        "⟨faithfulness.header_given⟩",
        "⟨faithfulness.header_knob knob=⟨faithfulness.knob_fill_mean⟩⟩",
        "⟨faithfulness.header_knob knob=⟨faithfulness.knob_steps steps=4⟩⟩",
    ]
    assert list(table["⟨faithfulness.header_given⟩"]) == ["+0.400 (1)", "+0.000 (2)"]  # gradcam 0.6 - 0.2, random 0


def test_the_removal_table_puts_the_models_side_by_side_per_block_and_share(text_keys):
    plain, se = faithfulness_artifact("plain", 0), faithfulness_artifact("se", 0)
    se.removal["site"] = ["ca1"] * 4
    tests = removal_verdict.removal_tests([se, plain], 0.05)
    table = tables.removal_table(tests, 0.05)
    assert list(table["⟨faithfulness.header_site⟩"]) == ["ca1", "relu1"]  # block 1 of both models, se first
    assert list(table["⟨faithfulness.header_model⟩"]) == ["se", "plain"]
    assert table.iloc[0]["⟨faithfulness.header_removed⟩"] == "⟨faithfulness.removed_count removed=2 share=50.0⟩"
    assert table.iloc[0]["⟨faithfulness.header_outcome⟩"] == f"⟨faithfulness.removal_{tests.iloc[0]['outcome']}⟩"


def test_the_sanity_table_brackets_the_steps_before_a_method_reads_anything_and_adds_the_reference(text_keys):
    run = faithfulness_artifact("se", 0, {"gradcam": [0.1, 0.2], "random": [0.5, 0.5]})
    run.sanity["spearman"][2] = -0.001  # gradcam after step 2 rounds to 0.00, not -0.00
    other = faithfulness_artifact("cbam", 0, {"deconvnet": [0.1, 0.2]})
    steps, reference = sanity_over_seeds([run, other])
    verdicts = sanity_verdict.sanity_verdicts(steps, reference, 0.5)
    table = tables.sanity_table(steps, verdicts, "se")
    assert list(table.columns[1:3]) == ["⟨faithfulness.step_header layer=fc2⟩", "⟨faithfulness.step_header layer=fc1⟩"]
    assert list(table["⟨faithfulness.header_method⟩"]) == [
        "⟨faithfulness.method_gradcam⟩",
        "⟨faithfulness.method_random⟩",
    ]
    assert list(table["⟨faithfulness.step_header layer=fc2⟩"]) == ["0.60 / 0.90", "(1.00 / 0.90)"]
    assert table.iloc[0]["⟨faithfulness.step_header layer=fc1⟩"] == "0.00 / 0.90"
    assert list(table["⟨faithfulness.header_reference⟩"]) == ["0.10", "0.10"]
    assert list(table["⟨faithfulness.header_flat⟩"]) == ["0 / 2", "0 / 2"]
    assert list(table["⟨faithfulness.header_sanity_outcome⟩"]) == [
        "⟨faithfulness.outcome_passes⟩",
        "⟨faithfulness.outcome_ignores_model⟩",
    ]
    assert list(tables.sanity_table(steps, verdicts, "cbam")["⟨faithfulness.header_method⟩"]) == [
        "⟨faithfulness.method_deconvnet⟩"
    ]


def test_a_repredicted_row_follows_its_methods_row(text_keys):
    run = faithfulness_artifact("se", 0, {"gradcam": [0.1, 0.2], "random": [0.5, 0.5]})
    rows = pd.DataFrame(run.sanity)
    repredicted = rows[rows["method"] == "gradcam"].assign(target="repredicted", spearman=0.3)
    run.sanity = pd.concat([rows, repredicted], ignore_index=True).to_dict(orient="list")
    steps, reference = sanity_over_seeds([run])
    table = tables.sanity_table(steps, sanity_verdict.sanity_verdicts(steps, reference, 0.5), "se")
    assert list(table["⟨faithfulness.header_method⟩"]) == [
        "⟨faithfulness.method_gradcam⟩",
        "⟨faithfulness.repredicted method=⟨faithfulness.method_gradcam⟩⟩",
        "⟨faithfulness.method_random⟩",
    ]
    assert list(table["⟨faithfulness.header_sanity_outcome⟩"])[1] == ""  # the verdict reads the fixed target


def test_paragraphs_carry_the_runs_numbers(text_keys):
    setup = faithfulness_setup(faithfulness_runs())
    tests = pd.DataFrame({"p_value": [0.1] * 7})
    paragraph = tables.tests_paragraph(setup, tests, 0.01)
    assert "images=2" in paragraph and "tests=7" in paragraph and "alpha=0.01 confidence=99" in paragraph
    assert "over=⟨faithfulness.over_seeds seeds=0⟨style.list_separator⟩1⟩" in paragraph
    assert "spread=⟨faithfulness.spread_seeds" in tables.score_paragraph(setup)
    assert "spread=⟨faithfulness.spread_one_seed seed=0⟩" in tables.score_paragraph(
        faithfulness_setup(faithfulness_runs()[:1])
    )
    knobs = tables.knob_paragraph(setup, faithfulness_runs()[0].knobs)
    assert "steps=2 knobs=⟨faithfulness.knob_fill_mean⟩⟨style.and⟩⟨faithfulness.knob_steps steps=4⟩" in knobs
    steps, _ = sanity_over_seeds(faithfulness_runs())
    sanity = tables.sanity_paragraph(setup, steps, 0.4)
    assert "steps=fc2⟨style.list_separator⟩fc1 images=2 window=7 threshold=0.4" in sanity


def test_numbers_print_as_the_tables_show_them():
    assert tables.two_decimals(-0.004) == "0.00" and tables.two_decimals(-0.006) == "-0.01"
    assert tables.signed(0.0521) == "+0.052" and tables.signed(-0.004) == "-0.004"
    assert tables.signed(-0.0004) == "+0.000" and tables.signed(-0.0) == "+0.000"  # no "-0.000"
    assert tables.mean_std(0.12345, np.nan, 1) == "0.1235"
    assert tables.percent(0.254) == "25 %"
