"""The report as an A4 PDF for handing in, printed from the same HTML file by its print stylesheet.

WeasyPrint prints it because it is pure Python over Pango (no browser to install) and supports CSS paged media
(page-number margin boxes, ``target-counter()``, ``leader()``), which a contents page with page numbers needs and
headless Chromium's print lacks.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cnnlens.atomic import atomic_path
from cnnlens.errors import CnnlensError

if TYPE_CHECKING:
    from weasyprint import HTML

PANGO_MISSING = (
    "the PDF needs the Pango library, which WeasyPrint could not load: install it "
    "(Debian/Ubuntu: apt install libpango-1.0-0 libpangoft2-1.0-0; macOS: brew install pango; "
    "conda: conda install -c conda-forge pango)"
)


def write_pdf(html_path: str | Path, pdf_path: str | Path) -> None:
    """Print the report ``html_path`` to ``pdf_path``, written atomically so that a failure leaves no PDF.

    HTML attributes count as styles, as in a browser: a retina figure's ``width`` and ``height`` (half its pixels)
    keep it at its size on screen, and so at twice the pixels per inch.
    """
    if not Path(html_path).is_file():
        raise CnnlensError(f"{html_path}: no such file (the report job writes it)")
    html_class = _weasyprint_html()
    with _weasyprint_errors_only(), atomic_path(pdf_path) as temporary:
        html_class(filename=str(html_path)).write_pdf(temporary, presentational_hints=True)


def _weasyprint_html() -> type[HTML]:
    """WeasyPrint's ``HTML`` class, or the one line that says how to install Pango when it cannot be loaded.

    WeasyPrint loads Pango when imported: it raises OSError without it, after printing a banner of its own,
    which is silenced here so that the error stays one line.
    """
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import weasyprint
    except OSError as error:
        raise CnnlensError(PANGO_MISSING) from error
    return weasyprint.HTML


@contextlib.contextmanager
def _weasyprint_errors_only() -> Iterator[None]:
    """Show WeasyPrint's errors (an unreadable image) on stderr and drop its warnings, which list every screen-only
    rule of the JupyterLab styles."""
    logger = logging.getLogger("weasyprint")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("weasyprint: %(message)s"))
    level = logger.level
    logger.setLevel(logging.ERROR)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
