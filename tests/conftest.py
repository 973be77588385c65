"""Shared fixtures: tiny data made on the fly, so tests never need downloads or ../shared."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
CLASSES = ("cat", "dog", "ship")


def make_image_folder(root: Path, per_class: dict[str, int], size: tuple[int, int] = (32, 32), seed: int = 0) -> Path:
    """Write ``split/class/NNN.png`` images whose mean colour encodes the class (so labels are checkable).

    ``size`` is PIL's (width, height).
    """
    rng = np.random.default_rng(seed)
    for split, count in per_class.items():
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                pixels = rng.integers(0, 40, (size[1], size[0], 3)) + 100 * label
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{index:03d}.png")
    return root


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
