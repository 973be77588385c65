"""Tests assert what a text says (its key, its fields, its numbers), not its English wording: improving a sentence
must not break a test that guards no behaviour.

An assertion pins wording when a string in it (or in ``pytest.raises(match=...)``) holds three or more English
words in a row; at most ``WORDING_ALLOWED`` may, each marked ``# wording is the behaviour`` on its line, where the
words are what is tested (a one-line error message a user reads and acts on).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from helpers import REPO

WORDING_ALLOWED = 10
MARK = "# wording is the behaviour"
RUN = re.compile(r"(?:[A-Za-z]+|\d+)(?:[,;:']?\s+(?:[A-Za-z]+|\d+))+")  # words and numbers, space apart


def is_prose(string: str) -> bool:
    """Three words or numbers in a row, three of them words of two letters or more: "the first 2 channels"."""
    for run in RUN.finditer(string):
        tokens = re.split(r"[,;:']?\s+", run[0])
        if len(tokens) >= 3 and sum(token.isalpha() and len(token) > 1 for token in tokens) >= 3:
            return True
    return False


def prose(node: ast.AST) -> list[str]:
    """The strings of ``node`` (f-strings' literal parts included) with three English words or more in a row."""
    return [
        each.value
        for each in ast.walk(node)
        if isinstance(each, ast.Constant) and isinstance(each.value, str) and is_prose(each.value)
    ]


def pinned_wording(source: str) -> list[tuple[int, str]]:
    """``(line, string)`` of each assertion of ``source`` that pins English wording."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assert):
            found += [(node.lineno, each) for each in prose(node.test)]
        elif isinstance(node, ast.Call):
            found += [
                (node.lineno, each) for keyword in node.keywords if keyword.arg == "match" for each in prose(keyword)
            ]
    return found


def test_the_detector_finds_a_sentence_and_not_keys_names_or_numbers():
    source = (
        'assert "the first 2 channels" in title\n'
        "assert said == [('verdict.faithful', {'model': 'plain'})]\n"
        'assert f"{path} is not a report" in message\n'
        'with pytest.raises(CnnlensError, match="train.epochs"):\n    pass\n'
        'with pytest.raises(CnnlensError, match="must be a whole number"):\n    pass\n'
    )
    assert [line for line, _ in pinned_wording(source)] == [1, 3, 6]


def test_at_most_ten_assertions_pin_english_wording_each_marked_where_wording_is_the_behaviour():
    unmarked, marked = [], []
    for path in sorted((REPO / "tests").glob("*.py")):
        lines = path.read_text().splitlines()
        for line, string in pinned_wording(path.read_text()):
            (marked if MARK in lines[line - 1] else unmarked).append(f"{Path(path).name}:{line}: {string!r}")
    assert not unmarked, "assert keys, fields and numbers (the text_keys fixture), not wording:\n" + "\n".join(unmarked)
    assert len(marked) <= WORDING_ALLOWED, "\n".join(marked)
