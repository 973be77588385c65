"""Gather executed notebooks into one self-contained HTML report.

nbconvert turns one notebook into one page, so the sections are merged into a single notebook first:
a header (run facts, warnings, results table, contents), one numbered section per executed notebook,
and a closing "Reproduce" section. Code is hidden; figures are embedded as base64 PNGs, and the
template loads nothing from the network.
"""

from __future__ import annotations

import html
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import nbformat
import pandas as pd
import yaml
from nbconvert import HTMLExporter

from cnnlens.artifacts import VggDepth
from cnnlens.atomic import atomic_write_text
from cnnlens.reporting.captions import FIGURE_MARKER
from cnnlens.reporting.comparison import Comparison, load_metrics

REFERENCE_EPOCHS = 50
PACKAGES = ("torch", "torchvision", "numpy", "matplotlib", "pandas", "scipy", "snakemake", "papermill", "nbconvert")
DROPPED_TAGS = {"parameters", "injected-parameters"}


@dataclass
class ExecutedSection:
    title: str
    notebook: Path


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The per-variant summary (``compare.summarize``) as readers see it: percentages, mean ± std."""

    def spread(mean: float, std: float, seeds: int) -> str:
        return f"{100 * mean:.2f} ± {100 * std:.2f}" if seeds > 1 else f"{100 * mean:.2f} (one seed)"

    return pd.DataFrame(
        {
            "variant": summary["variant"],
            "seeds": summary["seeds"],
            "final test accuracy (%)": [
                spread(*row)
                for row in zip(summary["accuracy_mean"], summary["accuracy_std"], summary["seeds"], strict=False)
            ],
            "best test accuracy (%)": (100 * summary["best_accuracy_mean"]).round(2),
            "parameters": [f"{count:,}" for count in summary["parameters"]],
            "s/epoch": summary["seconds_per_epoch"].round(2),
        }
    )


def warnings_for(metrics: Sequence[dict], config: dict, facts: RunFacts) -> list[str]:
    """Banners for anything that makes this run weaker than the reference recipe."""
    banners = [facts.vgg_weights["banner"]] if facts.vgg_weights and facts.vgg_weights["degraded"] else []
    epochs = config["train"]["epochs"]
    if epochs < REFERENCE_EPOCHS:
        banners.append(
            f"Quick run: {epochs} epoch(s) instead of the recipe's {REFERENCE_EPOCHS}. Accuracies and "
            "features are those of barely trained models."
        )
    if all(m["device"].startswith("cpu") for m in metrics):
        banners.append("CPU-only run: no GPU was used for training.")
    if config["data"]["source"] != "cifar10":
        banners.append(f"Data: ImageFolder set {config['data']['path']}, not the official CIFAR-10 download.")
    return banners


def git_commit(cwd: str | Path) -> str:
    """The checkout's commit (with ``-dirty`` when it has uncommitted changes), or ``unknown``."""
    try:
        commit = _git(["rev-parse", "--short", "HEAD"], cwd)
        return commit + ("-dirty" if _git(["status", "--porcelain", "--untracked-files=no"], cwd) else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _git(arguments: list[str], cwd: str | Path) -> str:
    return subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def package_versions() -> dict[str, str]:
    return {"python": platform.python_version()} | {name: _installed_version(name) for name in PACKAGES}


def _installed_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


@dataclass
class RunFacts:
    """What the header says about the run beyond its metrics."""

    commit: str
    compute_seconds: float  # summed over the jobs' benchmark files
    config_path: str  # the effective config file, cited in the reproduce command
    vgg_weights: dict | None = None  # what the vgg rule loaded: kind, source, degraded, banner


def assemble(
    sections: Sequence[ExecutedSection], metrics: Sequence[dict], config: dict, facts: RunFacts, comparison: Comparison
) -> nbformat.NotebookNode:
    """The whole report as one notebook: header with the verdict, numbered sections, reproduce section."""
    report = nbformat.v4.new_notebook()
    report.metadata["title"] = "cnnlens report"
    all_sections = [*(section.title for section in sections), "Reproduce"]
    report.cells.append(nbformat.v4.new_markdown_cell(_header(metrics, config, facts, comparison, all_sections)))
    for number, section in enumerate(sections, start=2):
        report.cells.append(nbformat.v4.new_markdown_cell(_heading(number, section.title)))
        report.cells.extend(_report_cells(nbformat.read(section.notebook, as_version=4)))
    report.cells.append(nbformat.v4.new_markdown_cell(_reproduce(config, facts.config_path, len(all_sections) + 1)))
    _number_figures(report)
    return report


def build_report(
    sections: Sequence[ExecutedSection],
    metrics_paths: Sequence[str | Path],
    config_path: str | Path,
    comparison_folder: str | Path,
    vgg_path: str | Path | None,
    benchmark_paths: Sequence[str | Path],
    repo: str | Path,
    out: str | Path,
) -> None:
    """The report job: the executed notebooks, the runs' metrics, the comparison and the config in one HTML file.

    The compute time in the header is the sum of every job's benchmark file (``s`` column).
    """
    config = yaml.safe_load(Path(config_path).read_text())
    compute_seconds = sum(pd.read_csv(path, sep="\t")["s"].sum() for path in benchmark_paths)
    vgg_weights = VggDepth.load(vgg_path).weights if vgg_path else None
    facts = RunFacts(git_commit(repo), compute_seconds, str(config_path), vgg_weights)
    report = assemble(sections, load_metrics(metrics_paths), config, facts, Comparison.read(comparison_folder))
    atomic_write_text(render_html(report), out)


def render_html(report: nbformat.NotebookNode) -> str:
    """HTML with code hidden and no external scripts or styles."""
    exporter = HTMLExporter(
        template_name="template",
        extra_template_basedirs=[str(Path(__file__).parent)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(report)
    return body


def _heading(number: int, title: str) -> str:
    return f'<a id="section-{number}"></a>\n\n## {number}. {title}'


def _header(
    metrics: Sequence[dict], config: dict, facts: RunFacts, comparison: Comparison, titles: Sequence[str]
) -> str:
    devices = sorted({m["device"] for m in metrics})
    lines = [
        f"**Generated** {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"**commit** `{facts.commit}`",
        f"**device** {', '.join(devices)}",
        (
            f"**compute time** {facts.compute_seconds / 60:.1f} min summed over all jobs "
            f"(training {sum(m['seconds_total'] for m in metrics) / 60:.1f} min)"
        ),
    ]
    if facts.vgg_weights:
        lines.append(f"**VGG16 weights** {facts.vgg_weights['kind']} ({facts.vgg_weights['source']})")
    banners = "\n".join(
        f'<div class="cnnlens-banner">{html.escape(b)}</div>' for b in warnings_for(metrics, config, facts)
    )
    contents = "\n".join(f"{n}. [{title}](#section-{n})" for n, title in enumerate(["Verdict", *titles], start=1))
    table = summary_table(comparison.summary).to_markdown(index=False)
    verdicts = "\n".join(f"- {sentence}" for sentence in comparison.tests["verdict"])
    return (
        "# cnnlens report: what the layers of a CNN see\n\n"
        + " · ".join(lines)
        + f"\n\n{banners}\n\n{_heading(1, 'Verdict')}\n\n"
        + f"Test accuracy after {config['train']['epochs']} epochs, mean ± standard deviation over seeds "
        + f"{config['seeds']}:\n\n{table}\n\n{verdicts}\n\n**Contents**\n\n{contents}\n"
    )


def _reproduce(config: dict, config_path: str, number: int) -> str:
    versions = "\n".join(f"| {name} | {found} |" for name, found in package_versions().items())
    return (
        f"{_heading(number, 'Reproduce')}\n\nThis report was made with the configuration below (seeds "
        f"{config['seeds']}). To regenerate it:\n\n```\nsnakemake --cores all --configfile {config_path}\n```\n\n"
        f"```yaml\n{yaml.safe_dump(config, sort_keys=False)}```\n\n| package | version |\n|---|---|\n{versions}\n"
    )


def _report_cells(notebook: nbformat.NotebookNode) -> list:
    """The notebook's cells without parameter cells and without stderr (warnings, progress bars)."""
    kept = []
    for cell in notebook.cells:
        if DROPPED_TAGS & set(cell.metadata.get("tags", [])):
            continue
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
        kept.append(cell)
    return kept


def _number_figures(report: nbformat.NotebookNode) -> None:
    number = 0
    for cell in report.cells:
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/html")
            if text and FIGURE_MARKER in text:
                number += 1
                output["data"]["text/html"] = text.replace(FIGURE_MARKER, f"<b>Figure {number}</b>", 1)
