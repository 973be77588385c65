"""The whole Snakemake DAG on a tiny generated ImageFolder set (1 epoch): the real rules, end to end."""

import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from html import escape as html_escape
from html import unescape as html_unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from snakemake.utils import update_config

from cnnlens.artifacts import (
    PREDICTIONS,
    Activations,
    AttentionWeights,
    DepthStatistics,
    Faithfulness,
    Similarity,
    VggDepth,
)
from cnnlens.layout import run_device
from cnnlens.plots.faithfulness import method_name
from cnnlens.registry import EDITION_FILES, executed_title, report_sections
from cnnlens.reporting.comparison import Comparison
from cnnlens.reporting.faithfulness_tables import score_table, signed
from cnnlens.reporting.header import REFERENCE_EPOCHS
from cnnlens.reporting.heatmap_verdict import faithfulness_verdicts, model_scores
from cnnlens.reporting.legibility import LEAST_FILL, LEGIBLE_POINTS, page_fills, printed_figures
from cnnlens.reporting.similarity_verdict import (
    identification_sentence,
    layer_table,
    layer_verdicts,
    unreadable_models,
)
from cnnlens.texts import table, text
from cnnlens.views.faithfulness import over_seeds, run_scores
from cnnlens.views.similarity import layer_identification, same_layer_cka

from helpers import (
    PIPELINE_CLASSES,
    REPO,
    assert_every_table_follows_the_classes,
    keyed_places,
    layout_of,
    make_image_folder,
    needs_pdfs,
    reference_hsic,
    snakemake,
)

pytestmark = pytest.mark.e2e


def test_report_has_every_section_with_measured_accuracies(pipeline):
    html = (pipeline / "results" / "report" / "report.html").read_text()
    positions = [html.index(heading) for heading in headings()]
    assert positions == sorted(positions)  # every section of 3 models, 2 of them with attention, in order
    for model in ("plain", "attention", "cbam"):
        layout = layout_of(pipeline)
        accuracies = [
            json.loads((pipeline / layout.run_dir(model, seed) / "metrics.json").read_text())["final_test_accuracy"]
            for seed in (0, 1)
        ]
        # the verdict table's row of this model: name, seeds, mean ± std of the final accuracy
        spread = f"{100 * statistics.mean(accuracies):.2f} ± {100 * statistics.stdev(accuracies):.2f}"
        assert re.search(rf"<td[^>]*>{model}</td>\s*<td[^>]*>2</td>\s*<td[^>]*>{re.escape(spread)}</td>", html), model
    tests = pd.read_csv(pipeline / layout_of(pipeline).comparison_dir / "tests.csv")
    assert list(tests["variant"]) == ["attention", "cbam"] and (tests["seeds"] == 2).all()
    assert html.index(html_escape(tests["verdict"].iloc[0], quote=False)) < html.index(headings()[1])  # it leads
    # every figure is embedded and has a caption, numbered 1, 2, ... in reading order
    figures = html.count('src="data:image/png;base64,')
    assert figures > 20
    assert [int(n) for n in re.findall(r"<b>Figure (\d+)</b>", html)] == list(range(1, figures + 1))
    banners = [text("banner.quick_run", epochs=1, reference=REFERENCE_EPOCHS), text("banner.vgg_random")]
    assert all(html_escape(banner, quote=False) in html for banner in banners)
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", html)


def headings() -> list[str]:
    """The shared run's numbered headings in reading order: the verdict, every section of its models, reproduce."""
    sections = [
        executed_title(name, 0) for name in report_sections(["plain", "attention", "cbam"], ["attention", "cbam"])
    ]
    titles = [text("header.verdict_title"), *sections, text("header.reproduce_title")]
    return [f"{number}. {title}" for number, title in enumerate(titles, start=1)]


