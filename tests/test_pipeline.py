"""The whole Snakemake DAG on a tiny generated ImageFolder set (1 epoch): the real rules, end to end."""

import json
import re
import statistics
from html import escape as html_escape

import pandas as pd
import pytest
import torch

from conftest import CLASSES, snakemake, tiny_workdir

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    workdir = tiny_workdir(tmp_path_factory.mktemp("pipeline"), seeds=[0, 1], models=["plain", "attention", "cbam"],
                           variants={"cbam": {"attention": "cbam", "blocks": [3]}})
    first = snakemake(workdir)
    assert first.returncode == 0, first.stderr[-3000:]
    return workdir


def test_report_has_every_section_with_measured_accuracies(pipeline):
    html = (pipeline / "results" / "report" / "report.html").read_text()
    headings = ["1. Verdict", "2. Comparison", "3. Training", "4. Feature maps: plain CNN (seed 0)",
                "5. Feature maps: attention CNN (seed 0)", "6. Feature maps: cbam CNN (seed 0)",
                "7. Channel attention: attention CNN (seed 0)", "8. Channel attention: cbam CNN (seed 0)",
                "9. Grad-CAM and deconvnet: plain CNN (seed 0)", "10. Grad-CAM and deconvnet: attention CNN (seed 0)",
                "11. Grad-CAM and deconvnet: cbam CNN (seed 0)", "12. VGG16 and the trained CNNs by depth",
                "13. Reproduce"]
    positions = [html.index(heading) for heading in headings]
    assert positions == sorted(positions)
    for model in ("plain", "attention", "cbam"):
        accuracies = [
            json.loads((pipeline / "results" / "models" / model / f"seed{seed}" / "metrics.json").read_text())[
                "final_test_accuracy"] for seed in (0, 1)
        ]
        # the verdict table's row of this model: name, seeds, mean ± std of the final accuracy
        spread = f"{100 * statistics.mean(accuracies):.2f} ± {100 * statistics.stdev(accuracies):.2f}"
        assert re.search(rf"<td[^>]*>{model}</td>\s*<td[^>]*>2</td>\s*<td[^>]*>{re.escape(spread)}</td>", html), model
    tests = pd.read_csv(pipeline / "results" / "comparison" / "tests.csv")
    assert list(tests["variant"]) == ["attention", "cbam"] and (tests["seeds"] == 2).all()
    assert html.index(html_escape(tests["verdict"].iloc[0])) < html.index("2. Comparison")  # the verdict leads
    # every figure is embedded and has a caption, numbered 1, 2, ... in reading order
    figures = html.count('src="data:image/png;base64,')
    assert figures > 20
    assert [int(n) for n in re.findall(r"<b>Figure (\d+)</b>", html)] == list(range(1, figures + 1))
    assert "Quick run: 1 epoch(s)" in html and "VGG16 has random weights" in html
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", html)


def test_activation_file_holds_the_configured_layers(pipeline):
    stored = torch.load(pipeline / "results" / "activations" / "attention-seed0.pt", weights_only=True)
    assert list(stored["layers"]) == ["conv1", "conv2", "conv3", "ca1", "ca2", "ca3"]
    assert stored["labels"].tolist() == list(range(len(CLASSES)))
    assert stored["classes"] == list(CLASSES)


def test_second_invocation_has_nothing_to_do(pipeline):
    again = snakemake(pipeline, "--dry-run")
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


def test_bad_config_stops_before_any_job(tmp_path):
    (tmp_path / "tiny.yaml").write_text("train: {epochs: ten}\n")
    result = snakemake(tmp_path)
    assert result.returncode != 0
    assert "config key 'train.epochs' must be of type integer, got 'ten'" in result.stderr
    assert not (tmp_path / "results").exists()


def test_analyses_measure_the_configured_layers_over_the_test_set(pipeline):
    analysis = pipeline / "results" / "analysis"
    depth = pd.read_csv(analysis / "plain-seed0" / "depth.csv")
    assert depth["layer"].tolist() == ["relu1", "relu2", "relu3"] and (depth["images"] == 2 * len(CLASSES)).all()
    assert depth["sparsity_mean"].between(0, 1).all()
    assert (analysis / "attention-seed0" / "attention.pt").exists()
    cbam = torch.load(analysis / "cbam-seed0" / "attention.pt", weights_only=True)
    assert list(cbam["weights"]) == ["ca3"] and cbam["weights"]["ca3"].shape == (2 * len(CLASSES), 128)
    assert not (analysis / "plain-seed0" / "attention.pt").exists()  # no attention modules, no such job
    vgg = torch.load(pipeline / "results" / "vgg" / "vgg.pt", weights_only=True)
    assert vgg["weights"]["kind"] == "none" and vgg["indices"] == [0, 10, 20]
