import re

import matplotlib as mpl

mpl.use("Agg")
import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_notebook, new_output

from cnnlens.config import validate_config
from cnnlens.reporting import assemble as report
from cnnlens.reporting import comparison as compare
from cnnlens.reporting.captions import caption
from cnnlens.reporting.comparison import Comparison

from helpers import REPO, SCHEMA

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


def metrics(model, accuracy):
    return {
        "model": model,
        "seed": 0,
        "epochs": 2,
        "final_test_accuracy": accuracy,
        "best_test_accuracy": accuracy,
        "best_epoch": 2,
        "parameters": 1000,
        "seconds_per_epoch": 1.5,
        "seconds_total": 3.0,
        "device": "cpu (2 threads)",
        "final_test_loss": 1.0,
    }


def test_summary_table_shows_mean_and_std_in_percent():
    runs = compare.runs_table([metrics("plain", 0.81), {**metrics("plain", 0.83), "seed": 1}])
    row = report.summary_table(compare.summarize(runs)).iloc[0]
    assert row["final test accuracy (%)"] == "82.00 ± 1.41" and row["seeds"] == 2


@pytest.fixture
def html(tmp_path):
    config = validate_config({"train": {"epochs": 2}}, SCHEMA)
    sections = [
        report.ExecutedSection("Training", executed_notebook(tmp_path / "a.ipynb", "first")),
        report.ExecutedSection("Feature maps", executed_notebook(tmp_path / "b.ipynb", "second")),
    ]
    vgg = {"kind": "none", "source": "random initialisation", "degraded": True, "banner": "VGG16 has random weights"}
    facts = report.RunFacts(commit="abc1234", compute_seconds=90.0, config_path="c.yaml", vgg_weights=vgg)
    runs = compare.runs_table([metrics("plain", 0.4567), metrics("attention", 0.5123)])
    comparison = Comparison(runs, compare.summarize(runs), compare.paired_tests(runs, "plain"))
    notebook = report.assemble(
        sections, [metrics("plain", 0.4567), metrics("attention", 0.5123)], config, facts, comparison
    )
    return report.render_html(notebook)


def test_report_has_numbered_sections_and_a_working_table_of_contents(html):
    for number, title in enumerate(["Verdict", "Training", "Feature maps", "Reproduce"], start=1):
        assert f'<a id="section-{number}"></a>' in html
        assert f'href="#section-{number}"' in html
        assert f"{number}. {title}" in html


def test_figures_are_numbered_in_reading_order_and_embedded(html):
    assert re.search(r"<b>Figure 1</b>\. first.*<b>Figure 2</b>\. second", html, re.S)
    assert html.count(f"data:image/png;base64,{PNG}") == 2


def test_report_loads_nothing_from_the_network(html):
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", html)


def test_header_shows_results_banners_and_config(html):
    assert "45.67 (one seed)" in html and "51.23 (one seed)" in html  # accuracies in percent
    assert "attention vs plain: +5.56 points with one seed; no test is possible" in html
    assert "Quick run: 2 epoch(s)" in html and "CPU-only run" in html
    assert "snakemake --cores all --configfile c.yaml" in html
    assert "abc1234" in html and "1.5 min summed over all jobs" in html
    assert "<strong>VGG16 weights</strong> none (random initialisation)" in html
    assert 'class="cnnlens-banner">VGG16 has random weights' in html
    assert "a warning" not in html and "runs = []" not in html


def test_config_in_report_round_trips(tmp_path):
    config = validate_config({}, SCHEMA)
    text = report._reproduce(config, "c.yaml", 5)
    block = text.split("```yaml\n")[1].split("```")[0]
    assert yaml.safe_load(block) == config


def test_git_commit_names_the_checkout(tmp_path):
    assert report.git_commit(tmp_path) == "unknown"  # not a repository
    commit = report.git_commit(REPO)
    assert re.fullmatch(r"[0-9a-f]{7,}(-dirty)?", commit)