def test_the_verdict_states_the_numbers_of_the_compare_rules_files(pipeline):
    layout = layout_of(pipeline)
    comparison = Comparison.read(pipeline / layout.comparison_dir)
    runs = comparison.runs.set_index(["variant", "seed"])["final_test_accuracy"]
    for (variant, seed), accuracy in runs.items():  # the predictions are those of the final model
        predictions = PREDICTIONS.load(pipeline / layout.run_dir(variant, seed) / "predictions.csv")
        assert (predictions["label"] == predictions["predicted"]).mean() == pytest.approx(accuracy)
    html = (pipeline / "results" / "report" / "report.html").read_text()
    verdict = html_unescape(html[: html.index(headings()[1])])
    noise = comparison.noise_floor
    assert list(zip(noise["seed"], noise["other_seed"], strict=True)) == [(0, 1)]  # the baseline's two seeds
    apart = noise["difference"].abs()
    floor = f"differ by {apart.mean():.2f} points on average, at most {apart.max():.2f}"
    for test in comparison.tests.itertuples():
        bullet = re.search(rf"<li>{test.variant} (vs|is better than|is worse than) plain:.*?</li>", verdict, re.S)[0]
        assert f"{test.difference_mean:+.2f} points" in bullet and floor in bullet
        if np.isfinite(test.p_value):
            assert f"interval {test.interval_low:+.2f} to {test.interval_high:+.2f}" in bullet
            assert f"t-test p = {test.p_value:.3g}, Holm p = {test.p_holm:.3g}" in bullet
        images = comparison.image_tests[comparison.image_tests["variant"] == test.variant]
        assert images["seed"].tolist() == [0, 1]
        for row in images.itertuples():
            # McNemar's difference is the runs' difference in accuracy, on the same images
            assert row.difference == pytest.approx(100 * (runs[(test.variant, row.seed)] - runs[("plain", row.seed)]))
            interval = f"(95 % interval {row.interval_low:+.2f} to {row.interval_high:+.2f})"
            assert (
                f"seed {row.seed} {row.difference:+.2f} points {interval}, McNemar Holm p = {row.p_holm:.3g}" in bullet
            )


def test_report_shows_the_faithfulness_measured_in_the_runs_files(pipeline):
    html = (pipeline / "results" / "report" / "report.html").read_text()
    runs = [
        Faithfulness.load(pipeline / layout_of(pipeline).analysis_file("faithfulness", model, seed))
        for model in ("plain", "attention", "cbam")
        for seed in (0, 1)
    ]
    assert [len(run.image_indices) for run in runs] == [2 * len(PIPELINE_CLASSES)] * 6  # images: 1000 takes them all
    assert "spatial_attention" in runs[4].curves and "spatial_attention" not in runs[2].curves
    scores = score_table(over_seeds(run_scores(runs)))
    cbam_gradcam = scores[(scores["model"] == "cbam") & (scores["method"] == "Grad-CAM")].iloc[0]
    deletion = cbam_gradcam["deletion AUC ↓"]
    assert " ± " in deletion and f"<td>{deletion}</td>" in html
    section = html.index(headings()[-2])
    assert section < html.index(f"<td>{deletion}</td>") < html.index(headings()[-1])
    sentences = faithfulness_verdicts(runs, 0.05)
    assert [sentence.split(" CNN:")[0] for sentence in sentences] == ["plain", "attention", "cbam"]
    for sentence in sentences:  # the verdict leads, under the accuracy verdicts
        assert html.index(html_escape(sentence, quote=False)) < html.index(headings()[1])
    for model, sentence in zip(("plain", "attention", "cbam"), sentences, strict=True):
        # the first method the sentence names, against the random map: the files' per-image scores over both seeds
        own = [run for run in runs if run.model == model]
        named = min(
            (method for method in model_scores(own)[0].methods if method_name(method) in sentence),
            key=lambda method, sentence=sentence: sentence.index(method_name(method)),
        )
        per_image = [run.aucs[named]["insertion"] - run.aucs[named]["deletion"] for run in own]
        random = [run.aucs["random"]["insertion"] - run.aucs["random"]["deletion"] for run in own]
        difference = (sum(per_image) / 2 - sum(random) / 2).double().mean().item()
        assert signed(difference) in sentence, (model, named, sentence)


