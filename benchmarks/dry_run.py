"""How long Snakemake takes to plan the workflow (a dry run), for one or more checkouts of cnnlens side by side.

Planning runs before every job and every ``snakemake`` command, so what the Snakefile does while it plans (config
checks, input files checked, keys computed) is paid at every start. Each round dry-runs every checkout once, in
turns whose order alternates, in a fresh working directory on a tiny generated ImageFolder (nothing done yet: the
whole DAG is planned), with the checkout's ``src/`` first on ``PYTHONPATH``. With ``--weights`` the config names a
VGG16 state_dict file of that many bytes' worth of zeros in VGG16's shapes (the planning check reads its keys and
shapes). Prints the median and the least seconds of each.

    python benchmarks/dry_run.py --checkouts /tmp/before . [--rounds 5] [--weights]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

TINY = {
    "data": {"source": "imagefolder", "path": "images"},
    "train": {"epochs": 1, "batch_size": 8},
    "vgg": {"weights": "none"},
}


def tiny_project(folder: Path, weights: bool) -> Path:
    """A working directory with three classes of two training and one test image, and tiny.yaml."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 2), ("test", 1)):
        for name in ("cat", "dog", "ship"):
            (folder / "images" / split / name).mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / "images" / split / name / f"{index}.png")
    config = dict(TINY)
    if weights:
        import torch
        from torchvision.models import vgg16

        torch.save({key: torch.zeros_like(value) for key, value in vgg16().state_dict().items()}, folder / "vgg.pt")
        config["vgg"] = {"weights": "vgg.pt"}
    (folder / "tiny.yaml").write_text(yaml.safe_dump(config))
    return folder


def dry_run_seconds(checkout: Path, workdir: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(checkout / "src"))
    command = [sys.executable, "-m", "snakemake", "-s", str(checkout / "Snakefile")]
    command += ["--configfile", str(checkout / "config.yaml"), "tiny.yaml", "--cores", "2", "--dry-run", "--quiet"]
    start = time.perf_counter()
    subprocess.run(command, cwd=workdir, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkouts", nargs="+", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--weights", action="store_true", help="name a VGG16 weights file in the config")
    args = parser.parse_args()
    checkouts = [path.resolve() for path in args.checkouts]
    seconds: dict[Path, list[float]] = {checkout: [] for checkout in checkouts}
    with tempfile.TemporaryDirectory() as folder:
        workdir = tiny_project(Path(folder), args.weights)
        for round_ in range(args.rounds):
            for checkout in checkouts if round_ % 2 == 0 else reversed(checkouts):
                seconds[checkout].append(dry_run_seconds(checkout, workdir))
    for checkout, times in seconds.items():
        print(f"{checkout}: median {statistics.median(times):.2f} s, least {min(times):.2f} s over {len(times)}")


if __name__ == "__main__":
    main()
