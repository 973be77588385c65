"""The PDF of the report: a small report made through the real path (notebooks -> assemble -> HTML -> WeasyPrint),
read back with poppler's tools."""

from __future__ import annotations

import builtins
import re
import subprocess

import matplotlib as mpl

mpl.use("Agg")
import nbformat
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from cnnlens import cli
from cnnlens.config import validate_config
from cnnlens.errors import CnnlensError
from cnnlens.reporting import assemble as report
from cnnlens.reporting import header
from cnnlens.reporting.captions import caption, heading, paragraph, table
from cnnlens.reporting.legibility import printed_images
from cnnlens.reporting.pdf import PANGO_MISSING, write_pdf

from helpers import SCHEMA, executed_notebook, figure_output, html_output, needs_poppler, verdicts

A4_POINTS = (595, 842)
MIN_PRINTED_PPI = 150
TABLE_ROWS = 80
FOOT_STEPS = 5
FOOT_SPACE_MM = 170  # the first foot figure's space above it, on an A4 page of about 260 mm of content

# Figure sizes in inches, as the plots module draws them: wide curves, a tall grid of panels, small single panels.
FIGURE_SIZES = {"wide": (11, 3.8), "tall": (8.4, 13), "small": (4, 3), "square": (6, 6)}


def sized(size: str) -> nbformat.NotebookNode:
    return figure_output(FIGURE_SIZES[size], title=f"a {size} figure")


def captioned(size: str, words: str) -> list:
    return [sized(size), html_output(caption(words))]


def figures(*sizes: str, text: str = "words") -> list:
    """Each figure with its caption and a paragraph after it."""
    return [
        output
        for number, size in enumerate(sizes)
        for output in (
            *captioned(size, f"The {size} figure {number} of the {text} section, drawn to be kept together."),
            html_output(paragraph(f"A paragraph after the {size} figure {number}. " * 6)),
        )
    ]


def figures_at_the_foot() -> list:
    """Figures that start lower and lower on pages of their own, in steps shorter than their three-line captions:
    the image of one of them ends just above the foot of its page, where its caption no longer fits."""
    return [
        output
        for step in range(FOOT_STEPS)
        for output in (
            html_output(f'<div style="break-before: page; height: {FOOT_SPACE_MM + 8 * step}mm"></div>'),
            *captioned("small", f"The figure {step} at the foot of a page, with a caption of three lines. " * 4),
        )
    ]


def class_table() -> str:
    """A table whose rows take three lines each, named in their first cell and marked at both ends of their last:
    a row cut by a page break has its marks on two pages."""
    notes = [f"R{row:02d}first " + "several words that wrap " * 8 + f"R{row:02d}last" for row in range(TABLE_ROWS)]
    return table(pd.DataFrame({"class": [f"row{row:02d}" for row in range(TABLE_ROWS)], "notes": notes}))


def report_sections(folder) -> list[report.ExecutedSection]:
    contents = {
        "Training curves": [html_output(paragraph("How the runs learnt. " * 20)), *figures("wide", "small")],
        "Per-class results": [html_output(heading("Every class")), html_output(class_table())],
        "Feature maps": figures("square", "tall", "wide", "small", text="feature"),
        "Explanations": [html_output(paragraph("Why the models decide. " * 40)), *figures("small", "square")],
        "Figures at the foot of a page": figures_at_the_foot(),
    }
    return [
        report.ExecutedSection(title, executed_notebook(folder / f"section{index}.ipynb", outputs))
        for index, (title, outputs) in enumerate(contents.items())
    ]


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    """The report's HTML and its PDF."""
    folder = tmp_path_factory.mktemp("report")
    config = validate_config({"train": {"epochs": 2}}, SCHEMA)
    facts = header.RunFacts(commit="abc1234", compute_seconds=90.0, config_path="c.yaml")
    notebook = report.assemble(report_sections(folder), config, facts, verdicts([0.4567, 0.5123]))
    html_path = folder / "report.html"
    html_path.write_text(report.render_html(notebook), encoding="utf-8")
    try:
        write_pdf(html_path, folder / "report.pdf")
    except CnnlensError as error:
        pytest.skip(str(error))
    return html_path.read_text(encoding="utf-8"), folder / "report.pdf"


def poppler(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def page_texts(pdf) -> list[str]:
    """The text of each page, laid out as printed (pdftotext ends every page with a form feed)."""
    return poppler("pdftotext", "-layout", str(pdf), "-").split("\f")[:-1]


def words(text: str) -> str:
    return " ".join(text.split())


def texts_of(html: str, *tags: str) -> list[str]:
    """The words of the HTML's elements ``tags``, in the order of the page (headings without their ¶ link)."""
    elements = BeautifulSoup(html, "html.parser").find_all(tags)
    return [words(element.get_text()).removesuffix("¶") for element in elements]


def contents_entries(page: str) -> dict[str, int]:
    """The contents page's entries: "2. Training curves ....... 3" -> {"2. Training curves": 3}."""
    entries = (re.fullmatch(r"(\d+\. .*?)[ .]*\.[ .]*(\d+)", line.strip()) for line in page.splitlines())
    return {entry[1]: int(entry[2]) for entry in entries if entry}


def contents_page(pages: list[str]) -> int:
    """The index of the one page that holds the contents."""
    (index,) = [index for index, page in enumerate(pages) if contents_entries(page)]
    return index


def heading_page(pages: list[str], title: str) -> int:
    """The number of the first page that holds ``title`` as a line of its own (a heading, not a contents entry)."""
    return next(number for number, page in enumerate(pages, 1) if title in map(str.strip, page.splitlines()))


def caption_page(pages: list[str], text: str) -> int:
    return next(number for number, page in enumerate(pages, 1) if text in words(page))


@needs_poppler
def test_pages_are_a4_and_numbered(printed):
    _, pdf = printed
    info = poppler("pdfinfo", str(pdf))
    width, height = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups())
    assert (round(width), round(height)) == A4_POINTS
    pages = page_texts(pdf)
    assert len(pages) == int(re.search(r"Pages:\s+(\d+)", info)[1])
    for number, page in enumerate(pages, 1):
        assert page.strip().splitlines()[-1].strip() == f"{number} / {len(pages)}"