def test_the_similarity_section_states_the_numbers_of_the_runs_files(pipeline):
    html = (pipeline / "results" / "report" / "report.html").read_text()
    layout = layout_of(pipeline)
    runs = [
        Similarity.load(pipeline / layout.analysis_file("similarity", model, seed))
        for model in ("plain", "attention", "cbam")
        for seed in (0, 1)
    ]
    assert runs[2].layers == ["conv1", "ca1", "pool1", "conv2", "ca2", "pool2", "conv3", "ca3", "pool3", "fc1"]
    assert set(runs[4].heatmaps) == {"channels", "gradcam", "deconvnet", "spatial_attention"}
    section = html[html.index(headings()[-3]) : html.index(headings()[-2])]
    # the same layer of plain's two seeds, from the files' Gram matrices by the published formula
    first, second = runs[0], runs[1]
    hsic = [
        [reference_hsic(a.numpy(), b.numpy()) for a, b in zip(x, y, strict=True)]
        for x, y in [(first.grams["fc1"], second.grams["fc1"]), (first.grams["fc1"],) * 2, (second.grams["fc1"],) * 2]
    ]
    expected = sum(hsic[0]) / (sum(hsic[1]) * sum(hsic[2])) ** 0.5
    cka = same_layer_cka(runs)
    measured = cka[(cka["model"] == "plain") & (cka["other_model"] == "plain") & (cka["layer"] == "fc1")]
    assert measured["cka"].item() == pytest.approx(expected, abs=1e-9)
    verdicts = layer_verdicts(cka, "plain", unreadable_models(layer_identification(runs)))
    assert verdicts["variant"].unique().tolist() == ["attention", "cbam"]
    assert (verdicts["seed_pairs"] > 0).all()  # two seeds: every verdict has its floor
    shown = layer_table(verdicts)
    for row in shown.itertuples(index=False):
        assert re.search("".join(rf"<td[^>]*>{re.escape(html_escape(str(cell)))}</td>\s*" for cell in row), section)
    identification = layer_identification(runs)
    assert identification["model"].tolist() == ["plain", "attention", "cbam"]
    layers = [len(runs[0].layers), len(runs[2].layers), len(runs[4].layers)]  # 7, 10 and 8 (CBAM in block 3)
    assert (identification["comparisons"] <= [2 * count for count in layers]).all()
    assert (identification["comparisons"] > 0).all()
    assert html_escape(identification_sentence(identification), quote=False) in section
    assert "seeds: [0, 1]" not in section  # the one-seed note is for runs of one seed


def test_activation_file_holds_the_configured_layers(pipeline):
    stored = Activations.load(pipeline / layout_of(pipeline).analysis_file("activations", "attention", 0))
    assert list(stored.layers) == ["conv1", "conv2", "conv3", "ca1", "ca2", "ca3"]
    assert stored.labels.tolist() == list(range(len(PIPELINE_CLASSES)))
    assert stored.classes == list(PIPELINE_CLASSES)


def test_analyses_measure_the_configured_layers_over_the_test_set(pipeline):
    layout = layout_of(pipeline)

    def analysis(name: str, model: str) -> Path:
        return pipeline / layout.analysis_file(name, model, 0)

    depth = DepthStatistics.load(analysis("depth", "plain")).frame()
    assert (
        depth["layer"].tolist() == ["relu1", "relu2", "relu3"] and (depth["images"] == 2 * len(PIPELINE_CLASSES)).all()
    )
    assert depth["sparsity_mean"].between(0, 1).all()
    assert analysis("attention", "attention").exists()
    cbam = AttentionWeights.load(analysis("attention", "cbam"))
    assert list(cbam.weights) == ["ca3"] and cbam.weights["ca3"].shape == (2 * len(PIPELINE_CLASSES), 128)
    assert cbam.spatial["ca3"].shape == (len(PIPELINE_CLASSES), 8, 8)
    assert Activations.load(analysis("activations", "cbam")).layers["ca3.spatial"].shape == (
        len(PIPELINE_CLASSES),
        8,
        8,
    )
    assert not list((pipeline / "results" / "analysis").glob("plain-seed0/*/attention.pt"))  # no attention: no job
    vgg = VggDepth.load(pipeline / layout_of(pipeline).vgg_file)
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


