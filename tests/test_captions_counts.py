"""Every text that counts something agrees with its count ("1 step", "2 steps") and every class name after an
article takes the right one ("an airplane", "a bird"); Chinese words the same fields with neither.

The agreement is the machinery's (the specs ``{n:count noun}`` and ``{true:a}``, tried on templates of these tests'
own), the tables' (each such field uses its spec) and the captions' (each passes the bare count or class name).
"""

import re
import string

import pandas as pd
import pytest

from cnnlens.plots import channel_weights, curves, feature_maps
from cnnlens.texts import ARTICLE_SPEC, COUNT_SPEC, Template, table

from helpers import texts_said

# (key, field) of every text whose field counts something: the noun after it agrees with the count.
COUNTED = [
    ("curves.iteration_losses_caption", "epochs"),
    ("feature_maps.run", "images"),
    ("feature_maps.mode_first", "n"),
    ("feature_maps.mode_last", "n"),
    ("feature_maps.mode_top", "n"),
    ("feature_maps.pca_chosen_title", "count"),
    ("feature_maps.pca_chosen_caption", "count"),
    ("channel_weights.run", "images"),
    ("channel_weights.distribution_title", "images"),
    ("channel_weights.distributions_caption", "images"),
    ("channel_weights.class_caption", "per_class"),
    ("channel_weights.class_spatial_caption", "per_class"),
    ("explain.zfnet_title", "count"),
    ("explain.zfnet_caption", "images"),
    ("depth.table_paragraph", "images"),
    ("faithfulness.curves_caption", "steps"),
    ("faithfulness.curves_caption", "images"),
    ("faithfulness.score_paragraph", "images"),
    ("faithfulness.score_paragraph", "steps"),
    ("faithfulness.tests_paragraph", "images"),
    ("faithfulness.knob_paragraph", "steps"),
    ("faithfulness.removal_caption", "images"),
    ("faithfulness.removal_paragraph", "images"),
    ("faithfulness.removal_paragraph", "tests"),
    ("faithfulness.removal_verdict", "total"),
    ("faithfulness.sanity_paragraph", "images"),
    ("faithfulness.sanity_curves_caption", "images"),
    ("faithfulness.sanity_passes", "images"),
    ("comparison.verdict_noise", "pairs"),
    ("header.accuracy_lead", "epochs"),
    ("banner.quick_run", "epochs"),
]
ARTICLED = ("feature_maps.feature_maps_caption", "true")  # the one text that puts a class name after an article
IDS = [f"{key}:{field}" for key, field in COUNTED]


def field_specs(language: str, key: str, field: str) -> set[str]:
    """The format specs of ``field`` wherever the text ``key`` of ``language`` shows it."""
    parsed = string.Formatter().parse(table(language)[key])
    return {spec for _, name, spec, _ in parsed if name == field}


@pytest.mark.parametrize(
    ("count", "words"),
    [(1, "1 channel"), ("1", "1 channel"), (2, "2 channels"), (0, "0 channels"), ("1, 2", "1, 2 channels"),
     ("1 to 3", "1 to 3 channels")],
    ids=["one", "one as text", "two", "none", "a list", "a range"],
)  # fmt: skip
def test_the_count_spec_takes_the_singular_only_for_one(count, words):
    assert Template("{n:count channel}").format(n=count) == words


def test_the_count_spec_takes_the_plural_after_its_bar():
    assert Template("{n:count class|classes}").format(n=2) == "2 classes"
    assert Template("{n:count class|classes}").format(n=1) == "1 class"


@pytest.mark.parametrize(("word", "words"), [("airplane", "an airplane"), ("bird", "a bird"), ("Owl", "an Owl")])
def test_the_article_spec_agrees_with_the_word(word, words):
    assert Template("{true:a}").format(true=word) == words


def test_chinese_counts_and_names_with_neither_plural_nor_article(chinese):
    assert Template("{n:count 张}").format(n=2) == "2 张"
    assert Template("{true:a}").format(true="飞机") == "飞机"


@pytest.mark.parametrize(("key", "field"), COUNTED, ids=IDS)
def test_every_english_count_is_formatted_with_its_noun(key, field):
    specs = field_specs("en", key, field)
    assert specs and all(spec.startswith(COUNT_SPEC) for spec in specs)


def test_the_english_feature_map_caption_takes_the_article_from_its_spec():
    assert field_specs("en", *ARTICLED) == {ARTICLE_SPEC}


def test_no_english_text_writes_an_article_of_its_own_before_a_field():
    """A class name filled in after "a" would read "a airplane": only the article spec knows which it takes."""
    written = [
        (key, field)
        for key, template in table("en").items()
        for literal, field, _, _ in string.Formatter().parse(template)
        if field is not None and re.search(r"\ban?\s+$", literal, re.IGNORECASE)
    ]
    assert written == []


@pytest.mark.parametrize(("key", "field"), [*COUNTED, ARTICLED], ids=[*IDS, "article"])
def test_chinese_words_counts_and_class_names_plainly(key, field):
    assert field_specs("zh", key, field) == {""}


def test_the_feature_map_caption_passes_the_bare_class_name(text_keys):
    caption = feature_maps.feature_maps_caption(7, "Owl", "dog", "plain", 1, [0, 1, 2], ["conv1"])
    assert texts_said(caption)[-1][1]["true"] == "Owl"  # bare: the text's article spec adds "an"


@pytest.mark.parametrize(
    ("epochs", "field"), [([1], "epochs=1 "), ([2], "epochs=2 "), ([1, 2], "epochs=1⟨style.list_separator⟩2 ")]
)
def test_the_training_loss_caption_counts_the_epochs_of_every_run(text_keys, epochs, field):
    assert field in curves.iteration_losses_caption([("plain", 0)], epochs, [64])


def test_the_feature_map_texts_count_images_and_channels(text_keys):
    for count in (1, 2):
        key, fields = texts_said(feature_maps.run_paragraph("plain", 0, ["conv1"], count, 1, 1))[-1]
        assert key == "feature_maps.run" and fields["images"] == str(count)
        title = feature_maps.channel_grid_title("conv2", "first", count)
        assert title == f"⟨feature_maps.grid_title layer=conv2 selection=⟨feature_maps.mode_first n={count}⟩⟩"
    assert feature_maps.pca_title(1) == "⟨feature_maps.pca_chosen_title count=1⟩"


@pytest.mark.parametrize(
    ("per_class", "count"),
    [((1, 1), "1"), ((2, 2), "2"), ((1, 3), "⟨style.range low=1 high=3⟩")],
    ids=["one", "two", "a range"],
)
def test_the_class_heatmap_caption_counts_the_images_per_class(text_keys, per_class, count):
    means = pd.DataFrame([[0.1, 0.2], [0.3, 0.4]])
    caption = channel_weights.class_heatmap_caption("ca3", "se", 0, per_class, means, pd.Series([0.1, 0.2]))
    assert f"per_class={count} " in caption
