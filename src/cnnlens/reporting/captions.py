"""Figure captions: the HTML a notebook displays under a figure, numbered by the report in reading order."""

from __future__ import annotations

FIGURE_MARKER = "<b>Figure</b>"


def caption(text: str) -> str:
    """HTML for a figure caption; the report replaces the marker with "Figure N" in reading order."""
    return f'<p class="cnnlens-caption">{FIGURE_MARKER}. {text}</p>'