# A change of each kind, on the shared run: its jobs must be those whose folders' keys it moves. Which keys each
# setting moves is checked in-process for every setting (test_layout.py); this checks that Snakemake plans by them.
CHANGES = [
    {"visualise": {"seed": 1}},  # every per-model analysis and section
    {"visualise": {"max_images": 2}},  # an analysis setting of two analyses
    {"visualise": {"channels": 4}},  # a section's setting only
    {"compare": {"alpha": 0.1}},  # the comparison's and a section's
    {"compare": {"baseline": "attention"}},
    {"train": {"epochs": 2}},  # every train key moves the runs (test_layout.py)
    {"train": {"device": "cpu"}},  # auto finds no GPU here: the same training runs (a new one where auto finds a GPU)
    {"faithfulness": {"images": 4}},  # an analysis of every seed
    {"vgg": {"layers": [0, 5]}},
    {"seeds": [0, 1, 2]},
    {"variants": {"cbam": {"reduction": 8}}},
    {"variants": {"unused": {"attention": "se"}}},
    {"report": {"language": "zh"}},
    {"report": {"editions": ["short"]}},
    {"report": {"pdf": False}},
]
REPORT_JOBS = {"report", "pdf", "publish"}
RULE_OF_PLACE = {"data": "prepare_data", "vgg": "vgg", "comparison": "compare", "run": "train", "notebook": "notebook"}


def jobs_of_moved_keys(pipeline: Path, configfiles: tuple[str, ...]) -> dict[str, int]:
    """The jobs a config must run on the finished shared run: one per place whose key it moves, by rule (an analysis
    file is the analysis rule's), and the report's, printed and published, since the report shows the config."""
    changed = layout_of(pipeline, configfiles)
    before, after = keyed_places(layout_of(pipeline)), keyed_places(changed)
    moved = [name.split()[0] for name, path in after.items() if before.get(name) != path]
    jobs = Counter(RULE_OF_PLACE.get(kind, "analysis") for kind in moved if kind != "report")
    config = changed.config
    return {**jobs, "report": 1, "pdf": len(config["report"]["editions"]) * config["report"]["pdf"], "publish": 1}


def test_changing_one_key_reruns_exactly_the_jobs_that_use_it(pipeline):
    """Each change of CHANGES in its own dry run, as many at once as there are cores (a dry run reads the whole
    DAG and nothing else)."""

    def planned(numbered: tuple[int, dict]) -> dict[str, int]:
        number, change = numbered
        (pipeline / f"change{number}.yaml").write_text(yaml.safe_dump(change))
        return planned_jobs(snakemake(pipeline, "--dry-run", configfiles=("tiny.yaml", f"change{number}.yaml")))

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        plans = list(pool.map(planned, enumerate(CHANGES)))
    expected = [jobs_of_moved_keys(pipeline, ("tiny.yaml", f"change{number}.yaml")) for number in range(len(CHANGES))]
    wrong = {
        json.dumps(change): {"planned": plan, "expected": jobs}
        for change, plan, jobs in zip(CHANGES, plans, expected, strict=True)
        if plan != {rule: count for rule, count in jobs.items() if count}
    }
    assert wrong == {}
    report_only = [change for change, jobs in zip(CHANGES, expected, strict=True) if jobs.keys() <= REPORT_JOBS]
    unused = {"variants": {"unused": {"attention": "se"}}}
    same_hardware = [{"train": {"device": "cpu"}}] if run_device("auto") == "cpu" else []
    assert report_only == [*same_hardware, unused, {"report": {"editions": ["short"]}}, {"report": {"pdf": False}}]


def test_a_photo_for_vgg16_reruns_only_vgg16(pipeline):
    Image.new("RGB", (40, 30), "red").save(pipeline / "photo.png")
    (pipeline / "change.yaml").write_text(yaml.safe_dump({"vgg": {"photos": ["photo.png"]}}))
    planned = planned_jobs(snakemake(pipeline, "--dry-run", configfiles=("tiny.yaml", "change.yaml")))
    assert planned == jobs_of_moved_keys(pipeline, ("tiny.yaml", "change.yaml"))
    assert planned.keys() - {"report", "pdf", "publish"} == {"vgg", "notebook"}  # VGG16 and its section


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


def test_the_models_and_every_table_follow_two_classes(pipeline):
    """The shared run has two classes, the fewest a classifier has (top-k lists and colour maps must cope)."""
    notebooks = [layout_of(pipeline).notebook_file(name) for name in ("training", "feature_maps-plain")]
    assert_every_table_follows_the_classes(pipeline, ["plain", "attention", "cbam"], PIPELINE_CLASSES, notebooks)


