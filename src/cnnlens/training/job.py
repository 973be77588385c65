"""The train job: one variant, one seed, from the data cache to the files the rest of the pipeline reads.

It decides two things worth testing on their own: which saved state a restarted job may resume
(:func:`run_key`), and what a run reports about itself (:func:`run_metrics`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from cnnlens.artifacts import CONFUSION, HISTORY, ITERATIONS, PREDICTIONS, RUN_METRICS
from cnnlens.atomic import atomic_torch_save, remove_stale_temporaries
from cnnlens.data.dataset import Dataset
from cnnlens.models.cnn import Architecture, build_model, count_parameters
from cnnlens.training.batches import TensorBatches, preferred_memory_format
from cnnlens.training.checkpoint import EpochCheckpoint
from cnnlens.training.engine import Engine
from cnnlens.training.recipe import (
    Recipe,
    TrainResult,
    confusion_matrix,
    fit,
    pick_device,
    predict,
    seconds_per_epoch,
)

TEST_BATCH = 1000  # evaluation only: as large as memory allows


@dataclass(frozen=True)
class Run:
    """What one training job trains: a named variant with its architecture, the recipe, the seed."""

    variant: str
    architecture: Architecture
    recipe: Recipe
    seed: int


def run_key(run: Run, device: torch.device, engine: Engine, data: Path) -> dict:
    """What a resumed job must share with the one that saved ``resume.pt``: the run, where it trains (the
    device type, not its number: a resumed cluster job may get another GPU), the arithmetic, and the data
    cache by size and modification time. ``compile`` and ``cuda_graph`` change only speed: the engine's
    optimizer settings are re-applied on resume."""
    stat = data.stat()
    return {
        "architecture": asdict(run.architecture),
        "recipe": asdict(run.recipe),
        "seed": run.seed,
        "device": device.type,
        "precision": engine.precision,
        "data": [stat.st_size, stat.st_mtime_ns],
    }


def describe_device(device: torch.device, threads: int) -> str:
    """``cuda (NVIDIA H100 ...)`` or ``cpu (2 threads)``: what the report's header says a run trained on."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({threads} thread{'s' if threads != 1 else ''})"


def run_metrics(run: Run, engine: Engine, history: list[dict], model: nn.Module, device_description: str) -> dict:
    """The run's summary (``metrics.json``): final and best test accuracy, parameters, where and how fast it trained."""
    table = pd.DataFrame(history)
    best = table.loc[table["test_accuracy"].idxmax()]
    return {
        "model": run.variant,
        "seed": run.seed,
        "epochs": run.recipe.epochs,
        "final_test_accuracy": float(table["test_accuracy"].iloc[-1]),
        "final_test_loss": float(table["test_loss"].iloc[-1]),
        "best_test_accuracy": float(best["test_accuracy"]),
        "best_epoch": int(best["epoch"]),
        "parameters": count_parameters(model),
        "device": device_description,
        "seconds_per_epoch": seconds_per_epoch(history),
        "seconds_total": float(table["seconds"].sum()),
        "recipe": asdict(run.recipe),
        "engine": asdict(engine),
        "architecture": asdict(run.architecture),
        "torch": torch.__version__,
    }


def train_job(
    run: Run, engine: Engine, data: str | Path, out_dir: str | Path, device: str = "auto", threads: int = 1
) -> dict:
    """Train ``run`` on the cached data set and write ``model.pt``, ``history.csv``, ``iterations.csv``,
    ``confusion.csv``, ``predictions.csv`` and ``metrics.json`` to ``out_dir``; resume from ``resume.pt`` there when
    it is this run's.

    Returns the metrics.
    """
    data, out = Path(data), Path(out_dir)
    training_device = pick_device(device)
    torch.set_num_threads(threads)
    torch.manual_seed(run.seed)
    dataset = Dataset.load(data)
    model = build_model(run.architecture, dataset.train_images.shape[-1], len(dataset.classes))
    model = model.to(training_device).to(memory_format=preferred_memory_format(training_device))
    train_batches = TensorBatches(
        dataset.train_images,
        dataset.train_labels,
        run.recipe.batch_size,
        training_device,
        shuffle=True,
        augment=run.recipe.augment,
        seed=run.seed,
    )
    test_batches = TensorBatches(dataset.test_images, dataset.test_labels, TEST_BATCH, training_device)
    remove_stale_temporaries(out / "resume.pt")  # a kill while it was being saved
    checkpoint = EpochCheckpoint(out / "resume.pt", run_key(run, training_device, engine, data))
    where = describe_device(training_device, threads)
    print(f"training {run.variant} (seed {run.seed}) on {where}: {run.architecture}, {run.recipe}, {engine}")
    result = fit(model, train_batches, test_batches, run.recipe, engine, checkpoint)
    metrics = run_metrics(run, engine, result.history, model, where)
    _write_outputs(out, model, result, predict(model, test_batches), dataset.classes, metrics)
    checkpoint.remove()  # the run is complete: model.pt and the tables replace it
    return metrics


def _write_outputs(
    out: Path,
    model: nn.Module,
    result: TrainResult,
    test_predictions: tuple[torch.Tensor, torch.Tensor],
    classes: list[str],
    metrics: dict,
) -> None:
    """The run's files; ``test_predictions``: the labels and predicted classes of the test split, in its order."""
    labels, predicted = test_predictions
    atomic_torch_save(model.state_dict(), out / "model.pt")
    HISTORY.save(pd.DataFrame(result.history), out / "history.csv")
    steps = range(1, len(result.iteration_losses) + 1)
    ITERATIONS.save(pd.DataFrame({"iteration": steps, "loss": result.iteration_losses}), out / "iterations.csv")
    confusion = confusion_matrix(labels, predicted, len(classes))
    CONFUSION.save(pd.DataFrame(confusion.numpy(), index=classes, columns=classes), out / "confusion.csv")
    predictions = pd.DataFrame({"image": range(len(labels)), "label": labels.numpy(), "predicted": predicted.numpy()})
    PREDICTIONS.save(predictions, out / "predictions.csv")
    RUN_METRICS.save(metrics, out / "metrics.json")
