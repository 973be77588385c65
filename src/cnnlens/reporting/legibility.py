"""How a report prints: the smallest text of every figure at the size it is printed, and how full each page is.

A figure's PNG comes with its smallest text in points at its display size (:func:`cnnlens.plots.style.retina_png`,
kept by the report as the ``<img>``'s ``data-smallest-text-pt``); the PDF tells how large each image was printed
(poppler's ``pdfimages``: pixels per inch). A page's fill is read from a rendering of it (poppler's ``pdftoppm``):
the share of the rows of its text area, inside the margins, that hold ink, where a gap shorter than
:data:`HELD_GAP_POINTS` between two inked rows (between lines, between the panels of a figure) counts as held.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

from cnnlens.plots.style import CSS_DPI
from cnnlens.reporting.assemble import SMALLEST_TEXT_ATTRIBUTE

LEGIBLE_POINTS = 6.0  # the smallest text a reader reads on paper
LEAST_FILL = 1 / 3  # every page of the short edition but the last holds at least this share of its text area
HELD_GAP_POINTS = 14  # a blank band shorter than this (about a line of text) counts as part of what it separates
TEXT_AREA_MM = {"top": 18, "bottom": 20, "left": 20, "right": 20}  # the print stylesheet's page margins
RENDER_DPI = 50
PGM_HEADER = re.compile(rb"P5\s+(\d+)\s+(\d+)\s+255\s")


@dataclass(frozen=True)
class PrintedFigure:
    number: int  # in reading order, from 1 (every image of the report is a figure)
    page: int
    smallest_text: float  # points, on paper


def printed_figures(html: str, pdf: str | Path) -> list[PrintedFigure]:
    """Every image of the report ``html`` with the size its smallest text prints at in ``pdf``, which was printed from
    it: the text's size at the image's display width times the share of that width it was printed at."""
    shown = _images(html)
    printed = printed_images(pdf)
    if len(shown) != len(printed):
        raise ValueError(f"{pdf}: {len(printed)} images printed, but its HTML shows {len(shown)}")
    return [
        PrintedFigure(number, int(image["page"]), smallest * _printed_width(image) / width)
        for number, ((width, smallest), image) in enumerate(zip(shown, printed, strict=True), 1)
    ]


def page_fills(pdf: str | Path) -> list[float]:
    """The share of each page's text area that holds text or figures (see the module's description)."""
    return [_fill(page) for page in _rendered_pages(pdf)]


def _fill(page: np.ndarray) -> float:
    margin = {side: round(millimetres * RENDER_DPI / 25.4) for side, millimetres in TEXT_AREA_MM.items()}
    area = page[margin["top"] : page.shape[0] - margin["bottom"], margin["left"] : page.shape[1] - margin["right"]]
    inked = np.flatnonzero((area < 200).any(axis=1))
    if not len(inked):
        return 0.0
    gaps = np.diff(inked) - 1
    largest_held = HELD_GAP_POINTS / 72 * RENDER_DPI
    held = len(inked) + gaps[gaps < largest_held].sum()
    return float(held / area.shape[0])


def _rendered_pages(pdf: str | Path) -> list[np.ndarray]:
    """Every page of ``pdf`` as a grey image, ``RENDER_DPI`` pixels per inch (0 black, 255 white)."""
    data = subprocess.run(
        ["pdftoppm", "-gray", "-r", str(RENDER_DPI), str(pdf)], capture_output=True, check=True
    ).stdout
    pages, start = [], 0
    while start < len(data):  # one binary PGM per page: "P5 <width> <height> 255", one whitespace, a byte per pixel
        header = PGM_HEADER.match(data, start)
        if header is None:
            raise ValueError(f"{pdf}: pdftoppm wrote no PGM page at byte {start}")
        width, height = int(header[1]), int(header[2])
        pixels = np.frombuffer(data, np.uint8, width * height, header.end())
        pages.append(pixels.reshape(height, width))
        start = header.end() + width * height
    return pages


def _printed_width(image: dict[str, str]) -> float:
    """An image's printed width in CSS pixels, from its row of :func:`printed_images`."""
    return int(image["width"]) / float(image["x-ppi"]) * CSS_DPI


def printed_images(pdf: str | Path) -> list[dict[str, str]]:
    """``pdfimages -list``'s rows of the images (not their transparency masks) in the order printed, by column:
    ``page``, ``width`` (pixels), ``x-ppi`` (pixels per inch across: the pixels over the printed width), ..."""
    listing = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    header, _rule, *rows = listing.splitlines()
    listed = [dict(zip(header.split(), row.split(), strict=False)) for row in rows]
    return [row for row in listed if row["type"] == "image"]


def _images(html: str) -> list[tuple[float, float]]:
    """Every ``<img>`` of ``html`` in order: its display width in CSS pixels and its smallest text in points there."""
    parser = _ImageParser()
    parser.feed(html)
    return parser.images


class _ImageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[tuple[float, float]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "img":
            return
        attributes = dict(attrs)
        width, smallest = attributes.get("width"), attributes.get(SMALLEST_TEXT_ATTRIBUTE)
        if width is None or smallest is None:
            raise ValueError(f"an image without its width or {SMALLEST_TEXT_ATTRIBUTE}: {str(attributes)[:120]}")
        self.images.append((float(width), float(smallest)))
