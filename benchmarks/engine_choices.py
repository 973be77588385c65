"""The measurements behind the engine's CPU defaults (cnnlens.training.engine, batches, squeeze_excite).

- steps: seconds per epoch of training steps (782 of batch 64, random inputs) for the model in
  channels_last or contiguous memory, with fused or foreach Adam, eager or through torch.compile,
  and for the attention CNN with squeeze-and-excitation's fused backward or through autograd;
- augmentation: seconds per epoch of augmenting 50,000 images in chunks of the given sizes, and of
  the colour jitter alone on contiguous images against a channels-last view (why random_crop gathers).

Configurations take turns (training steps one step each in turn, augmentation one run each), for
several rounds, and the minimum is printed beside every round: on a shared machine the minimum is the
least disturbed measurement. The process keeps freed memory (cnnlens.training.allocator), as ``cnnlens`` jobs do.

    python benchmarks/engine_choices.py --data "$(cnnlens where data)" [--model attention] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from cnnlens.data.augment import augment_batch, color_jitter
from cnnlens.data.dataset import Dataset
from cnnlens.models.cnn import BUILTIN_VARIANTS, build_model, use_fused_backward
from cnnlens.training.allocator import keep_freed_memory

STEPS_PER_EPOCH = 782  # 50,000 images in batches of 64
TRAIN_IMAGES = 50_000
STEP_CONFIGS = {  # name: (memory format, Adam's kernel, compile, squeeze-and-excitation's fused backward)
    "channels_last, fused Adam (the engine)": (torch.channels_last, "fused", False, True),
    "contiguous, fused Adam": (torch.contiguous_format, "fused", False, True),
    "channels_last, foreach Adam": (torch.channels_last, "foreach", False, True),
    "channels_last, fused Adam, torch.compile": (torch.channels_last, "fused", True, True),
    "channels_last, fused Adam, SE through autograd": (torch.channels_last, "fused", False, False),
}


def training_step(model_name: str, memory_format, adam: str, compiled: bool, fused_se: bool) -> Callable[[], None]:
    """One configuration's training step on a fixed random batch, warmed up (and compiled)."""
    torch.manual_seed(0)
    model = build_model(BUILTIN_VARIANTS[model_name], 32).to(memory_format=memory_format).train()
    use_fused_backward(model, fused_se)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, **{adam: True})
    forward = torch.compile(model) if compiled else model
    inputs = torch.randn(64, 3, 32, 32).contiguous(memory_format=memory_format)
    labels = torch.randint(0, 10, (64,))

    def step() -> None:
        loss = F.cross_entropy(forward(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    return step


def interleaved_seconds(calls: dict[str, Callable[[], None]], count: int) -> dict[str, float]:
    """Each call's mean seconds, the calls taking turns (in a rotating order) so that the machine's drift hits them
    alike."""
    totals = dict.fromkeys(calls, 0.0)
    names = list(calls)
    for index in range(count):
        turn = index % len(names)
        for name in names[turn:] + names[:turn]:
            started = time.perf_counter()
            calls[name]()
            totals[name] += time.perf_counter() - started
    return {name: total / count for name, total in totals.items()}


def step_seconds_per_epoch(steps: dict[str, Callable[[], None]], count: int) -> dict[str, float]:
    """Each configuration's seconds per epoch of steps, taking turns step by step (:func:`interleaved_seconds`)."""
    return {name: seconds * STEPS_PER_EPOCH for name, seconds in interleaved_seconds(steps, count).items()}


def augmentation_seconds_per_epoch(images: torch.Tensor, chunk: int) -> float:
    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    for start in range(0, len(images), chunk):
        augment_batch(images[start : start + chunk], generator)
    return (time.perf_counter() - started) / len(images) * TRAIN_IMAGES


def jitter_seconds_per_epoch(images: torch.Tensor, memory_format: torch.memory_format, chunk: int = 512) -> float:
    generator = torch.Generator().manual_seed(0)
    seconds = 0.0
    for start in range(0, len(images), chunk):
        floats = images[start : start + chunk].float().div_(255).contiguous(memory_format=memory_format)
        started = time.perf_counter()
        color_jitter(floats, 0.2, 0.2, 0.2, 0.1, generator)
        seconds += time.perf_counter() - started
    return seconds / len(images) * TRAIN_IMAGES


def print_rounds(title: str, results: dict[str, list[float]]) -> None:
    print(f"| {title} | s/epoch, each round | least |")
    print("|---|---|---|")
    for name, seconds in results.items():
        print(f"| {name} | {', '.join(f'{s:.1f}' for s in seconds)} | {min(seconds):.1f} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a data cache written by `cnnlens prepare-data`")
    parser.add_argument("--model", default="plain", choices=sorted(BUILTIN_VARIANTS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40, help="timed steps per configuration and round")
    parser.add_argument("--chunks", type=int, nargs="+", default=[8192, 512], help="augmentation chunk sizes")
    parser.add_argument("--augment-images", type=int, default=16384, help="images augmented per round")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    print(f"CPU, {args.threads} threads, torch {torch.__version__}, {args.model} CNN\n")

    has_se = BUILTIN_VARIANTS[args.model].attention == "se"
    step_functions = {
        name: training_step(args.model, *config) for name, config in STEP_CONFIGS.items() if has_se or config[3]
    }
    step_seconds = {name: [] for name in step_functions}
    images = Dataset.load(args.data).train_images[: args.augment_images]
    augmentation = {f"chunks of {chunk} images": [] for chunk in args.chunks}
    jitter_layouts = {
        "colour jitter alone, contiguous": torch.contiguous_format,
        "colour jitter alone, channels-last view": torch.channels_last,
    }
    augmentation |= {name: [] for name in jitter_layouts}
    for _ in range(args.rounds):
        for name, seconds in step_seconds_per_epoch(step_functions, args.steps).items():
            step_seconds[name].append(seconds)
        for chunk in args.chunks:
            augmentation[f"chunks of {chunk} images"].append(augmentation_seconds_per_epoch(images, chunk))
        for name, memory_format in jitter_layouts.items():
            augmentation[name].append(jitter_seconds_per_epoch(images, memory_format))
    print_rounds("training steps", step_seconds)
    print_rounds("augmentation", augmentation)


if __name__ == "__main__":
    main()
