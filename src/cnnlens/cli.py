"""``cnnlens <step>``: the entry points that the Snakemake rules call.

Every step reads files and writes files. Known failures (bad data, bad arguments) end with one line
on stderr and exit status 2; outputs are written atomically, so a failed step leaves none behind.
Steps import their heavy modules (nbconvert, scipy, torchvision's model zoo) when they run: each job
pays Python's start-up, and importing everything cost every job about 4 s more.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch
import yaml

from cnnlens.interpret.activations import extract
from cnnlens.training.allocator import keep_freed_memory
from cnnlens.data.dataset import Dataset, load_dataset, save_dataset
from cnnlens.data.sources import load_cifar10, load_image_folder
from cnnlens.errors import CnnlensError
from cnnlens.atomic import atomic_torch_save, atomic_write_json, atomic_write_text, remove_stale_temporaries
from cnnlens.models.cnn import Architecture, build_model, count_parameters
from cnnlens.training.batches import TensorBatches, preferred_memory_format
from cnnlens.training.checkpoint import EpochCheckpoint
from cnnlens.training.engine import Engine
from cnnlens.training.recipe import Recipe, confusion_matrix, fit, pick_device, seconds_per_epoch


def prepare_data(args: argparse.Namespace) -> None:
    if args.source == "cifar10":
        dataset = load_cifar10(args.path, args.image_size)
    else:
        dataset = load_image_folder(args.path, args.image_size)
    save_dataset(dataset, args.out)
    print(f"{dataset.source}: {len(dataset.train_labels)} train and {len(dataset.test_labels)} test images, "
          f"{len(dataset.classes)} classes -> {args.out}")


def train(args: argparse.Namespace) -> None:
    recipe = Recipe(**json.loads(args.recipe))
    engine = Engine(**json.loads(args.engine))
    architecture = Architecture(**json.loads(args.architecture))
    device = pick_device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dataset = load_dataset(args.data)
    image_size = dataset.train_images.shape[-1]
    model = build_model(architecture, image_size, len(dataset.classes))
    model = model.to(device, memory_format=preferred_memory_format(device))
    train_batches = TensorBatches(dataset.train_images, dataset.train_labels, recipe.batch_size, device,
                                  shuffle=True, augment=recipe.augment, seed=args.seed)
    test_batches = TensorBatches(dataset.test_images, dataset.test_labels, 1000, device)
    out = Path(args.out_dir)
    remove_stale_temporaries(out / "resume.pt")  # a kill while it was being saved
    # What a resumed run must share with the killed one; the data cache by size and modification time.
    data = Path(args.data).stat()
    run_key = dict(architecture=asdict(architecture), recipe=asdict(recipe), seed=args.seed, device=device.type,
                   precision=engine.precision, data=[data.st_size, data.st_mtime_ns])
    checkpoint = EpochCheckpoint(out / "resume.pt", run_key)
    print(f"training {args.model} (seed {args.seed}) on {_describe(device, args.threads)}: {architecture}, {recipe}, {engine}")
    result = fit(model, train_batches, test_batches, recipe, engine, checkpoint)

    history = pd.DataFrame(result.history)
    atomic_torch_save(model.state_dict(), out / "model.pt")
    atomic_write_text(history.to_csv(index=False), out / "history.csv")
    iterations = pd.DataFrame({"iteration": range(1, len(result.iteration_losses) + 1),
                               "loss": result.iteration_losses})
    atomic_write_text(iterations.to_csv(index=False), out / "iterations.csv")
    confusion = confusion_matrix(model, test_batches, len(dataset.classes)).numpy()
    confusion_table = pd.DataFrame(confusion, index=dataset.classes, columns=dataset.classes)
    atomic_write_text(confusion_table.rename_axis("true \\ predicted").to_csv(), out / "confusion.csv")
    best = history.loc[history["test_accuracy"].idxmax()]
    metrics = {
        "model": args.model,
        "seed": args.seed,
        "epochs": recipe.epochs,
        "final_test_accuracy": float(history["test_accuracy"].iloc[-1]),
        "final_test_loss": float(history["test_loss"].iloc[-1]),
        "best_test_accuracy": float(best["test_accuracy"]),
        "best_epoch": int(best["epoch"]),
        "parameters": count_parameters(model),
        "device": _describe(device, args.threads),
        "seconds_per_epoch": seconds_per_epoch(result.history),
        "seconds_total": float(history["seconds"].sum()),
        "recipe": asdict(recipe),
        "engine": asdict(engine),
        "architecture": asdict(architecture),
        "torch": torch.__version__,
    }
    atomic_write_json(metrics, out / "metrics.json")
    checkpoint.remove()  # the run is complete: model.pt and the tables above replace it
    print(f"final test accuracy {metrics['final_test_accuracy']:.4f}, best {metrics['best_test_accuracy']:.4f}")


def _trained_model(args: argparse.Namespace) -> tuple[torch.nn.Module, Dataset]:
    """The data set and the trained model a per-model analysis step works on (on the CPU, threads as given)."""
    torch.set_num_threads(args.threads)
    dataset = load_dataset(args.data)
    architecture = Architecture(**json.loads(args.architecture))
    model = build_model(architecture, dataset.train_images.shape[-1], len(dataset.classes))
    try:
        model.load_state_dict(torch.load(args.checkpoint, weights_only=True, map_location="cpu"))
    except RuntimeError as error:  # another architecture, or another number of classes than the data's
        detail = str(error).strip().splitlines()[-1].strip()
        raise CnnlensError(f"checkpoint {args.checkpoint} does not fit variant '{args.model}' on {args.data} "
                           f"({detail}): rebuild it with the train rule") from None
    return model, dataset


def activations(args: argparse.Namespace) -> None:
    model, dataset = _trained_model(args)
    stored = extract(model, dataset, args.layers, args.images_per_class, args.max_images)
    stored.update(model=args.model, seed=args.seed)
    atomic_torch_save(stored, args.out)
    shapes = ", ".join(f"{name} {tuple(shape)}" for name, shape in stored["layer_shapes"].items())
    print(f"{len(stored['labels'])} images: {shapes} -> {args.out}")


def depth_stats(args: argparse.Namespace) -> None:
    from cnnlens.interpret import steps as analyses

    model, dataset = _trained_model(args)
    table = analyses.depth_summary(model, dataset, args.layers)
    atomic_write_text(table.assign(model=args.model, seed=args.seed).to_csv(index=False), args.out)
    print(table.to_string(index=False))


def attention_weights(args: argparse.Namespace) -> None:
    from cnnlens.interpret import steps as analyses

    model, dataset = _trained_model(args)
    stored = analyses.attention_weights(model, dataset)
    if not stored["weights"]:
        raise CnnlensError(f"model '{args.model}' has no attention modules: its variant has attention: none")
    atomic_torch_save({**stored, "model": args.model, "seed": args.seed}, args.out)
    print(", ".join(f"{name} {tuple(weights.shape)}" for name, weights in stored["weights"].items()))


def explain(args: argparse.Namespace) -> None:
    from cnnlens.interpret import steps as analyses

    model, dataset = _trained_model(args)
    stored = analyses.explain(model, dataset, args.layers, args.images_per_class, args.max_images,
                              args.gradcam_layer, args.zfnet_channels, args.zfnet_images)
    atomic_torch_save({**stored, "model": args.model, "seed": args.seed}, args.out)
    print(f"Grad-CAM of {args.gradcam_layer} and deconvnet projections of {', '.join(args.layers)} -> {args.out}")


def vgg_depth(args: argparse.Namespace) -> None:
    from cnnlens.interpret import vgg_depth as analyses

    torch.set_num_threads(args.threads)
    stored = analyses.vgg_depth(args.weights, args.photos, args.layers)
    atomic_torch_save(stored, args.out)
    print(f"VGG16 ({stored['weights']['kind']} weights) on {', '.join(stored['photos'])} -> {args.out}")


def build_report(args: argparse.Namespace) -> None:
    from cnnlens.reporting import comparison as compare
    from cnnlens.reporting import assemble as report

    config = yaml.safe_load(Path(args.config).read_text())
    metrics = compare.load_metrics(args.metrics)
    compute_seconds = sum(pd.read_csv(path, sep="\t")["s"].sum() for path in args.benchmarks)
    sections = [report.Section(title, Path(path)) for title, path in zip(args.titles, args.notebooks, strict=True)]
    vgg_weights = torch.load(args.vgg, weights_only=True)["weights"] if args.vgg else None
    facts = report.RunFacts(report.git_commit(args.repo), compute_seconds, args.config, vgg_weights)
    notebook = report.assemble(sections, metrics, config, facts, report.Comparison.read(args.comparison))
    atomic_write_text(report.render_html(notebook), args.out)
    print(f"report -> {args.out}")


def compare_runs(args: argparse.Namespace) -> None:
    from cnnlens.reporting import comparison as compare

    runs = compare.runs_table(compare.load_metrics(args.metrics))
    out = Path(args.out_dir)
    atomic_write_text(runs.to_csv(index=False), out / "runs.csv")
    atomic_write_text(compare.summarize(runs).to_csv(index=False), out / "summary.csv")
    tests = compare.paired_tests(runs, args.baseline, args.alpha)
    atomic_write_text(tests.to_csv(index=False), out / "tests.csv")
    print("\n".join(tests["verdict"]) or f"only the baseline {args.baseline} was trained")


def notebook(args: argparse.Namespace) -> None:
    from cnnlens.reporting.notebooks import run_notebook

    run_notebook(args.notebook, args.out, {**json.loads(args.files), **json.loads(args.settings)})
    print(f"{args.notebook} -> {args.out}")


def check_config(args: argparse.Namespace) -> None:
    """Check config files before Snakemake reads them: its own messages for a missing, empty or malformed
    file are tracebacks or lines that name no file."""
    from cnnlens.config import check_config_file

    for path in args.files:
        check_config_file(path)
    print(f"readable: {', '.join(args.files)}")


def write_config(args: argparse.Namespace) -> None:
    """Snapshot the effective config (JSON from the rule) as YAML, the file the report cites."""
    atomic_write_text(yaml.safe_dump(json.loads(args.json), sort_keys=False), args.out)


def _describe(device: torch.device, threads: int) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({threads} thread{'s' if threads != 1 else ''})"


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="cnnlens", description=__doc__.splitlines()[0])
    steps = main.add_subparsers(dest="step", required=True)

    step = steps.add_parser("prepare-data", help="cache a data set as uint8 tensors")
    step.add_argument("--source", choices=["cifar10", "imagefolder"], required=True)
    step.add_argument("--path", required=True, help="ImageFolder dir/.tar.gz, or the CIFAR-10 download folder")
    step.add_argument("--image-size", type=int, default=32)
    step.add_argument("--out", required=True)
    step.set_defaults(run=prepare_data)

    step = steps.add_parser("train", help="train one model with one seed")
    step.add_argument("--data", required=True)
    step.add_argument("--model", required=True, help="the variant's name")
    step.add_argument("--architecture", default="{}", help="JSON object of Architecture fields")
    step.add_argument("--seed", type=int, default=0)
    step.add_argument("--recipe", default="{}", help="JSON object of Recipe fields")
    step.add_argument("--engine", default="{}", help="JSON object of Engine fields (compile, cuda_graph, precision)")
    step.add_argument("--device", default="auto")
    step.add_argument("--threads", type=int, default=torch.get_num_threads())
    step.add_argument("--out-dir", required=True)
    step.set_defaults(run=train)

    step = _trained_model_step(steps, "activations", activations, "store layer outputs for the visualised test images")
    step.add_argument("--layers", nargs="+", required=True)
    step.add_argument("--images-per-class", type=int, default=1)
    step.add_argument("--max-images", type=int, default=None, help="at most this many images in all")

    step = _trained_model_step(steps, "depth-stats", depth_stats, "sparsity and concentration per layer (test set)")
    step.add_argument("--layers", nargs="+", required=True)

    _trained_model_step(steps, "attention-weights", attention_weights, "attention channel weights over the test set")

    step = _trained_model_step(steps, "explain", explain, "Grad-CAM and deconvnet projections")
    step.add_argument("--layers", nargs="+", required=True)
    step.add_argument("--images-per-class", type=int, default=1)
    step.add_argument("--max-images", type=int, default=None, help="at most this many images in all")
    step.add_argument("--gradcam-layer", default="conv3")
    step.add_argument("--zfnet-channels", type=int, default=4)
    step.add_argument("--zfnet-images", type=int, default=4)

    step = steps.add_parser("vgg", help="VGG16 on photos: top-5, channel-mean maps by depth, deconvnet")
    step.add_argument("--weights", default="imagenet", help="imagenet, none, or a state_dict file")
    step.add_argument("--photos", nargs="*", default=[], help="image paths (default: bundled sample photos)")
    step.add_argument("--layers", nargs="+", type=int, default=[0, 10, 20])
    step.add_argument("--threads", type=int, default=torch.get_num_threads())
    step.add_argument("--out", required=True)
    step.set_defaults(run=vgg_depth)

    step = steps.add_parser("report", help="merge executed notebooks into one HTML report")
    step.add_argument("--notebooks", nargs="+", required=True)
    step.add_argument("--titles", nargs="+", required=True)
    step.add_argument("--metrics", nargs="+", required=True)
    step.add_argument("--benchmarks", nargs="*", default=[])
    step.add_argument("--config", required=True, help="the effective config (YAML)")
    step.add_argument("--repo", default=".", help="the workflow's checkout, whose commit the report names")
    step.add_argument("--comparison", required=True, help="the compare rule's folder (summary.csv, tests.csv)")
    step.add_argument("--vgg", help="the vgg rule's file, for a banner when VGG16's weights were random")
    step.add_argument("--out", required=True)
    step.set_defaults(run=build_report)

    step = steps.add_parser("compare", help="aggregate runs; paired tests of every variant against a baseline")
    step.add_argument("--metrics", nargs="+", required=True)
    step.add_argument("--baseline", required=True)
    step.add_argument("--alpha", type=float, default=0.05)
    step.add_argument("--out-dir", required=True)
    step.set_defaults(run=compare_runs)

    step = steps.add_parser("notebook", help="execute one report notebook (papermill) with its parameters")
    step.add_argument("notebook")
    step.add_argument("--files", default="{}", help="JSON object: the input files, by parameter name")
    step.add_argument("--settings", default="{}", help="JSON object: the section's settings from the config")
    step.add_argument("--out", required=True)
    step.set_defaults(run=notebook)

    step = steps.add_parser("check-config", help="check that config files exist and are valid YAML mappings")
    step.add_argument("files", nargs="+")
    step.set_defaults(run=check_config)

    step = steps.add_parser("write-config", help="write the effective config as YAML")
    step.add_argument("--json", required=True)
    step.add_argument("--out", required=True)
    step.set_defaults(run=write_config)
    return main


def _trained_model_step(steps, name: str, run, help: str) -> argparse.ArgumentParser:
    """A sub-command that loads the data cache and one trained model; the caller adds its own options."""
    step = steps.add_parser(name, help=help)
    step.add_argument("--data", required=True)
    step.add_argument("--model", required=True, help="the variant's name")
    step.add_argument("--architecture", default="{}", help="JSON object of Architecture fields")
    step.add_argument("--seed", type=int, default=0)
    step.add_argument("--checkpoint", required=True)
    step.add_argument("--threads", type=int, default=torch.get_num_threads())
    step.add_argument("--out", required=True)
    step.set_defaults(run=run)
    return step


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    keep_freed_memory()  # training steps allocate and free the same large blocks over and over
    try:
        args.run(args)
    except CnnlensError as error:
        print(f"cnnlens {args.step}: error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"cnnlens {args.step}: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