@needs_poppler
def test_headings_and_captions_are_printed_in_the_order_of_the_html(printed):
    html, pdf = printed
    pages = page_texts(pdf)
    del pages[contents_page(pages)]  # its entries repeat the headings
    text = words(" ".join(pages))
    items = texts_of(html, "h2", "figcaption")
    assert len(items) == 7 + 8 + FOOT_STEPS  # the sections, the figures
    position = 0
    for item in items:
        position = text.index(item, position) + len(item)


@needs_poppler
def test_contents_page_gives_each_section_the_page_of_its_heading(printed):
    html, pdf = printed
    pages = page_texts(pdf)
    index = contents_page(pages)
    entries = contents_entries(pages[index])
    assert list(entries) == texts_of(html, "h2")
    assert entries == {title: heading_page(pages, title) for title in entries}
    # The contents page holds only the contents: its title, the entries and the page number.
    lines = [line.strip() for line in pages[index].splitlines() if line.strip()]
    assert len(lines) == 1 + len(entries) + 1


@needs_poppler
def test_figures_are_printed_at_print_resolution_beside_their_captions(printed):
    html, pdf = printed
    images = printed_images(pdf)
    texts = texts_of(html, "figcaption")
    assert len(images) == len(texts)
    for image in images:
        assert min(float(image["x-ppi"]), float(image["y-ppi"])) >= MIN_PRINTED_PPI, image
    pages = page_texts(pdf)
    assert [int(image["page"]) for image in images] == [caption_page(pages, text) for text in texts]


@needs_poppler
def test_table_spans_pages_without_cutting_a_row(printed):
    _, pdf = printed
    pages = page_texts(pdf)

    def page_of(marker: str) -> int:
        (number,) = [number for number, page in enumerate(pages, 1) if marker in page]
        return number

    pages_of_rows = [
        {page_of(f"row{row:02d}"), page_of(f"R{row:02d}first"), page_of(f"R{row:02d}last")} for row in range(TABLE_ROWS)
    ]
    assert len(set.union(*pages_of_rows)) > 1
    assert all(len(pages) == 1 for pages in pages_of_rows)


def test_figure_and_caption_become_one_output_and_an_image_without_caption_stays(tmp_path):
    image, lone = sized("small"), sized("small")
    outputs = [image, html_output(caption("grouped")), lone, html_output(paragraph("not a caption"))]
    notebook = nbformat.read(executed_notebook(tmp_path / "a.ipynb", outputs), as_version=4)
    (cell,) = report._report_cells(notebook)
    assert [sorted(output["data"]) for output in cell.outputs] == [["text/html"], ["image/png"], ["text/html"]]
    figure = cell.outputs[0]["data"]["text/html"]
    size = image["metadata"]["image/png"]
    assert figure.startswith(
        f'<figure class="cnnlens-figure"><img src="data:image/png;base64,{image.data["image/png"]}"'
    )
    assert f'alt="grouped" width="{size["width"]}" height="{size["height"]}"' in figure
    assert figure.endswith(f"<figcaption>{caption('grouped')}</figcaption></figure>")
    assert cell.outputs[1] == lone


def without_pango(monkeypatch):
    """Make ``import weasyprint`` fail as it does without Pango: its banner on stdout, then OSError."""
    real_import = builtins.__import__

    def import_without_pango(name, *args, **kwargs):
        if name == "weasyprint":
            print("-----\nWeasyPrint could not import some external libraries.\n-----")
            raise OSError("cannot load library 'libpango-1.0-0': cannot open shared object file")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", import_without_pango)


def test_missing_pango_is_one_line_saying_what_to_install(tmp_path, monkeypatch, capsys):
    html_path = tmp_path / "report.html"
    html_path.write_text("<p>report</p>")
    without_pango(monkeypatch)
    with pytest.raises(SystemExit) as exit_status:
        cli.main(["pdf", "--html", str(html_path), "--out", str(tmp_path / "report.pdf")])
    assert exit_status.value.code == 2
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.split(": ", 2) == ["cnnlens pdf", "error", f"{PANGO_MISSING}\n"]
    for install in ("apt install libpango-1.0-0 libpangoft2-1.0-0", "brew install pango", "conda-forge pango"):
        assert install in PANGO_MISSING
    assert not (tmp_path / "report.pdf").exists()


def test_missing_html_is_one_line(tmp_path):
    with pytest.raises(CnnlensError) as raised:
        write_pdf(tmp_path / "report.html", tmp_path / "report.pdf")
    message = str(raised.value)
    assert str(tmp_path / "report.html") in message and "report job" in message and "\n" not in message
