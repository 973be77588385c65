"""The translation tables: every language holds every text with the same fields, and Chinese texts are Chinese."""

import re
import string

import pytest

from cnnlens.errors import CnnlensError
from cnnlens.texts import (
    ARTICLE_SPEC,
    CIFAR10_CLASS_NAMES,
    COUNT_SPEC,
    LANGUAGES,
    class_names,
    counted,
    indefinite,
    set_language,
    table,
)

CJK_IDEOGRAPH = re.compile(r"[\u4e00-\u9fff]")

# zh texts with letters but no Chinese character, each the same in every language, and why.
LANGUAGE_NEUTRAL = {
    "explain.gradcam_heading": "Grad-CAM is the method's name in Chinese papers too",
    "faithfulness.method_gradcam": "Grad-CAM is the method's name in Chinese papers too",
    "faithfulness.subject_gradcam": "Grad-CAM is the method's name in Chinese papers too",
    "depth.network": "VGG16 is the network's name",
    "depth.vgg_layer": "features[3] is the module's path in torchvision's VGG16",
}


def fields(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def literal_text(template: str) -> str:
    """A template without its fields: the words the table itself supplies."""
    return "".join(literal for literal, _, _, _ in string.Formatter().parse(template))


def test_every_language_has_every_key_of_the_english_table():
    for language in LANGUAGES:
        assert set(table(language)) == set(table("en")), language


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_is_a_string_with_the_english_fields(language):
    english = table("en")
    for key, template in table(language).items():
        assert isinstance(template, str), key  # YAML reads an unquoted yes or 123 as another type
        assert fields(template) == fields(english[key]), key


def test_every_chinese_text_with_words_is_in_chinese():
    chinese_table = table("zh")
    english = [
        key
        for key, template in chinese_table.items()
        if any(character.isalpha() for character in literal_text(template))
        and not CJK_IDEOGRAPH.search(template)
        and key not in LANGUAGE_NEUTRAL
    ]
    assert english == []
    assert all(chinese_table[key] == table("en")[key] for key in LANGUAGE_NEUTRAL)


def test_no_chinese_text_has_a_space_between_two_chinese_characters():
    """A line break folded into a space, inside a sentence: Chinese separates no words."""
    split = re.compile(r"[\u4e00-\u9fff] +[\u4e00-\u9fff]")
    assert [key for key, template in table("zh").items() if split.search(template)] == []


def test_cifar10_classes_have_chinese_names(chinese):
    assert class_names(list(CIFAR10_CLASS_NAMES)) == [
        "飞机",
        "汽车",
        "鸟",
        "猫",
        "鹿",
        "狗",
        "青蛙",
        "马",
        "船",
        "卡车",
    ]


@pytest.mark.parametrize(
    "classes",
    [["cat", "dog"], list(reversed(CIFAR10_CLASS_NAMES)), [*CIFAR10_CLASS_NAMES, "plane"]],
    ids=["own folders", "other order", "eleven classes"],
)
def test_other_class_lists_keep_their_folder_names(chinese, classes):
    assert class_names(classes) == classes


def test_cifar10_classes_keep_their_names_in_english():
    assert class_names(CIFAR10_CLASS_NAMES) == list(CIFAR10_CLASS_NAMES)


def test_an_unknown_language_is_a_one_line_error():
    with pytest.raises(CnnlensError, match=r"'fr'.*\ben\b.*\bzh\b") as error:  # the language asked for, the choices
        set_language("fr")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("count", "noun", "plural", "words"),
    [
        (1, "step", None, "1 step"),
        (4, "step", None, "4 steps"),
        (0, "step", None, "0 steps"),
        ("1", "test image", None, "1 test image"),
        ("1, 2", "epoch", None, "1, 2 epochs"),  # a list of counts, joined
        ("1 to 3", "test image", None, "1 to 3 test images"),
        (1, "pair", "pairs", "1 pair"),
        (2, "class", "classes", "2 classes"),
    ],
)
def test_counted_takes_the_singular_only_for_one(count, noun, plural, words):
    assert counted(count, noun, plural) == words


@pytest.mark.parametrize(
    ("word", "words"),
    [("airplane", "an airplane"), ("bird", "a bird"), ("Owl", "an Owl"), ("umbrella", "an umbrella"), ("", "a ")],
)
def test_indefinite_takes_an_before_a_vowel(word, words):
    assert indefinite(word) == words


def test_chinese_counts_and_names_without_plural_or_article(chinese):
    assert counted(4, "步") == "4 步" and counted(1, "步") == "1 步"
    assert indefinite("飞机") == "飞机"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_format_spec_in_the_tables_is_a_count_or_an_article(language):
    """A spec that the texts do not know would be formatted as Python's, and fail only when the text is shown."""
    specs = {
        (key, spec)
        for key, template in table(language).items()
        for _, field, spec, _ in string.Formatter().parse(template)
        if field is not None and spec
    }
    assert [(key, spec) for key, spec in specs if spec != ARTICLE_SPEC and not spec.startswith(COUNT_SPEC)] == []
    assert all(spec.removeprefix(COUNT_SPEC).strip() for _, spec in specs)  # a count names its noun
