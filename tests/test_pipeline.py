"""The whole Snakemake DAG on a tiny generated ImageFolder set (1 epoch): the real rules, end to end."""

import json
import re
import statistics
from html import escape as html_escape

import pandas as pd
import pytest
import torch
import yaml
from PIL import Image
from snakemake.utils import update_config

from cnnlens.artifacts import Activations, AttentionWeights, DepthStatistics, VggDepth
from cnnlens.registry import report_sections

from helpers import CLASSES, REPO, snakemake, tiny_workdir

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    workdir = tiny_workdir(
        tmp_path_factory.mktemp("pipeline"),
        seeds=[0, 1],
        models=["plain", "attention", "cbam"],
        variants={"cbam": {"attention": "cbam", "blocks": [3]}},
    )
    first = snakemake(workdir)
    assert first.returncode == 0, first.stderr[-3000:]
    return workdir


def test_report_has_every_section_with_measured_accuracies(pipeline):
    html = (pipeline / "results" / "report" / "report.html").read_text()
    sections = [title for title, _ in report_sections(["plain", "attention", "cbam"], ["attention", "cbam"], 0)]
    headings = [f"{number}. {title}" for number, title in enumerate(["Verdict", *sections, "Reproduce"], start=1)]
    assert headings[4] == "5. Feature maps: attention CNN (seed 0)" and len(headings) == 13
    positions = [html.index(heading) for heading in headings]
    assert positions == sorted(positions)
    for model in ("plain", "attention", "cbam"):
        accuracies = [
            json.loads((pipeline / "results" / "models" / model / f"seed{seed}" / "metrics.json").read_text())[
                "final_test_accuracy"
            ]
            for seed in (0, 1)
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
    stored = Activations.load(pipeline / "results" / "analysis" / "attention-seed0" / "activations.pt")
    assert list(stored.layers) == ["conv1", "conv2", "conv3", "ca1", "ca2", "ca3"]
    assert stored.labels.tolist() == list(range(len(CLASSES)))
    assert stored.classes == list(CLASSES)


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
    depth = DepthStatistics.load(analysis / "plain-seed0" / "depth.pt").frame()
    assert depth["layer"].tolist() == ["relu1", "relu2", "relu3"] and (depth["images"] == 2 * len(CLASSES)).all()
    assert depth["sparsity_mean"].between(0, 1).all()
    assert (analysis / "attention-seed0" / "attention.pt").exists()
    cbam = AttentionWeights.load(analysis / "cbam-seed0" / "attention.pt")
    assert list(cbam.weights) == ["ca3"] and cbam.weights["ca3"].shape == (2 * len(CLASSES), 128)
    assert not (analysis / "plain-seed0" / "attention.pt").exists()  # no attention modules, no such job
    vgg = VggDepth.load(pipeline / "results" / "vgg" / "vgg.pt")
    assert vgg.weights["kind"] == "none" and vgg.indices == [0, 10, 20]


def planned_jobs(result) -> dict[str, int]:
    """The dry run's job counts per rule (its "Job stats" table), without the `all` target."""
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("\n\n")[0]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE))
    return {rule: int(count) for rule, count in counts.items() if rule not in ("all", "total")}


ALWAYS = {"effective_config": 1, "report": 1}  # the config this run used, and the report that shows it
PER_MODEL_NOTEBOOKS = 3 + 2 + 3  # feature maps and Grad-CAM for 3 models, attention for the 2 attention models
# `analysis` jobs: activations, explain and depth of 3 models, attention of 2; `notebook`: comparison, training, depth
VISUALISED = {"analysis": 3 + 3, "notebook_per_model": PER_MODEL_NOTEBOOKS, "notebook": 1}
EXPLAINED = {"analysis": 3, "notebook_per_model": 3}
RETRAINED = {
    "train": 6,
    "compare": 1,
    "analysis": 3 + 3 + 3 + 2,
    "notebook_per_model": PER_MODEL_NOTEBOOKS,
    "notebook": 3,
}
VGG = {"vgg": 1, "notebook": 1}
COMPARED = {"compare": 1, "notebook": 1}

