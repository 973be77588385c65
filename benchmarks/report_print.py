"""How the report prints on A4: per edition, its pages, the smallest text of any figure as printed, and the
emptiest page but the last (cnnlens.reporting.legibility, the measurement the end-to-end tests hold to 6 pt and a
third of a page). Prints one Markdown table row per edition found in the report folder.

    python benchmarks/report_print.py results/report [--language en]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnlens.registry import EDITION_FILES
from cnnlens.reporting.legibility import page_fills, printed_figures


def row(folder: Path, edition: str, language: str) -> str:
    name = EDITION_FILES[edition]
    figures = printed_figures((folder / f"{name}.html").read_text(encoding="utf-8"), folder / f"{name}.pdf")
    fills = page_fills(folder / f"{name}.pdf")
    smallest = min(figures, key=lambda figure: figure.smallest_text)
    emptiest = min(range(len(fills) - 1), key=fills.__getitem__, default=None)
    least = f"{fills[emptiest]:.0%} (page {emptiest + 1})" if emptiest is not None else "-"
    return (
        f"| {edition} | {language} | {len(fills)} | {len(figures)} | "
        f"{smallest.smallest_text:.1f} pt (figure {smallest.number}) | {least} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the report folder (results/report)")
    parser.add_argument("--language", default="en", help="the report's language, for the table")
    arguments = parser.parse_args()
    print("| edition | language | A4 pages | figures | smallest printed text | emptiest page but the last |")
    print("|---|---|---|---|---|---|")
    for edition, name in EDITION_FILES.items():
        if (arguments.folder / f"{name}.pdf").is_file():
            print(row(arguments.folder, edition, arguments.language))


if __name__ == "__main__":
    main()
