"""Every text a reader of the report sees, by key, in one table per language (``<language>.yaml`` here).

Code asks for a text with :func:`text` and fills in the numbers; it holds no prose of its own. A text
missing from the table of the chosen language is an error, so that no section silently falls back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import yaml

from cnnlens.errors import CnnlensError

LANGUAGES = ("en", "zh")
# CIFAR-10's classes in torchvision's order: the one class list whose names the tables translate.
CIFAR10_CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_chosen = {"language": "en"}


def set_language(language: str) -> None:
    """Choose the language of every later :func:`text` (the report's ``report.language``)."""
    if language not in LANGUAGES:
        raise CnnlensError(f"no texts in language '{language}': choose one of {', '.join(LANGUAGES)}")
    _chosen["language"] = language


def language() -> str:
    return _chosen["language"]


@cache
def table(language: str) -> dict[str, str]:
    """Key -> template of one language."""
    return yaml.safe_load((Path(__file__).parent / f"{language}.yaml").read_text(encoding="utf-8"))


def text(key: str, **values: object) -> str:
    """The text ``key`` in the chosen language, with ``{name}`` fields filled from ``values``."""
    templates = table(_chosen["language"])
    if key not in templates:
        raise KeyError(f"text '{key}' has no {_chosen['language']} translation in cnnlens/texts/")
    return templates[key].format(**values)


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
