"""Fixtures: Chinese texts, tiny image folders made on the fly, and one end-to-end run shared by the tests that
read its files (the helpers that make them are in helpers.py)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import matplotlib as mpl
import pytest

from cnnlens import texts
from cnnlens.texts import set_language

from helpers import PANGO, KeyTable, make_image_folder, snakemake, tiny_workdir


@pytest.fixture
def chinese():
    """Chinese texts, and matplotlib's settings restored afterwards whatever the test changed."""
    set_language("zh")
    with mpl.rc_context():
        yield
    set_language("en")


@pytest.fixture
def text_keys(monkeypatch: pytest.MonkeyPatch):
    """Texts rendered as their key and fields (``⟨verdict.faithful model=plain auc=0.2100⟩``), so that a test asserts
    what a sentence says (which text, which numbers) and not its English wording."""
    english = texts.table("en")
    monkeypatch.setattr(texts, "table", lambda _language: KeyTable(english))


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "images", {"train": 4, "test": 2})


@pytest.fixture
def image_tarball(image_folder: Path, tmp_path: Path) -> Path:
    archive = tmp_path / "images.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for split in ("train", "test"):
            tar.add(image_folder / split, arcname=split)
    return archive


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline run once for the session (3 variants, 2 seeds, both editions, printed where Pango is):
    tests read its files and dry-run it with other configs; they add only their own config files, a photo and a
    provenance archive."""
    workdir = tiny_workdir(
        tmp_path_factory.mktemp("pipeline"),
        seeds=[0, 1],
        models=["plain", "attention", "cbam"],
        variants={"cbam": {"attention": "cbam", "blocks": [3]}},
        report={"pdf": PANGO},  # without Pango, the tests that read the PDFs skip
    )
    first = snakemake(workdir)
    assert first.returncode == 0, first.stderr[-3000:]
    return workdir
