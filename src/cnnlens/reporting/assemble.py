"""Gather executed notebooks into one self-contained HTML report, in two editions.

nbconvert turns one notebook into one page, so the sections are merged into a single notebook first:
a header (run facts, warnings, verdicts, contents: :mod:`cnnlens.reporting.header`), one numbered section
per executed notebook, and a closing "Reproduce" section. The full edition holds every cell; the short one,
to hand in, one figure per analysis. Code is hidden; figures are embedded as base64 PNGs, and the template
loads nothing from the network.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
import yaml
from nbconvert import HTMLExporter

from cnnlens.artifacts import Faithfulness, VggDepth
from cnnlens.atomic import atomic_write_text
from cnnlens.config import representative_seed
from cnnlens.plots.style import SMALLEST_TEXT_KEY
from cnnlens.registry import EDITION_FILES, executed_title, section_of
from cnnlens.reporting.captions import FIGURE_MARKER
from cnnlens.reporting.comparison import Comparison, load_metrics
from cnnlens.reporting.header import RunFacts, Verdicts, git_commit, header, reproduce, section_heading
from cnnlens.reporting.heatmap_verdict import faithfulness_verdicts
from cnnlens.texts import set_language, text
from cnnlens.texts.fonts import font_face_css

SHORT_TAG = "short"  # a notebook cell whose first figure the short edition shows
DROPPED_TAGS = {"parameters", "injected-parameters"}
SMALLEST_TEXT_ATTRIBUTE = "data-smallest-text-pt"  # an image's smallest text in points at its display size


@dataclass
class ExecutedSection:
    title: str
    notebook: Path
    kind: str = ""  # the registry's section (``feature_maps``) of which this is one model's, or the only, notebook


def assemble(
    sections: Sequence[ExecutedSection], config: dict, facts: RunFacts, verdicts: Verdicts, edition: str = "full"
) -> nbformat.NotebookNode:
    """One edition of the report as one notebook: the header with the verdicts, numbered sections, and the
    closing section. The short edition keeps, of each section, the first figure of each cell its notebook tags
    ``short``, of the first model's notebook of a section written per model, and leaves out the sections without
    one: one figure per analysis."""
    short = edition == "short"
    if short:
        sections = [section for number, section in enumerate(sections) if _first_of_its_kind(sections, number)]
    shown = [(section.title, _section_cells(section, short)) for section in sections]
    shown = [(title, cells) for title, cells in shown if cells]
    titles = [*(title for title, _ in shown), text("header.reproduce_title")]
    report = nbformat.v4.new_notebook()
    report.metadata["title"] = text("header.title_short" if short else "header.title")
    report.metadata["cnnlens_edition"] = edition  # the template's body class: print rules differ by edition
    report.cells.append(nbformat.v4.new_markdown_cell(header(config, facts, verdicts, titles, short=short)))
    for number, (title, cells) in enumerate(shown, start=2):
        report.cells.append(nbformat.v4.new_markdown_cell(section_heading(number, title)))
        report.cells.extend(cells)
    closing = reproduce(config, facts.config_path, len(titles) + 1, short=short)
    report.cells.append(nbformat.v4.new_markdown_cell(closing))
    _number_figures(report)
    return report


@dataclass(frozen=True)
class ReportInputs:
    """The files a report is made of: the executed notebooks in reading order, every run's metrics, the compare
    rule's folder, the vgg rule's file, every job's benchmark file (their sum is the compute time) and every
    faithfulness file (every model and seed, for the heatmaps' verdict)."""

    notebooks: Sequence[str | Path]
    metrics: Sequence[str | Path]
    comparison: str | Path
    vgg: str | Path | None
    benchmarks: Sequence[str | Path] = ()
    faithfulness: Sequence[str | Path] = ()


def build_report(
    inputs: ReportInputs, config: dict, cited_config: str, repo: str | Path, out_folder: str | Path
) -> list[Path]:
    """The report job: one HTML file per edition of the config's ``report.editions`` (:data:`EDITION_FILES`), in
    ``report.language``, and the config that made them, ``config.yaml``, written last beside them; the
    "Reproduce" section names ``cited_config``, where the finished report's config is published. The heatmaps'
    verdict is tested at the config's ``compare.alpha``."""
    set_language(config["report"]["language"])
    seed = representative_seed(config)
    sections = [
        ExecutedSection(executed_title(path.stem, seed), path, section_of(path.stem).notebook)
        for path in map(Path, inputs.notebooks)
    ]
    compute_seconds = sum(pd.read_csv(path, sep="\t")["s"].sum() for path in inputs.benchmarks)
    vgg_weights = VggDepth.load(inputs.vgg).weights if inputs.vgg else None
    facts = RunFacts(git_commit(repo), compute_seconds, cited_config, vgg_weights)
    runs = [Faithfulness.load(path) for path in inputs.faithfulness]
    sentences = faithfulness_verdicts(runs, config["compare"]["alpha"]) if runs else []
    verdicts = Verdicts(load_metrics(inputs.metrics), Comparison.read(inputs.comparison), sentences)
    written = []
    for edition in config["report"]["editions"]:
        out = Path(out_folder) / f"{EDITION_FILES[edition]}.html"
        page = render_html(assemble(sections, config, facts, verdicts, edition))
        atomic_write_text(with_fonts(page, config["report"]["language"]), out)
        written.append(out)
    config_file = Path(out_folder) / "config.yaml"
    atomic_write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), config_file)
    return [*written, config_file]


