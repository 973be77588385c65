"""The report's own parts around the notebooks: the header with the run's facts, banners and verdicts, the
contents, and the closing "Reproduce" section, as markdown in the chosen language (:mod:`cnnlens.texts`).

Texts from the table are plain; what goes into markdown is escaped here, so a path or a class name can hold
any character.
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

import pandas as pd
import yaml

from cnnlens.plots.style import confidence_level
from cnnlens.registry import EDITION_FILES
from cnnlens.reporting.comparison import Comparison, comparison_verdicts
from cnnlens.texts import listing, text

REFERENCE_EPOCHS = 50
FULL_REPORT_NAME = f"{EDITION_FILES['full']}.html"  # the full edition's file, which the short one points to
PACKAGES = ("torch", "torchvision", "numpy", "matplotlib", "pandas", "scipy", "snakemake", "papermill", "nbconvert")


@dataclass
class RunFacts:
    """What the header says about the run beyond its metrics."""

    commit: str
    compute_seconds: float  # summed over the jobs' benchmark files
    config_path: str  # the effective config file, cited in the reproduce command
    vgg_weights: dict | None = None  # what the vgg rule loaded: kind, source, degraded


@dataclass
class Verdicts:
    """What the report leads with: each run's metrics (run facts, banners), the comparison over seeds and its
    paired tests, and the heatmaps' sentences."""

    metrics: Sequence[dict]
    comparison: Comparison
    faithfulness: Sequence[str] = ()


def section_heading(number: int, title: str) -> str:
    """A numbered section heading with the anchor the contents link to."""
    return f'<a id="section-{number}"></a>\n\n## {number}. {_plain(title)}'


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The per-variant summary (``compare.summarize``) as readers see it: percentages, mean ± std."""

    def spread(mean: float, std: float, seeds: int) -> str:
        accuracy = f"{100 * mean:.2f}"
        return f"{accuracy} ± {100 * std:.2f}" if seeds > 1 else text("header.one_seed", accuracy=accuracy)

    spreads = zip(summary["accuracy_mean"], summary["accuracy_std"], summary["seeds"], strict=True)
    return pd.DataFrame(
        {
            text("table.variant"): summary["variant"],
            text("header.column_seeds"): summary["seeds"],
            text("header.column_final"): [spread(*row) for row in spreads],
            text("header.column_best"): (100 * summary["best_accuracy_mean"]).round(2),
            text("table.parameters"): [f"{count:,}" for count in summary["parameters"]],
            text("table.seconds_per_epoch"): summary["seconds_per_epoch"].round(2),
        }
    )


def warnings_for(metrics: Sequence[dict], config: dict, facts: RunFacts) -> list[str]:
    """Banners for anything that makes this run weaker than the reference recipe."""
    banners = [text("banner.vgg_random")] if facts.vgg_weights and facts.vgg_weights["degraded"] else []
    epochs = config["train"]["epochs"]
    if epochs < REFERENCE_EPOCHS:
        banners.append(text("banner.quick_run", epochs=epochs, reference=REFERENCE_EPOCHS))
    if all(m["device"].startswith("cpu") for m in metrics):
        banners.append(text("banner.cpu_only"))
    if config["data"]["source"] != "cifar10":
        banners.append(text("banner.imagefolder", path=config["data"]["path"]))
    return banners


def header(config: dict, facts: RunFacts, verdicts: Verdicts, titles: Sequence[str], *, short: bool) -> str:
    """The report's first cell: title, run facts, banners, the verdict (section 1) and the contents of ``titles``
    (the sections after the verdict); the short edition adds where the full report is."""
    banners = "\n".join(
        f'<div class="cnnlens-banner">{html.escape(banner)}</div>'
        for banner in warnings_for(verdicts.metrics, config, facts)
    )
    contents = "\n".join(
        f"{number}. [{_plain(title)}](#section-{number})"
        for number, title in enumerate([text("header.verdict_title"), *titles], start=1)
    )
    lead = text("header.accuracy_lead", epochs=config["train"]["epochs"], seeds=listing(config["seeds"]))
    table = summary_table(verdicts.comparison.summary).to_markdown(index=False)
    note = f"{_plain(text('header.short_note', full=FULL_REPORT_NAME))}\n\n" if short else ""
    return (
        f"# {_plain(text('header.title_short' if short else 'header.title'))}\n\n"
        f"{_facts(verdicts.metrics, facts)}\n\n{note}{banners}\n\n"
        f"{section_heading(1, text('header.verdict_title'))}\n\n{_plain(lead)}\n\n{table}\n\n"
        f"{_comparison_verdicts(verdicts.comparison, config)}"
        f"{_faithfulness_verdicts(verdicts.faithfulness, config)}"
        f"**{_plain(text('header.contents'))}**\n\n{contents}\n"
    )


def reproduce(config: dict, config_path: str, number: int, *, short: bool) -> str:
    """The closing section: the command that regenerates the run and, in the full report, the configuration,
    Snakemake's provenance report and the package versions."""
    command = f"snakemake --cores all --configfile {config_path}"
    intro = text("header.reproduce_intro", seeds=listing(config["seeds"]))
    opening = f"{section_heading(number, text('header.reproduce_title'))}\n\n{_plain(intro)}\n\n```\n{command}\n```\n\n"
    if short:
        return opening + _plain(text("header.short_reproduce", full=FULL_REPORT_NAME)) + "\n"
    provenance = f"snakemake --report {config['results']}/provenance.zip --configfile {config_path}"
    versions = "\n".join(f"| {name} | {found} |" for name, found in package_versions().items())
    columns = f"| {text('header.column_package')} | {text('header.column_version')} |\n|---|---|"
    return (
        f"{opening}{_plain(text('header.provenance'))}\n\n```\n{provenance}\n```\n\n"
        f"```yaml\n{yaml.safe_dump(config, sort_keys=False, allow_unicode=True)}```\n\n{columns}\n{versions}\n"
    )


