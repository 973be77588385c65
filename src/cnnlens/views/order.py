"""The order in which tables and figures list things: the different values, sorted or as they first appear,
and figure-sized slices of many."""

from __future__ import annotations

from collections.abc import Hashable, Iterable


def distinct(values: Iterable[Hashable]) -> list:
    """The different values, sorted: the seeds of several runs, the epochs they trained for."""
    return sorted(set(values))


def in_order(values: Iterable[Hashable]) -> list:
    """The different values in the order they first appear: the layers of a table, its models."""
    return list(dict.fromkeys(values))


def chunks(count: int, size: int) -> list[slice]:
    """Slices of ``count`` items, ``size`` at a time: the images of one figure each."""
    return [slice(start, start + size) for start in range(0, count, size)]
