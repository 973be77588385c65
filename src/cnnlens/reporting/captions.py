"""The HTML a notebook displays: figure captions, numbered by the report in reading order, and its other texts.

Every function takes plain text (from :func:`cnnlens.texts.text`) and escapes it, so a class or photo name
can hold any character and the text tables hold no HTML.
"""

from __future__ import annotations

import html

import pandas as pd

from cnnlens.texts import text

FIGURE_MARKER = "<b>Figure</b>"


def caption(words: str) -> str:
    """HTML for a figure caption; the report replaces the marker with "Figure N" in reading order."""
    return f'<p class="cnnlens-caption">{FIGURE_MARKER}. {_escape(words)}</p>'


def paragraph(words: str) -> str:
    """HTML for a paragraph of running text: a section's introduction, what a table shows."""
    return f"<p>{_escape(words)}</p>"


def heading(words: str) -> str:
    """HTML for the heading of a part of a section (below the report's numbered section headings)."""
    return f"<h3>{_escape(words)}</h3>"


def banner(words: str) -> str:
    """HTML for a warning that the reader must not miss (random VGG16 weights, say)."""
    return f'<p class="cnnlens-banner">{_escape(words)}</p>'


def table(frame: pd.DataFrame, number_format: str = "{:.4g}") -> str:
    """HTML for a table of numbers, without its index; a missing value reads as the text ``style.missing``."""
    return frame.to_html(index=False, border=0, float_format=number_format.format, na_rep=text("style.missing"))


def _escape(words: str) -> str:
    return html.escape(words, quote=False)