def test_snakemakes_provenance_report_holds_every_flagged_output(pipeline):
    made = snakemake(pipeline, "--report", "results/provenance.zip")
    assert made.returncode == 0, made.stderr[-3000:]
    with zipfile.ZipFile(pipeline / "results" / "provenance.zip") as archive:
        names = archive.namelist()
        pages = "".join(archive.read(name).decode(errors="replace") for name in names if name.endswith(".html"))
    flagged = {"report.html": 1, "report-short.html": 1, "report.pdf": 1, "report-short.pdf": 1, "config.yaml": 1}
    flagged |= {"metrics.json": 6, "history.csv": 6}
    flagged |= {"runs.csv": 1, "summary.csv": 1, "tests.csv": 1, "image_tests.csv": 1, "noise_floor.csv": 1}
    included = [name.rpartition("/")[2] for name in names if "/data/raw/" in name]  # the flagged files themselves
    assert {file: included.count(file) for file in set(included)} == flagged
    # the captions of workflow/report/, rendered with each file's wildcards
    assert "cnnlens&#39;s own report" in pages or "cnnlens's own report" in pages
    assert "variant **cbam**" not in pages and "variant <strong>cbam</strong>" in pages


@pytest.fixture(scope="module")
def chinese(pipeline, tmp_path_factory):
    """A copy of the end-to-end run with `report.language: zh`, of one of its models (fewer notebooks to rerun):
    the comparison, the notebooks, the reports and the PDFs rerun."""
    workdir = tmp_path_factory.mktemp("chinese") / "run"
    shutil.copytree(pipeline, workdir, symlinks=True)
    (workdir / "zh.yaml").write_text(yaml.safe_dump({"report": {"language": "zh"}, "models": ["plain"]}))
    result = snakemake(workdir, configfiles=("tiny.yaml", "zh.yaml"))
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir / "results" / "report"


def visible_text(page: str) -> str:
    """What a reader reads of a report page: no styles, no scripts, no tags, no code blocks (config, commands)."""
    page = re.sub(r"<(style|script|pre)\b.*?</\1>", " ", page, flags=re.S)
    return html_unescape(re.sub(r"<[^>]+>", " ", page))


def english_phrases() -> set[str]:
    """The parts of every English text between its fields that hold three words or more."""
    parts = (part.strip() for template in table("en").values() for part in re.split(r"\{[^}]*\}", template))
    return {part for part in parts if len(re.findall(r"[A-Za-z]{2,}", part)) >= 3}


@needs_pdfs
def test_the_chinese_report_shows_no_english_text_and_prints_its_font(chinese):
    page = visible_text((chinese / "report.html").read_text())
    assert [phrase for phrase in english_phrases() if phrase in page] == []
    zh = table("zh")
    for key in ("section.comparison", "section.faithfulness", "header.verdict_title", "header.reproduce_title"):
        assert zh[key] in page
    assert all(name in page for name in PIPELINE_CLASSES)  # an ImageFolder set keeps its folder names
    printed = subprocess.run(["pdftotext", chinese / "report.pdf", "-"], capture_output=True, text=True, check=True)
    assert zh["section.faithfulness"] in printed.stdout and zh["header.verdict_title"] in printed.stdout
    fonts = subprocess.run(["pdffonts", chinese / "report-short.pdf"], capture_output=True, text=True, check=True)
    assert re.search(r"cnnlens-CJK.*\byes\b", fonts.stdout)  # embedded
    assert_every_figure_prints_legibly_and_the_short_edition_fills_its_pages(chinese)


def assert_every_figure_prints_legibly_and_the_short_edition_fills_its_pages(folder: Path) -> None:
    """Both editions in ``folder``: no figure's text prints below 6 pt, and no page of the short edition but its last
    is less than a third full."""
    for edition in EDITION_FILES.values():
        figures = printed_figures((folder / f"{edition}.html").read_text(), folder / f"{edition}.pdf")
        small = [figure for figure in figures if figure.smallest_text < LEGIBLE_POINTS]
        assert figures and small == [], f"{edition}: {small}"
    fills = page_fills(folder / "report-short.pdf")
    assert [page for page, fill in enumerate(fills[:-1], 1) if fill < LEAST_FILL] == [], fills


@needs_pdfs
def test_every_figure_prints_legibly_and_the_short_edition_fills_its_pages(pipeline):
    assert_every_figure_prints_legibly_and_the_short_edition_fills_its_pages(pipeline / "results" / "report")


