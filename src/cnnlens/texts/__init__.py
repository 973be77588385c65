"""Every text a reader of the report sees, by key, in one table per language (``<language>.yaml`` here).

Code asks for a text with :func:`text` and fills in the numbers; it holds no prose of its own. A text
missing from the table of the chosen language is an error, so that no section silently falls back.

Two format specs let a table word a field the way its language needs, where a plain ``{field}`` would not do:
``{steps:count step}`` is the count with its noun, "1 step", "4 steps" (:func:`counted`; a plural other than
noun + s after a bar: ``{pairs:count pair|pairs} of seeds``), and ``{true:a}`` is the word after its indefinite
article, "an airplane", "a bird" (:func:`indefinite`). English needs them; Chinese inflects neither and words the
same fields plainly ("{steps} 步").
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import yaml

from cnnlens.errors import CnnlensError

LANGUAGES = ("en", "zh")
# CIFAR-10's classes in torchvision's order: the one class list whose names the tables translate.
CIFAR10_CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_chosen = {"language": "en"}
COUNT_SPEC = "count "  # {steps:count step}: the count with its noun
ARTICLE_SPEC = "a"  # {true:a}: the word after its indefinite article


def set_language(language: str) -> None:
    """Choose the language of every later :func:`text` (the report's ``report.language``)."""
    if language not in LANGUAGES:
        raise CnnlensError(f"no texts in language '{language}': choose one of {', '.join(LANGUAGES)}")
    _chosen["language"] = language


def language() -> str:
    return _chosen["language"]


@cache
def table(language: str) -> dict[str, str]:
    """Key -> template of one language: a :class:`Template` where the table holds a string, as it must."""
    loaded = yaml.safe_load((Path(__file__).parent / f"{language}.yaml").read_text(encoding="utf-8"))
    return {key: Template(value) if isinstance(value, str) else value for key, value in loaded.items()}


def text(key: str, **values: object) -> str:
    """The text ``key`` in the chosen language, with ``{name}`` fields filled from ``values``."""
    templates = table(_chosen["language"])
    if key not in templates:
        raise KeyError(f"text '{key}' has no {_chosen['language']} translation in cnnlens/texts/")
    return templates[key].format(**values)


def counted(number: object, singular: str, plural: str | None = None) -> str:
    """``number`` and its noun, as the chosen language counts: "1 step", "4 steps" ("1, 2 epochs" for a list).

    English takes the singular only where the count reads "1", and the plural ``plural`` or else the singular
    with an s; Chinese has no plural and keeps ``singular`` ("4 步").
    """
    if _chosen["language"] == "en" and str(number) != "1":
        return f"{number} {plural or singular + 's'}"
    return f"{number} {singular}"


def indefinite(word: object) -> str:
    """``word`` after its indefinite article in the chosen language: "an airplane", "a bird"; Chinese has none.

    English takes "an" before a written vowel (a, e, i, o, u), which misses the few words whose sound differs
    ("a unicorn", "an hour").
    """
    if _chosen["language"] != "en":
        return str(word)
    return f"{'an' if str(word)[:1].lower() in ('a', 'e', 'i', 'o', 'u') else 'a'} {word}"


class _TextFormatter(string.Formatter):
    """``str.format`` plus the tables' two specs: ``count <noun>[|<plural>]`` (:func:`counted`) and ``a``
    (:func:`indefinite`)."""

    def format_field(self, value: object, format_spec: str) -> str:
        if format_spec.startswith(COUNT_SPEC):
            singular, _, plural = format_spec.removeprefix(COUNT_SPEC).partition("|")
            return counted(value, singular, plural or None)
        if format_spec == ARTICLE_SPEC:
            return indefinite(value)
        return super().format_field(value, format_spec)


_FORMATTER = _TextFormatter()


class Template(str):
    """A text of a table: a string whose :meth:`format` also knows the specs ``count <noun>`` and ``a``."""

    __slots__ = ()

    def format(self, *args: object, **kwargs: object) -> str:
        return _FORMATTER.vformat(self, args, kwargs)


def class_names(classes: Sequence[str]) -> list[str]:
    """The names a reader sees for a data set's ``classes``, in the chosen language.

    CIFAR-10's classes have a text each (``classes.cifar10.<name>``); any other list is an ImageFolder set's
    folder names, chosen by its user in no particular language, and stays as it is.
    """
    if tuple(classes) != CIFAR10_CLASS_NAMES:
        return list(classes)
    return [text(f"classes.cifar10.{name}") for name in classes]


def listing(items: Iterable[object]) -> str:
    """Items as one list in running text in the chosen language ("conv1, conv2, conv3"; "conv1、conv2")."""
    return text("style.list_separator").join(map(str, items))