def git_commit(cwd: str | Path) -> str:
    """The checkout's commit (with ``-dirty`` when it has uncommitted changes), or ``unknown``."""
    try:
        commit = _git(["rev-parse", "--short", "HEAD"], cwd)
        return commit + ("-dirty" if _git(["status", "--porcelain", "--untracked-files=no"], cwd) else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    return {"python": platform.python_version()} | {name: _installed_version(name) for name in PACKAGES}


def _facts(metrics: Sequence[dict], facts: RunFacts) -> str:
    """The line of run facts under the title: when, which commit, which device, how much compute."""
    devices = ", ".join(sorted({m["device"] for m in metrics}))
    training = sum(m["seconds_total"] for m in metrics) / 60
    compute = text("header.compute_value", minutes=f"{facts.compute_seconds / 60:.1f}", training=f"{training:.1f}")
    lines = [
        f"**{text('header.generated_label')}** {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"**{text('header.commit_label')}** `{facts.commit}`",
        f"**{text('header.device_label')}** {_plain(devices)}",
        f"**{text('header.compute_label')}** {_plain(compute)}",
    ]
    if facts.vgg_weights:
        weights = facts.vgg_weights
        described = (
            text("header.vgg_random") if weights["kind"] == "none" else f"{weights['kind']} ({weights['source']})"
        )
        lines.append(f"**{text('header.vgg_label')}** {_plain(described)}")
    return " · ".join(lines)


def _comparison_verdicts(comparison: Comparison, config: dict) -> str:
    """The variants' verdict under the accuracy table: what the tests mean, then one bullet per variant; nothing where
    the baseline is the only variant."""
    alpha = config["compare"]["alpha"]
    sentences = comparison_verdicts(comparison, alpha)
    if not sentences:
        return ""
    lead = text(
        "header.comparison_heading",
        baseline=config["compare"]["baseline"],
        alpha=f"{alpha:g}",
        level=confidence_level(alpha),
    )
    bullets = "\n".join(f"- {_plain(sentence)}" for sentence in sentences)
    return f"{_plain(lead)}\n\n{bullets}\n\n"


def _faithfulness_verdicts(sentences: Sequence[str], config: dict) -> str:
    """The heatmaps' verdict under the accuracy verdicts: what "beats" means, then one bullet per model; nothing
    without sentences."""
    if not sentences:
        return ""
    alpha = f"{config['compare']['alpha']:g}"
    lead = text(
        "verdict.faithfulness_heading",
        alpha=alpha,
        section=text("section.faithfulness"),
        confidence=confidence_level(config["compare"]["alpha"]),
    )
    bullets = "\n".join(f"- {_plain(sentence)}" for sentence in sentences)
    return f"{_plain(lead)}\n\n{bullets}\n\n"


def _plain(words: str) -> str:
    """A plain text in markdown: HTML escaped, and the characters markdown would read as emphasis escaped."""
    return html.escape(words, quote=False).replace("*", r"\*").replace("_", r"\_")


def _git(arguments: list[str], cwd: str | Path) -> str:
    return subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def _installed_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"