@needs_pdfs
def test_the_short_edition_fits_nine_pages_and_holds_a_figure_of_each_analysis(pipeline):
    folder = pipeline / "results" / "report"
    short, full = (folder / "report-short.html").read_text(), (folder / "report.html").read_text()
    pages = subprocess.run(["pdfinfo", folder / "report-short.pdf"], capture_output=True, text=True, check=True)
    # three variants and two seeds make a longer verdict and taller deletion curves than the defaults, whose
    # short edition the report benchmark measures
    assert int(re.search(r"Pages:\s+(\d+)", pages.stdout)[1]) <= 9
    figures = re.findall(r"<b>Figure \d+</b>", short)
    # of the first model: feature maps and the activation heatmap, Grad-CAM and deconvnet; SE weights of the first
    # attention model; VGG16, the learning curves, same-layer CKA against two seeds, deletion and insertion
    assert len(figures) == 2 + 2 + 1 + 3 + 1
    assert len(re.findall(r"<b>Figure \d+</b>", full)) > 2 * len(figures)
    assert "report.html" in visible_text(short)


@needs_pdfs
@pytest.mark.parametrize("edition", ["report", "report-short"])
def test_each_pdf_holds_the_headings_and_figure_labels_of_its_html_in_order(pipeline, edition):
    folder = pipeline / "results" / "report"
    page = (folder / f"{edition}.html").read_text()
    # headings and "Figure N." labels in reading order
    found = re.findall(r"<h2[^>]*>(.*?)</h2>|<b>(Figure \d+)</b>\.", page, re.S)
    expected = [re.sub(r"<[^>]+>|¶", "", heading) if heading else f"{label}." for heading, label in found]
    expected = [" ".join(html_unescape(label).split()) for label in expected]
    printed = subprocess.run(["pdftotext", folder / f"{edition}.pdf", "-"], capture_output=True, text=True, check=True)
    words = " ".join(printed.stdout.split())
    contents = words.index(text("header.contents"))
    # the verdict before the contents, every later heading and label after the contents' last entry, in order
    assert expected[0] == headings()[0] and expected[0] in words[:contents]
    body = words[words.index(text("header.reproduce_title"), contents) :]
    position, missing = len(text("header.reproduce_title")), []
    for label in expected[1:]:
        at = body.find(label, position)
        missing += [label] if at < 0 else []
        position = max(position, at + 1)
    assert missing == [] and len(expected) > 5


def checksums(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by its path relative to it, with the SHA-256 of its content."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_the_published_report_is_the_finished_one_beside_the_config_that_made_it(pipeline):
    layout = layout_of(pipeline)
    for name in ("report.html", "report-short.html"):
        published, made = pipeline / layout.published_dir / name, pipeline / layout.report_dir / name
        assert published.read_bytes() == made.read_bytes()
    config = yaml.safe_load((pipeline / layout.published_config).read_text())
    assert config == yaml.safe_load((pipeline / layout.report_dir / "config.yaml").read_text()) == layout.config


def test_a_moved_project_has_nothing_to_do_and_a_failed_job_keeps_every_earlier_file(pipeline, tmp_path_factory):
    """A finished project copied elsewhere plans nothing; a config whose job fails (a corrupt image in a new data
    set) exits with one line and changes no file the good run made; the good config then has nothing to do."""
    workdir = tmp_path_factory.mktemp("moved")  # beside the original: the checkout lies as far from both
    shutil.copytree(pipeline, workdir, symlinks=True, dirs_exist_ok=True)
    assert planned_jobs(snakemake(workdir, "--dry-run")) == {}
    before = checksums(workdir / "results")
    broken = make_image_folder(workdir / "broken", {"train": 2, "test": 1})
    corrupt = next(broken.rglob("*.png"))
    corrupt.write_bytes(b"not a png")
    (workdir / "broken.yaml").write_text(yaml.safe_dump({"data": {"path": "broken"}}))
    failed = snakemake(workdir, configfiles=("tiny.yaml", "broken.yaml"))
    assert failed.returncode != 0
    [error] = [line for line in failed.stderr.splitlines() if line.startswith("cnnlens prepare-data: error: ")]
    assert str(corrupt.relative_to(broken)) in error  # the one line names the image that does not decode
    after = checksums(workdir / "results")
    assert {path: digest for path, digest in after.items() if path in before} == before
    assert planned_jobs(snakemake(workdir, "--dry-run")) == {}
