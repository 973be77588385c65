"""What tests share: tiny data made on the fly (so tests never need downloads), and the workflow run on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from snakemake.utils import update_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
CLASSES = ("cat", "dog", "ship")


def make_image_folder(
    root: Path,
    per_class: dict[str, int],
    size: tuple[int, int] = (32, 32),
    seed: int = 0,
    classes: tuple[str, ...] = CLASSES,
) -> Path:
    """Write ``split/class/NNN.png`` images whose mean colour encodes the class (so labels are checkable).

    ``size`` is PIL's (width, height).
    """
    rng = np.random.default_rng(seed)
    step = min(100, 215 // max(1, len(classes) - 1))  # brightness steps between classes; pixels stay below 256
    for split, count in per_class.items():
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                pixels = rng.integers(0, 40, (size[1], size[0], 3)) + step * label
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{index:03d}.png")
    return root


def tiny_workdir(workdir: Path, classes: tuple[str, ...] = CLASSES, **config) -> Path:
    """A working directory for the real pipeline on tiny generated data: ``images/`` and ``tiny.yaml``.

    tiny.yaml: the images, 1 epoch of batch 8, random VGG16 weights; ``config`` is merged in as Snakemake
    merges config files (nested keys one by one).
    """
    make_image_folder(workdir / "images", {"train": 6, "test": 2}, classes=classes)
    tiny = {
        "data": {"source": "imagefolder", "path": "images"},
        "train": {"epochs": 1, "batch_size": 8},
        "vgg": {"weights": "none"},
    }
    update_config(tiny, config)
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    return workdir


def snakemake(
    workdir: Path,
    *arguments: str,
    cores: int | None = 2,
    path: tuple[Path, ...] = (),
    configfiles: tuple[str, ...] = ("tiny.yaml",),
    repo: Path = REPO,
    base_config: bool = True,
) -> subprocess.CompletedProcess:
    """The workflow of ``repo`` in ``workdir`` with its config.yaml and ``configfiles`` (tiny.yaml) merged on top.

    ``base_config=False`` leaves the repository's config.yaml out (``configfiles`` then hold everything);
    ``cores=None`` leaves ``--cores`` out (a cluster executor needs none); ``path`` goes first on PATH.
    """
    # The rules call `cnnlens` and `papermill`: put this interpreter's scripts first on PATH.
    env = dict(
        os.environ, PATH=os.pathsep.join([*map(str, path), str(Path(sys.executable).parent), os.environ["PATH"]])
    )
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(repo / "Snakefile"),
        "--configfile",
        *([str(repo / "config.yaml")] if base_config else []),
        *configfiles,
        "--directory",
        str(workdir),
        *(["--cores", str(cores)] if cores else []),
        *arguments,
    ]
    # check=False: the callers assert on the return code and the output, failures included
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, check=False)
