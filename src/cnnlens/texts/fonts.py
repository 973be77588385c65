"""The fonts that the figures and the report's pages need per language.

matplotlib's default font and the fonts a reader's browser or a PDF renderer may have hold no Chinese glyphs:
they would draw boxes. Chinese therefore takes Noto Sans CJK SC (SIL Open Font License) from the pip package
mplfonts, registered with matplotlib for the figures and embedded in the page, subset to the characters the page
uses, so that the HTML and the PDF render the same without any font installed.
"""

from __future__ import annotations

import base64
import importlib.util
import io
from functools import cache
from pathlib import Path

import matplotlib as mpl
from fontTools import subset
from matplotlib import font_manager

from cnnlens.errors import CnnlensError

CJK_FONT_FILE = "NotoSansCJKsc-Regular.otf"
CJK_FONT_FAMILY = "Noto Sans CJK SC"
CSS_FONT_FAMILY = "cnnlens CJK"

# The rcParams that use_fonts sets; every other figure setting stays as it is.
FONT_SETTINGS = ("font.family", "font.sans-serif")

# OpenType features kept in the subset: Latin kerning and ligatures, glyph composition. The default set would also
# pull in every vertical, proportional and other-locale alternate of each character, doubling the subset's size
# for forms that horizontal Simplified Chinese never shows.
SUBSET_FEATURES = ["ccmp", "kern", "liga"]


def use_fonts(language: str) -> None:
    """Make matplotlib draw the texts of ``language``: the CJK font for "zh", matplotlib's defaults otherwise.

    DejaVu Sans stays second for any symbol the CJK font lacks.
    """
    if language == "zh":
        _register_cjk_font()
        mpl.rcParams.update(
            {
                "font.family": "sans-serif",
                "font.sans-serif": [CJK_FONT_FAMILY, "DejaVu Sans"],
            }
        )
    else:
        mpl.rcParams.update({key: value for key, value in mpl.rcParamsDefault.items() if key in FONT_SETTINGS})


def font_face_css(language: str, characters: str) -> str:
    """The CSS that renders ``characters`` of a ``language`` page in every browser and in WeasyPrint ("" for en).

    An ``@font-face`` with the CJK font subset to ``characters`` as a ``data:`` URL (so the report stays one
    offline file), first in the body's font stack and in the two font variables the JupyterLab page styles use.
    """
    if language != "zh":
        return ""
    data = base64.b64encode(subset_cjk_font(characters)).decode("ascii")
    stack = f'"{CSS_FONT_FAMILY}", sans-serif'
    return (
        f'@font-face {{ font-family: "{CSS_FONT_FAMILY}"; src: url(data:font/woff;base64,{data}) format("woff"); }}\n'
        f"body {{ --jp-ui-font-family: {stack}; --jp-content-font-family: {stack}; font-family: {stack}; }}\n"
    )


def subset_cjk_font(characters: str) -> bytes:
    """The CJK font reduced to ``characters``, as WOFF: about 0.3 MB for 1,500 characters instead of 16 MB.

    WOFF rather than WOFF2, which needs brotli; CFF subroutines and hints are dropped, which makes the
    subsetting faster and the file smaller at the sizes a page shows.
    """
    options = _subset_options()
    font = subset.load_font(str(cjk_font_path()), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters)
    subsetter.subset(font)
    woff = io.BytesIO()
    subset.save_font(font, woff, options)
    return woff.getvalue()


def cjk_font_path() -> Path:
    """The font file inside the installed mplfonts package, found without importing it (it sets rcParams)."""
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or spec.origin is None:
        raise CnnlensError("the Chinese report needs the CJK font of the package mplfonts: pip install mplfonts")
    return Path(spec.origin).parent / "fonts" / CJK_FONT_FILE


@cache
def _register_cjk_font() -> None:
    """Add the font to matplotlib's font list once (each addfont call would add another entry)."""
    font_manager.fontManager.addfont(str(cjk_font_path()))


def _subset_options() -> subset.Options:
    return subset.Options(flavor="woff", layout_features=SUBSET_FEATURES, desubroutinize=True, hinting=False)