def with_fonts(page: str, language: str) -> str:
    """The page with the font its language needs embedded, subset to the characters the page holds (nothing for
    English, whose fonts every browser and Pango have)."""
    fonts = font_face_css(language, "".join(sorted(set(page))))
    return page.replace("</head>", f"<style>\n{fonts}</style>\n</head>", 1) if fonts else page


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


def _first_of_its_kind(sections: Sequence[ExecutedSection], number: int) -> bool:
    return all(earlier.kind != sections[number].kind for earlier in sections[:number])


def _section_cells(section: ExecutedSection, short: bool) -> list:
    """The cells an edition shows of one section: all of them, or the first figure of each cell tagged short."""
    cells = _report_cells(nbformat.read(section.notebook, as_version=4))
    if not short:
        return cells
    chosen = [cell for cell in cells if SHORT_TAG in cell.metadata.get("tags", [])]
    for cell in chosen:
        cell.outputs = _first_figure(cell.outputs)
    return [cell for cell in chosen if cell.outputs]


def _first_figure(outputs: list) -> list:
    """The first captioned figure among a cell's outputs (:func:`_report_cells` grouped each with its caption)."""
    return next(([output] for output in outputs if _is_caption(output)), [])


def _report_cells(notebook: nbformat.NotebookNode) -> list:
    """The notebook's cells without parameter cells and without stderr (warnings, progress bars), each figure
    grouped with its caption."""
    kept = []
    for cell in notebook.cells:
        if DROPPED_TAGS & set(cell.metadata.get("tags", [])):
            continue
        if cell.cell_type == "code":
            shown = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
            cell.outputs = _figures_with_captions(shown)
        kept.append(cell)
    return kept


def _figures_with_captions(outputs: list) -> list:
    """The outputs with each image that a caption directly follows merged with it into one ``<figure>``, so that
    print keeps the two on one page; an image without a caption stays as it is."""
    grouped: list = []
    for output in outputs:
        if grouped and _is_caption(output) and _is_image(grouped[-1]):
            grouped[-1] = _figure(grouped[-1], output["data"]["text/html"])
        else:
            grouped.append(output)
    return grouped


def _is_image(output: nbformat.NotebookNode) -> bool:
    return "image/png" in output.get("data", {})


def _is_caption(output: nbformat.NotebookNode) -> bool:
    return FIGURE_MARKER in output.get("data", {}).get("text/html", "")


def _figure(image: nbformat.NotebookNode, caption: str) -> nbformat.NotebookNode:
    """An HTML output of the image and its caption, the image as nbconvert would show it: embedded, at the display
    size in its metadata (half its pixels for a retina figure), with the smallest text the metadata names
    (:mod:`cnnlens.reporting.legibility` measures the printed report from it)."""
    png = "".join(image["data"]["image/png"].split())  # notebooks may store base64 in lines
    shown = image.get("metadata", {}).get("image/png", {})
    attributes = {"width": "width", "height": "height", SMALLEST_TEXT_KEY: SMALLEST_TEXT_ATTRIBUTE}
    size = "".join(f' {attribute}="{shown[key]}"' for key, attribute in attributes.items() if key in shown)
    picture = f'<img src="data:image/png;base64,{png}" alt="{_alt_text(caption)}"{size}>'
    figure = f'<figure class="cnnlens-figure">{picture}<figcaption>{caption}</figcaption></figure>'
    return nbformat.v4.new_output("display_data", {"text/html": figure})


def _alt_text(caption: str) -> str:
    """The caption's words as an attribute value: its tags and its "Figure" marker (numbered later) left out."""
    words = re.sub(r"<[^>]+>", "", caption.replace(FIGURE_MARKER, "", 1)).lstrip(". ")
    return html.escape(html.unescape(words))


def _number_figures(report: nbformat.NotebookNode) -> None:
    number = 0
    for cell in report.cells:
        for output in cell.get("outputs", []):
            shown = output.get("data", {}).get("text/html")
            if shown and FIGURE_MARKER in shown:
                number += 1
                figure = html.escape(text("header.figure", number=number))
                output["data"]["text/html"] = shown.replace(FIGURE_MARKER, f"<b>{figure}</b>", 1)
