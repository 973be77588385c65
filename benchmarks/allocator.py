"""What keeping freed memory in the process (cnnlens.training.allocator) does to CPU training epochs.

glibc's allocator settings hold for a whole process, so each measurement is a fresh process: one
with glibc's defaults, one with ``keep_freed_memory()``, taking turns (the order alternating by
round) so that this machine's drift hits both alike. Each trains the cnnlens engine for one epoch on
the first N training images and reports wall seconds and kernel CPU seconds scaled to 50,000 images,
page faults per step, and the process's peak resident memory. The kernel time is the direct cost of
the faults, and steadier than wall time on a shared machine.

    python benchmarks/allocator.py --data "$(cnnlens where data)" [--model attention] [--images 8000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

from cnnlens.data.dataset import Dataset
from cnnlens.models.cnn import BUILTIN_VARIANTS, build_model
from cnnlens.training.allocator import keep_freed_memory
from cnnlens.training.batches import TensorBatches, preferred_memory_format
from cnnlens.training.engine import Engine, TrainStep, make_optimizer

FULL_EPOCH = 50_000
WARMUP_STEPS = 10


def one_epoch(data_path: str, model_name: str, images: int, kept: bool) -> dict[str, float]:
    """Train one engine epoch in this process and measure it (the child's job)."""
    if kept:
        assert keep_freed_memory(), "glibc's mallopt is not available here"
    cpu = torch.device("cpu")
    data = Dataset.load(data_path)
    torch.manual_seed(0)
    model = build_model(BUILTIN_VARIANTS[model_name], data.train_images.shape[-1]).to(
        memory_format=preferred_memory_format(cpu)
    )
    step = TrainStep(model, make_optimizer(model, 1e-3, cpu), Engine())
    batches = TensorBatches(data.train_images[:images], data.train_labels[:images], 64, cpu, shuffle=True, augment=True)
    for done, (inputs, labels) in enumerate(batches, 1):  # allocator and caches in their steady state
        step(inputs, labels)
        if done == WARMUP_STEPS:
            break
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for inputs, labels in batches:
        step(inputs, labels)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    scale = FULL_EPOCH / images
    return {
        "wall": wall * scale,
        "kernel": (after.ru_stime - before.ru_stime) * scale,
        "faults_per_step": (after.ru_minflt - before.ru_minflt) / len(batches),
        "peak_rss_mib": after.ru_maxrss / 1024,
    }  # Linux reports KiB


def measure_in_child(args: argparse.Namespace, kept: bool) -> dict[str, float]:
    command = [
        sys.executable,
        __file__,
        "--data",
        args.data,
        "--model",
        args.model,
        "--images",
        str(args.images),
        "--child",
        "kept" if kept else "default",
    ]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a data cache written by `cnnlens prepare-data`")
    parser.add_argument("--model", default="plain", choices=sorted(BUILTIN_VARIANTS))
    parser.add_argument("--images", type=int, default=8000, help="training images per measured epoch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=["default", "kept"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_epoch(args.data, args.model, args.images, args.child == "kept")))
        return

    runs = {"glibc defaults": [], "keep_freed_memory()": []}
    for round_ in range(args.rounds):
        order = list(runs) if round_ % 2 == 0 else list(reversed(runs))
        for name in order:
            runs[name].append(measure_in_child(args, kept=name != "glibc defaults"))
    print(f"{args.model} CNN, {torch.get_num_threads()} threads, epochs of {args.images} images scaled to {FULL_EPOCH}")
    print("| allocator | wall s/epoch, each round | mean | kernel CPU s/epoch | page faults/step | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for name, results in runs.items():
        walls = [result["wall"] for result in results]
        kernel = statistics.mean(result["kernel"] for result in results)
        faults = statistics.mean(result["faults_per_step"] for result in results)
        peak = max(result["peak_rss_mib"] for result in results)
        print(
            f"| {name} | {', '.join(f'{wall:.1f}' for wall in walls)} | {statistics.mean(walls):.1f} | {kernel:.1f} "
            f"| {faults:.0f} | {peak:.0f} |"
        )


if __name__ == "__main__":
    main()