# Each key in turn: the jobs that use it and what depends on their outputs (pipeline fixture: plain,
# attention and cbam, seeds 0 and 1, per-model analyses of seed 0).
RERUNS = [
    ({"visualise": {"seed": 1}}, {**VISUALISED, "analysis": 3 + 3 + 3 + 2}),
    ({"visualise": {"images_per_class": 2}}, VISUALISED),
    ({"visualise": {"max_images": 2}}, VISUALISED),
    ({"visualise": {"layers": ["conv1", "conv2"]}}, VISUALISED),
    ({"visualise": {"channels": 4}}, {"notebook_per_model": 3}),
    ({"visualise": {"channel_modes": ["top"]}}, {"notebook_per_model": 3}),
    ({"visualise": {"gradcam_layer": "conv2"}}, EXPLAINED),
    ({"visualise": {"zfnet_channels": 2}}, EXPLAINED),
    ({"visualise": {"zfnet_images": 2}}, EXPLAINED),
    ({"visualise": {"depth_layers": ["relu1"]}}, {"analysis": 3, "notebook": 1}),
    ({"compare": {"alpha": 0.1}}, COMPARED),
    ({"compare": {"baseline": "attention"}}, COMPARED),
    *[
        ({"train": {key: value}}, RETRAINED)
        for key, value in [
            ("epochs", 2),
            ("batch_size", 4),
            ("lr", 0.01),
            ("lr_patience", 1),
            ("lr_factor", 0.1),
            ("augment", False),
            ("device", "cpu"),
            ("compile", False),
            ("cuda_graph", False),
            ("precision", "bf16"),
            ("threads", 1),
        ]
    ],
    ({"vgg": {"weights": "imagenet"}}, VGG),
    ({"vgg": {"layers": [0, 5]}}, VGG),
    ({"seeds": [0, 1, 2]}, {"train": 3, "compare": 1, "notebook": 2}),
    (
        {"variants": {"cbam": {"reduction": 8}}},
        {"train": 2, "compare": 1, "analysis": 4, "notebook_per_model": 3, "notebook": 3},
    ),
    ({"variants": {"unused": {"attention": "se"}}}, {}),
]


@pytest.mark.parametrize(("change", "expected"), RERUNS, ids=[json.dumps(change) for change, _ in RERUNS])
def test_changing_one_key_reruns_exactly_the_jobs_that_use_it(pipeline, change, expected):
    (pipeline / "change.yaml").write_text(yaml.safe_dump(change))
    planned = planned_jobs(snakemake(pipeline, "--dry-run", configfiles=("tiny.yaml", "change.yaml")))
    assert planned == {**ALWAYS, **expected}


def test_a_photo_for_vgg16_reruns_only_vgg16(pipeline):
    Image.new("RGB", (40, 30), "red").save(pipeline / "photo.png")
    (pipeline / "change.yaml").write_text(yaml.safe_dump({"vgg": {"photos": ["photo.png"]}}))
    planned = planned_jobs(snakemake(pipeline, "--dry-run", configfiles=("tiny.yaml", "change.yaml")))
    assert planned == {**ALWAYS, **VGG}


def test_the_same_values_in_another_key_order_rerun_nothing(pipeline):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, yaml.safe_load((pipeline / "tiny.yaml").read_text()))
    (pipeline / "reversed.yaml").write_text(yaml.safe_dump(reversed_keys(config), sort_keys=False))
    assert planned_jobs(snakemake(pipeline, "--dry-run", configfiles=("reversed.yaml",), base_config=False)) == {}


def reversed_keys(value):
    """The same config with every mapping's keys in reverse order."""
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(list(value))}
    return value


@pytest.mark.parametrize("count", [2, 11])
def test_the_models_and_every_table_follow_the_data_sets_classes(tmp_path, count):
    classes = tuple(f"class{index:02d}" for index in range(count))
    workdir = tiny_workdir(tmp_path, classes=classes, models=["plain", "attention"])
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    results = workdir / "results"
    for model in ("plain", "attention"):
        run = results / "models" / model / "seed0"
        assert torch.load(run / "model.pt", weights_only=True)["fc2.weight"].shape == (count, 512)
        confusion = pd.read_csv(run / "confusion.csv", index_col=0)
        assert list(confusion.index) == list(confusion.columns) == list(classes)
        assert confusion.to_numpy().sum() == 2 * count  # every test image counted once
    activations = Activations.load(results / "analysis" / "attention-seed0" / "activations.pt")
    assert activations.classes == list(classes) and len(activations.logits[0]) == count
    html = (results / "report" / "report.html").read_text()
    assert "Figure" in html and html.count('src="data:image/png;base64,') > 10
