"""Fonts per language: Chinese figures draw no missing glyph, and the page embeds a CJK font subset that covers
its characters."""

import base64
import io
import re
import sys
import warnings

import matplotlib as mpl
import matplotlib.pyplot as plt
import pytest
from fontTools.ttLib import TTFont

from cnnlens.errors import CnnlensError
from cnnlens.texts import CIFAR10_CLASS_NAMES, class_names, table, text
from cnnlens.texts.fonts import CSS_FONT_FAMILY, FONT_SETTINGS, cjk_font_path, font_face_css, use_fonts

MISSING_GLYPH = r"Glyph \d+ .* missing from font"


def draw_chinese_figure() -> None:
    """A figure whose every kind of text holds Chinese from the table, saved as the notebooks save it."""
    figure, axes = plt.subplots()
    axes.plot(range(10), [-0.5 + 0.1 * value for value in range(10)], label=text("curves.split_test"))
    axes.plot(range(10), [0.2] * 10, "--", label=text("channel_weights.band_label", low="第10", high="第90"))
    axes.set_xticks(range(10), class_names(CIFAR10_CLASS_NAMES), rotation=45)
    axes.set(
        xlabel=text("curves.predicted_axis"),
        ylabel=text("channel_weights.share_axis"),
        title=text("style.image_label", index=3, true="猫", predicted="狗"),
    )
    axes.legend(title=text("faithfulness.header_method"))
    figure.suptitle(text("channel_weights.distribution_title", module="ca3", images=100, channels=64))
    figure.savefig(io.BytesIO(), format="png")
    plt.close(figure)


def test_chinese_figures_draw_every_glyph(chinese):
    use_fonts("zh")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draw_chinese_figure()


def test_english_fonts_would_draw_boxes_for_chinese(chinese):
    """The check above can fail: without the CJK font, matplotlib warns of each missing glyph."""
    use_fonts("zh")
    use_fonts("en")
    with pytest.warns(UserWarning, match=MISSING_GLYPH):
        draw_chinese_figure()


def test_english_restores_matplotlib_defaults(chinese):
    use_fonts("zh")
    use_fonts("en")
    assert {setting: mpl.rcParams[setting] for setting in FONT_SETTINGS} == {
        setting: mpl.rcParamsDefault[setting] for setting in FONT_SETTINGS
    }


def test_the_page_embeds_a_font_subset_that_covers_its_characters():
    characters = "".join(sorted(set("".join(table("zh").values())) - {"\n"}))
    css = font_face_css("zh", characters)
    data = re.search(r"url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\)", css)
    assert data is not None
    subset = base64.b64decode(data.group(1))
    covered = TTFont(io.BytesIO(subset)).getBestCmap()
    assert [character for character in characters if ord(character) not in covered] == []
    assert len(subset) < cjk_font_path().stat().st_size / 20
    assert re.search(rf'body \{{[^}}]*font-family: "{CSS_FONT_FAMILY}"', css)


def test_english_pages_need_no_font():
    assert font_face_css("en", "abc") == ""


def test_a_missing_mplfonts_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "mplfonts", None)  # what find_spec reports for a package that is not there
    with pytest.raises(CnnlensError, match="mplfonts") as error:  # the package to install
        cjk_font_path()
    assert "\n" not in str(error.value)
