"""How a report prints, measured from its HTML and its PDF: reports of known figures and pages made through the real
path (executed notebooks -> assemble -> HTML -> WeasyPrint), in which the measurement must find what was built."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cnnlens.config import validate_config
from cnnlens.errors import CnnlensError
from cnnlens.plots.style import CSS_DPI, TEXT_WIDTH
from cnnlens.reporting import assemble as report
from cnnlens.reporting import header
from cnnlens.reporting.captions import caption, paragraph
from cnnlens.reporting.legibility import LEAST_FILL, page_fills, printed_figures
from cnnlens.reporting.pdf import write_pdf

from helpers import SCHEMA, executed_notebook, figure_output, html_output, needs_poppler, verdicts

MAX_PRINTED_HEIGHT = 190 / 25.4  # inches: the print stylesheet's max-height of a figure's image


FONTS = {"fits": 7, "too wide": 9, "too tall": 9}  # of the three figures: text size, points
SIZES = {"fits": (TEXT_WIDTH, 3.0), "too wide": (2 * TEXT_WIDTH, 3.0), "too tall": (4.0, 2 * MAX_PRINTED_HEIGHT)}


def captioned(size: tuple[float, float], font: float) -> list:
    return [figure_output(size, font=font), html_output(caption(f"A figure of {size} inches, text of {font} pt."))]


def sections() -> dict[str, list]:
    """Sections of known fill, each ending its page: more than two pages of text, a page of one paragraph, a page
    with a figure of half a page; then figures that fit the page, and two that the page shrinks."""
    text = html_output(paragraph("Words that fill a line of the page and then the next. " * 12))
    end_of_page = html_output('<div style="break-after: page"></div>')
    return {
        "Two pages of text": [text] * 12 + [end_of_page],
        "One paragraph": [text, end_of_page],
        "Half a page": [*captioned((TEXT_WIDTH, 4.4), font=8), end_of_page],
        **{name: captioned(SIZES[name], FONTS[name]) for name in SIZES},
    }


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> tuple[str, Path, dict[str, list]]:
    """The HTML and the PDF of a report of :func:`sections`, and the sections."""
    folder = tmp_path_factory.mktemp("legibility")
    shown = sections()
    executed = [
        report.ExecutedSection(title, executed_notebook(folder / f"section{index}.ipynb", outputs))
        for index, (title, outputs) in enumerate(shown.items())
    ]
    config = validate_config({"train": {"epochs": 2}}, SCHEMA)
    facts = header.RunFacts(commit="abc1234", compute_seconds=90.0, config_path="c.yaml")
    notebook = report.assemble(executed, config, facts, verdicts([0.4567, 0.5123]))
    html_path, pdf_path = folder / "report.html", folder / "report.pdf"
    html_path.write_text(report.render_html(notebook), encoding="utf-8")
    try:
        write_pdf(html_path, pdf_path)
    except CnnlensError as error:
        pytest.skip(str(error))
    return html_path.read_text(encoding="utf-8"), pdf_path, shown


def printed_scale(figure) -> float:
    """The share of its display size a figure prints at: shrunk to the text width or to the print stylesheet's
    largest image height, whichever shrinks it more."""
    shown = figure["metadata"]["image/png"]
    return min(1, TEXT_WIDTH * CSS_DPI / shown["width"], MAX_PRINTED_HEIGHT * CSS_DPI / shown["height"])


@needs_poppler
def test_text_prints_at_its_size_on_a_figure_that_fits_and_smaller_on_one_shrunk_to_the_page(printed):
    html, pdf, shown = printed
    figures = printed_figures(html, pdf)
    assert [figure.number for figure in figures] == [1, 2, 3, 4]
    scales = [printed_scale(shown[name][0]) for name in SIZES]
    assert scales[0] == 1 and max(scales[1:]) < 0.7
    expected = [FONTS[name] * scale for name, scale in zip(SIZES, scales, strict=True)]
    # the cells' padding leaves a figure a little less than the text width: 2 % smaller
    assert [figure.smallest_text for figure in figures[1:]] == pytest.approx(expected, rel=0.03)
    assert [figure.page for figure in figures] == sorted(figure.page for figure in figures)


@needs_poppler
def test_pages_are_as_full_as_what_they_hold(printed):
    _, pdf, _ = printed
    fills = page_fills(pdf)
    pages = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    after_contents = list(enumerate(pages.split("\f")))[2:]
    first_page = {title: next(n for n, page in after_contents if title in page) for title in sections()}
    text, paragraph, figure = (first_page[title] for title in ("Two pages of text", "One paragraph", "Half a page"))
    assert text + 2 < paragraph == figure - 1
    assert min(fills[text : text + 2]) > 0.9
    assert fills[paragraph] < LEAST_FILL < fills[figure] < 0.75


def test_an_image_without_its_text_size_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="data-smallest-text-pt"):
        printed_figures('<img src="x.png" width="300">', tmp_path / "unused.pdf")
