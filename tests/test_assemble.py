import re

import matplotlib as mpl

mpl.use("Agg")
import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_notebook, new_output

from cnnlens.artifacts import PREDICTIONS, RUN_METRICS
from cnnlens.config import validate_config
from cnnlens.reporting import assemble as report
from cnnlens.reporting import comparison as compare
from cnnlens.reporting import header
from cnnlens.reporting.captions import caption

from helpers import REPO, SCHEMA, metrics, predictions, texts_said, verdicts

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def executed_notebook(path, text):
    params = new_code_cell("runs = []")
    params.metadata["tags"] = ["parameters"]
    figure = new_code_cell("plot()")
    figure.outputs = [
        new_output("display_data", {"image/png": PNG}),
        new_output("display_data", {"text/html": caption(text)}),
        new_output("stream", name="stderr", text="a warning\n"),
    ]
    nbformat.write(new_notebook(cells=[params, figure]), path)
    return path


def test_summary_table_shows_mean_and_std_in_percent(text_keys):
    runs = compare.runs_table([metrics("plain", 0.81), {**metrics("plain", 0.83), "seed": 1}])
    row = header.summary_table(compare.summarize(runs)).iloc[0]
    assert row["⟨header.column_final⟩"] == "82.00 ± 1.41" and row["⟨header.column_seeds⟩"] == 2


@pytest.fixture
def html(tmp_path, text_keys):
    config = validate_config({"train": {"epochs": 2}}, SCHEMA)
    sections = [
        report.ExecutedSection("Training", executed_notebook(tmp_path / "a.ipynb", "first")),
        report.ExecutedSection("Feature maps", executed_notebook(tmp_path / "b.ipynb", "second")),
    ]
    vgg = {"kind": "none", "source": "random initialisation", "degraded": True}
    facts = header.RunFacts(commit="abc1234", compute_seconds=90.0, config_path="c.yaml", vgg_weights=vgg)
    return report.render_html(report.assemble(sections, config, facts, verdicts([0.4567, 0.5123])))


def test_report_has_numbered_sections_and_a_working_table_of_contents(html):
    titles = ["⟨header.verdict_title⟩", "Training", "Feature maps", "⟨header.reproduce_title⟩"]
    for number, title in enumerate(titles, start=1):
        assert f'<a id="section-{number}"></a>' in html
        assert f'href="#section-{number}"' in html
        assert f"{number}. {title}" in html


def test_figures_are_numbered_in_reading_order_and_embedded(html):
    assert html.index("<b>⟨header.figure number=1⟩</b>. first") < html.index("<b>⟨header.figure number=2⟩</b>. second")
    assert html.count(f"data:image/png;base64,{PNG}") == 2


def test_report_loads_nothing_from_the_network(html):
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", html)


def test_header_shows_results_banners_and_config(html):
    said = texts_said(html)
    assert ("header.one_seed", {"accuracy": "45.67"}) in said  # accuracies in percent
    assert ("header.one_seed", {"accuracy": "51.23"}) in said
    one_seed = {"variant": "attention", "baseline": "plain", "seeds": "1", "difference": "+5.56"}
    assert ("comparison.verdict_one_seed", one_seed) in said
    differ = [key for key, _ in said].index("comparison.verdict_image_differ")  # McNemar: the two networks differ
    image = said[differ][1]
    assert (image["seed"], image["difference"], image["level"]) == ("0", "+5.56", "95")
    assert float(image["low"]) < 5.56 < float(image["high"]) and float(image["p_holm"]) < 0.05
    assert ("comparison.verdict_images", {"results": f"#{differ}"}) in said
    assert ("banner.quick_run", {"epochs": "2", "reference": "50"}) in said and ("banner.cpu_only", {}) in said
    assert "snakemake --cores all --configfile c.yaml" in html
    assert "abc1234" in html and ("header.compute_value", {"minutes": "1.5", "training": "0.1"}) in said
    assert "<strong>⟨header.vgg_label⟩</strong> ⟨header.vgg_random⟩" in html
    assert '<div class="cnnlens-banner">⟨banner.vgg_random⟩</div>' in html
    assert "a warning" not in html and "runs = []" not in html


def test_config_in_report_round_trips(tmp_path):
    config = validate_config({}, SCHEMA)
    text = header.reproduce(config, "c.yaml", 5, short=False)
    block = text.split("```yaml\n")[1].split("```")[0]
    assert yaml.safe_load(block) == config


def test_git_commit_names_the_checkout(tmp_path):
    assert header.git_commit(tmp_path) == "unknown"  # not a repository
    commit = header.git_commit(REPO)
    assert re.fullmatch(r"[0-9a-f]{7,}(-dirty)?", commit)


def test_header_shows_the_heatmaps_verdict_under_the_accuracy_verdicts(text_keys):
    config = validate_config({"seeds": [3, 4], "compare": {"alpha": 0.01}}, SCHEMA)
    facts = header.RunFacts(commit="abc1234", compute_seconds=1.0, config_path="c.yaml")
    sentences = ["HEATMAP-VERDICT-A <wins>", "HEATMAP-VERDICT-B"]
    html = report.render_html(report.assemble([], config, facts, verdicts([0.4, 0.5], sentences)))
    lead = html.index("⟨verdict.faithfulness_heading alpha=0.01 section=⟨section.faithfulness⟩ confidence=99⟩")
    assert html.index("⟨comparison.verdict") < lead < html.index("HEATMAP-VERDICT-A &lt;wins&gt;")
    assert html.index("HEATMAP-VERDICT-B") < html.index("⟨header.contents⟩")
    without = report.render_html(report.assemble([], config, facts, verdicts([0.4, 0.5])))
    assert "verdict.faithfulness_heading" not in without


