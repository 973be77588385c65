"""Fixtures: tiny image folders made on the fly (the helpers that make them are in helpers.py)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from helpers import make_image_folder


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
