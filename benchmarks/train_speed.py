"""Seconds per training epoch: the source recipe's DataLoader pipeline against the cnnlens engine.

Both train the same model on the same data in one process, taking turns epoch by epoch:
- source: a Dataset of PIL images with torchvision's per-image transforms (RandomCrop(32, padding=4),
  RandomHorizontalFlip, ColorJitter(0.2, 0.2, 0.2, 0.1), RandomRotation(15), ToTensor, Normalize),
  a DataLoader (batch 64, shuffle), Adam, and ``loss.item()`` after every step, as the source does;
- cnnlens: uint8 data on the device, batched augmentation, and cnnlens.training.engine's engine (compile and
  CUDA graph as the config's ``auto`` picks them).
The process keeps freed memory (cnnlens.training.allocator), as every ``cnnlens`` job does; that setting holds
for the whole process, so the source recipe gets it too (benchmarks/allocator.py measures it alone).
Only the training epochs are timed (no evaluation). The first engine epoch includes compilation and
capture, so the ratio compares the epochs after the first.

    python benchmarks/train_speed.py --data "$(cnnlens where data)" [--model attention] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Iterator

import torch
from torch import nn
from torchvision import transforms

from cnnlens.data.dataset import CIFAR10_MEAN, CIFAR10_STD, Dataset
from cnnlens.models.cnn import BUILTIN_VARIANTS, build_model
from cnnlens.training.allocator import keep_freed_memory
from cnnlens.training.batches import TensorBatches, preferred_memory_format
from cnnlens.training.engine import Engine, TrainStep, make_optimizer
from cnnlens.training.recipe import pick_device

SOURCE_TRANSFORM = transforms.Compose(
    [
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.1),
        transforms.RandomRotation(15),
        transforms.ToTensor(),
        transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD),
    ]
)


class SourceDataset(torch.utils.data.Dataset):
    """The uint8 cache served as PIL images, like torchvision's CIFAR10 data set."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images = images.permute(0, 2, 3, 1).numpy()  # HWC, as PIL wants
        self.labels = labels.tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        from PIL import Image

        return SOURCE_TRANSFORM(Image.fromarray(self.images[index])), self.labels[index]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def source_epochs(model: nn.Module, dataset, device, workers: int) -> Iterator[None]:
    """Trains one epoch per ``next()``, as the source does."""
    loader = torch.utils.data.DataLoader(SourceDataset(*dataset), batch_size=64, shuffle=True, num_workers=workers)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    while True:
        losses = []
        for host_inputs, host_labels in loader:
            inputs, labels = host_inputs.to(device), host_labels.to(device)
            loss = nn.functional.cross_entropy(model(inputs), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        yield


def engine_epochs(model: nn.Module, dataset, device, engine: Engine) -> Iterator[None]:
    """Trains one epoch per ``next()`` with the cnnlens engine."""
    batches = TensorBatches(*dataset, 64, device, shuffle=True, augment=True)
    step = TrainStep(model, make_optimizer(model, 1e-3, device, engine), engine)
    model.train()
    while True:
        losses = torch.stack([step(inputs, labels)[0] for inputs, labels in batches]).cpu()  # one read per epoch
        assert torch.isfinite(losses).all()
        yield


def time_epochs(recipes: dict[str, Iterator[None]], epochs: int, device: torch.device) -> dict[str, list[float]]:
    """Seconds of each recipe's epochs, taken in turns (one epoch of each, then the next), so that a
    machine that speeds up or slows down during the run does so for all of them alike."""
    times = {name: [] for name in recipes}
    for _ in range(epochs):
        for name, trainer in recipes.items():
            started = time.perf_counter()
            next(trainer)
            synchronize(device)
            times[name].append(time.perf_counter() - started)
    return times


def machine(device: torch.device, threads: int) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return f"{platform.processor() or platform.machine()} CPU, {threads} threads, torch {torch.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a data cache written by `cnnlens prepare-data`")
    parser.add_argument("--model", default="plain", choices=sorted(BUILTIN_VARIANTS))
    parser.add_argument("--epochs", type=int, default=2, help="epochs per recipe (the first engine epoch compiles)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the source recipe")
    parser.add_argument("--compile", default="auto", choices=["auto", "true", "false"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--train-images", type=int, help="time on the first N training images only")
    parser.add_argument("--skip-source", action="store_true", help="time the engine only")
    parser.add_argument("--out", help="also write the results as JSON here")
    args = parser.parse_args()

    keep_freed_memory()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    data = Dataset.load(args.data)
    dataset = (data.train_images[: args.train_images], data.train_labels[: args.train_images])
    compile_option = {"true": True, "false": False}.get(args.compile, "auto")
    engine = Engine(compile=compile_option, precision=args.precision)

    def fresh_model() -> nn.Module:
        torch.manual_seed(0)
        return build_model(BUILTIN_VARIANTS[args.model], data.train_images.shape[-1]).to(device)

    recipes = {} if args.skip_source else {"source": source_epochs(fresh_model(), dataset, device, args.workers)}
    engine_model = fresh_model().to(memory_format=preferred_memory_format(device))
    recipes["engine"] = engine_epochs(engine_model, dataset, device, engine)
    times = time_epochs(recipes, args.epochs, device)
    results = {
        "machine": machine(device, args.threads),
        "model": args.model,
        "images": len(dataset[1]),
        "engine": vars(engine) | {"compiles": engine.compiles_on(device)},
        "engine_seconds": times["engine"],
    }
    if "source" in times:
        results |= {"source_seconds": times["source"], "source_workers": args.workers}
    report(results)
    if args.out:
        with open(args.out, "w") as file:
            json.dump(results, file, indent=2)


def steady(times: list[float]) -> float:
    """Mean over the epochs after the first (the first alone when there is one)."""
    return statistics.mean(times[1:] or times)


def report(results: dict) -> None:
    print(
        f"{results['machine']}; {results['model']} CNN; {results['images']} training images; engine {results['engine']}"
    )
    print("| recipe | s/epoch, each epoch | s/epoch after the first |")
    print("|---|---|---|")
    rows = [("cnnlens engine", results["engine_seconds"])]
    if "source_seconds" in results:
        rows.insert(0, (f"source DataLoader, num_workers={results['source_workers']}", results["source_seconds"]))
    for name, times in rows:
        print(f"| {name} | {', '.join(f'{t:.2f}' for t in times)} | {steady(times):.2f} |")
    if "source_seconds" in results:
        print(f"speed-up: {steady(results['source_seconds']) / steady(results['engine_seconds']):.2f}x")


if __name__ == "__main__":
    main()