def test_header_says_what_the_variants_tests_mean_before_their_verdicts(text_keys):
    config = validate_config({"compare": {"alpha": 0.01}}, SCHEMA)
    facts = header.RunFacts(commit="abc1234", compute_seconds=1.0, config_path="c.yaml")
    page = report.render_html(report.assemble([], config, facts, verdicts([0.4, 0.5], ["a heatmap verdict"])))
    said = texts_said(page)
    heading = said.index(("header.comparison_heading", {"baseline": "plain", "alpha": "0.01", "level": "99"}))
    verdict = said.index(
        (
            "comparison.verdict_one_seed",
            {"variant": "attention", "baseline": "plain", "difference": "+10.00", "seeds": "1"},
        )
    )
    assert heading < verdict and page.index("a heatmap verdict") > page.index("comparison.verdict_images")
    only_baseline = header.Verdicts(
        [metrics("plain", 0.4)],
        compare.compare(compare.runs_table([metrics("plain", 0.4)]), {("plain", 0): predictions(0.4)}, "plain", 0.01),
    )
    assert "header.comparison_heading" not in report.render_html(report.assemble([], config, facts, only_baseline))


def tagged_notebook(path, captions, tags=("short",)):
    """An executed notebook of one cell (tagged ``tags``) that draws a captioned figure per caption."""
    cell = new_code_cell("plot()")
    cell.metadata["tags"] = list(tags)
    cell.outputs = [
        output
        for words in captions
        for output in (
            new_output("display_data", {"image/png": PNG}),
            new_output("display_data", {"text/html": caption(words)}),
        )
    ]
    nbformat.write(new_notebook(cells=[cell]), path)
    return path


def test_the_short_edition_shows_the_first_figure_of_each_tagged_cell_and_points_to_the_full_report(
    tmp_path, text_keys
):
    config = validate_config({"train": {"epochs": 2}}, SCHEMA)
    sections = [
        report.ExecutedSection("Tagged", tagged_notebook(tmp_path / "a.ipynb", ["figure-one", "figure-two"]), "a"),
        report.ExecutedSection("Untagged", tagged_notebook(tmp_path / "b.ipynb", ["figure-three"], tags=()), "b"),
        report.ExecutedSection("Second model", tagged_notebook(tmp_path / "c.ipynb", ["figure-four"]), "a"),
    ]
    facts = header.RunFacts(commit="abc1234", compute_seconds=1.0, config_path="c.yaml")
    short = report.render_html(report.assemble(sections, config, facts, verdicts([0.4, 0.5]), "short"))
    full = report.render_html(report.assemble(sections, config, facts, verdicts([0.4, 0.5]), "full"))
    assert "<b>⟨header.figure number=1⟩</b>. figure-one" in short
    assert "figure-two" not in short and "figure-three" not in short
    assert "2. Tagged" in short and "Untagged" not in short and "3. ⟨header.reproduce_title⟩" in short
    assert "figure-four" not in short  # one figure per analysis: the first model's
    assert ("header.short_note", {"full": "report.html"}) in texts_said(short) and "```yaml" not in short
    assert "<b>⟨header.figure number=2⟩</b>. figure-two" in full
    assert "<b>⟨header.figure number=3⟩</b>. figure-three" in full
    assert "<b>⟨header.figure number=4⟩</b>. figure-four" in full and "5. ⟨header.reproduce_title⟩" in full
    assert "header.short_note" not in full


@pytest.mark.parametrize("editions", [["full"], ["short"], ["full", "short"]])
def test_the_report_job_writes_the_editions_the_config_asks_for(tmp_path, editions, text_keys):
    config = validate_config({"report": {"editions": editions}}, SCHEMA)
    runs = [metrics("plain", 0.4), metrics("attention", 0.5)]
    for run in runs:
        RUN_METRICS.save(
            run | dict.fromkeys(("recipe", "engine", "architecture", "torch")), tmp_path / f"{run['model']}.json"
        )
        PREDICTIONS.save(predictions(run["final_test_accuracy"]), tmp_path / f"{run['model']}.csv")
    compare.compare_runs(
        [tmp_path / "plain.json", tmp_path / "attention.json"],
        [tmp_path / "plain.csv", tmp_path / "attention.csv"],
        "plain",
        0.05,
        tmp_path / "cmp",
    )
    notebook = tagged_notebook(tmp_path / "feature_maps-attention.ipynb", ["first"])  # a model's notebook
    inputs = report.ReportInputs(
        [notebook], [tmp_path / "plain.json", tmp_path / "attention.json"], tmp_path / "cmp", None
    )
    written = report.build_report(inputs, config, "results/config.yaml", tmp_path, tmp_path / "out")
    expected = [tmp_path / "out" / f"{report.EDITION_FILES[edition]}.html" for edition in editions]
    expected.append(tmp_path / "out" / "config.yaml")  # last: the config of the report beside it
    assert written == expected and sorted((tmp_path / "out").iterdir()) == sorted(expected)
    assert yaml.safe_load(expected[-1].read_text()) == config
    for path, edition in zip(written[:-1], editions, strict=True):
        page = path.read_text()
        assert ("header.short_note" in page) == (edition == "short")
        title = "⟨section.per_model title=⟨section.feature_maps⟩ model=attention seed=0⟩"  # from the notebook's name
        assert f"2. {title}" in page
