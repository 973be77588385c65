"""What measuring the explanations of one model costs: heatmaps, deletion and insertion, channel removal, sanity checks.

For one model it runs, on ``--images`` test images (a seeded sample), every heatmap method that applies to the
model, the deletion and insertion curves with ``--steps`` steps and Average Drop / Increase in Confidence of each,
first alone and then with the controls the report reads (each method's inverted map, the other fill, twice the
steps), and the channel removal of every block; then the cascading randomisation sanity check on the first
``--sanity-images``. The faithfulness job runs the same work, with the controls.
It prints the seconds of each part and the total. Without ``--data`` (or when the file is missing) the images are
random 32x32 tensors with random labels; without ``--checkpoint`` the model has its random initial weights, which
costs the same arithmetic as a trained one.

    python benchmarks/faithfulness.py [--data "$(cnnlens where data)"] \\
        [--checkpoint "$(cnnlens where run <model> 0)/model.pt"] [--model plain|attention|cbam] \\
        [--images 1000] [--steps 8] [--sanity-images 100]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from cnnlens.data.dataset import Dataset, normalize
from cnnlens.interpret.channel_removal import channel_removal
from cnnlens.interpret.deletion_insertion import STEPS, evaluate_faithfulness
from cnnlens.interpret.heatmap_methods import heatmaps
from cnnlens.interpret.sanity import cascading_randomisation
from cnnlens.models.cnn import CIFAR10_CLASSES, Architecture, build_model
from cnnlens.training.allocator import keep_freed_memory

ARCHITECTURES = {
    "plain": Architecture(),
    "attention": Architecture(attention="se"),
    "cbam": Architecture(attention="cbam"),
}


def load_inputs(data: Path | None, count: int) -> tuple[torch.Tensor, torch.Tensor, int, str]:
    """Normalised test images, their labels, the number of classes, and where they came from."""
    if data is not None and data.exists():
        dataset = Dataset.load(data)
        # a seeded sample: an ImageFolder cache holds its test images class by class
        chosen = torch.randperm(len(dataset.test_labels), generator=torch.Generator().manual_seed(0))[:count]
        images = normalize(dataset.test_images[chosen])
        return images, dataset.test_labels[chosen], len(dataset.classes), f"{data} (a seeded sample)"
    generator = torch.Generator().manual_seed(0)
    images = normalize(torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, generator=generator))
    labels = torch.randint(0, CIFAR10_CLASSES, (count,), generator=generator)
    return images, labels, CIFAR10_CLASSES, "random 32x32 images"


class Timed:
    """Wall and process CPU seconds of a block, printed and kept under ``label``.

    On a shared machine the wall time includes other processes' turns; the CPU seconds divided by the threads are
    what the block would take alone, if its threads were busy all along.
    """

    def __init__(self, label: str, seconds: dict[str, tuple[float, float]]) -> None:
        self.label, self.seconds = label, seconds

    def __enter__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def __exit__(self, *exc: object) -> None:
        wall, cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        self.seconds[self.label] = (wall, cpu)
        print(f"{self.label:<40} {wall:7.1f} s wall {cpu:7.1f} s CPU", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--model", choices=sorted(ARCHITECTURES), default="plain")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--sanity-images", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=None, help="images per forward pass (the library's default)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    keep_freed_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    images, labels, classes, source = load_inputs(args.data, args.images)
    model = build_model(ARCHITECTURES[args.model], images.shape[-1], classes)
    if args.checkpoint is not None:
        model.load_state_dict(torch.load(args.checkpoint, weights_only=True, map_location="cpu"))
    weights = args.checkpoint or "random initial weights"
    print(f"{args.model} ({weights}), {len(images)} images from {source}, steps {args.steps}")
    print(f"cpu, {torch.get_num_threads()} threads, torch {torch.__version__}\n")

    seconds: dict[str, tuple[float, float]] = {}
    with Timed("heatmaps (all methods)", seconds):
        maps = heatmaps(model, images, batch_size=args.batch_size)
    options = {"steps": args.steps, "batch_size": args.batch_size, "maps": maps}
    alone: dict[str, tuple[float, float]] = {}
    with Timed(f"deletion, insertion, ADIC ({len(maps)} methods)", alone):
        evaluate_faithfulness(model, images, controls=False, **options)
    with Timed("the same with the controls", seconds):
        evaluation = evaluate_faithfulness(model, images, **options)
    with Timed("channel removal", seconds):
        removal = channel_removal(model, images, labels, batch_size=args.batch_size)
    with Timed(f"sanity checks ({min(args.sanity_images, len(images))} images)", seconds):
        sanity = cascading_randomisation(model, images[: args.sanity_images], batch_size=args.batch_size)
    wall, cpu = (sum(values) for values in zip(*seconds.values(), strict=True))
    print(f"{'total (the job: maps, controls, removal, sanity)':<40} {wall:7.1f} s wall {cpu:7.1f} s CPU\n")
    for method, scores in evaluation.scores.items():
        curves = scores.curves
        print(
            f"{method:<18} deletion {curves.deletion_auc.mean():.3f} insertion {curves.insertion_auc.mean():.3f} "
            f"score {curves.score.mean():+.3f} tied pixels {scores.tied_share.mean():.1%}"
        )
    print(f"\n{len(removal.table)} channel-removal rows, {len(sanity.steps)} sanity rows")


if __name__ == "__main__":
    main()
