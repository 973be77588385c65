"""The training recipe (docs/design.md): Adam, cross-entropy, ReduceLROnPlateau on the test loss.

What is computed lives here; how fast it runs is :mod:`cnnlens.training.batches` (augmented batches on the
device) and :mod:`cnnlens.training.engine` (eager, compiled or CUDA-graph steps). Per-step losses and accuracy
counts stay on the device and are read once per epoch.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from cnnlens.errors import CnnlensError
from cnnlens.models.modes import eval_mode
from cnnlens.training.batches import TensorBatches
from cnnlens.training.checkpoint import EpochCheckpoint
from cnnlens.training.engine import Engine, TrainStep, cuda_random_state, load_optimizer_state, make_optimizer


@dataclass(frozen=True)
class Recipe:
    """Training hyper-parameters; the defaults are the source recipe."""

    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-3
    lr_patience: int = 3
    lr_factor: float = 0.5
    augment: bool = True


@dataclass
class TrainResult:
    history: list[dict]  # one row per epoch
    iteration_losses: list[float]  # one value per training step, in order


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` takes the GPU when there is one (the one SLURM or CUDA_VISIBLE_DEVICES exposes)."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise CnnlensError(f"train.device is '{requested}' but no CUDA GPU is visible: use 'auto' or 'cpu'")
    return torch.device(requested)


def fit(
    model: nn.Module,
    train_batches: TensorBatches,
    test_batches: Iterable,
    recipe: Recipe,
    engine: Engine = Engine(),
    checkpoint: EpochCheckpoint | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` in place for ``recipe.epochs`` epochs, evaluating on the test batches after each.

    With a ``checkpoint``, the state after every epoch is saved there, and a run that finds one of
    its own continues after its last epoch.
    """
    device = next(model.parameters()).device
    optimizer = make_optimizer(model, recipe.lr, device, engine)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", patience=recipe.lr_patience, factor=recipe.lr_factor
    )
    result = TrainResult([], [])
    saved = checkpoint.load() if checkpoint else None
    if checkpoint and saved:
        result = _resume(saved, model, optimizer, scheduler, train_batches, engine)
        print(f"resuming after epoch {len(result.history)} from {checkpoint.path}")
    step = TrainStep(model, optimizer, engine)
    epochs = tqdm(
        range(len(result.history) + 1, recipe.epochs + 1),
        desc="epochs",
        unit="epoch",
        initial=len(result.history),
        total=recipe.epochs,
        disable=not progress,
    )
    for epoch in epochs:
        lr = current_lr(optimizer)
        started = time.perf_counter()
        losses, train_accuracy = _train_epoch(model, step, train_batches, progress)
        seconds = time.perf_counter() - started
        test_loss, test_accuracy = evaluate(model, test_batches)
        scheduler.step(test_loss)
        step.sync_lr()
        result.iteration_losses.extend(losses.tolist())
        result.history.append(
            {
                "epoch": epoch,
                "train_loss": losses.mean().item(),
                "train_accuracy": train_accuracy,
                "test_loss": test_loss,
                "test_accuracy": test_accuracy,
                "lr": lr,
                "seconds": seconds,
            }
        )
        epochs.set_postfix(train_loss=f"{result.history[-1]['train_loss']:.3f}", test_acc=f"{test_accuracy:.3f}")
        if checkpoint:
            checkpoint.save(_training_state(result, model, optimizer, scheduler, train_batches))
    return result


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate for the history table. A CUDA graph's optimizer holds it as a float32 tensor:
    that is written as the shortest decimal that is the same float32 (0.001, not 0.0010000000474974513)."""
    lr = optimizer.param_groups[0]["lr"]
    return float(str(np.float32(lr.item()))) if torch.is_tensor(lr) else float(lr)


def seconds_per_epoch(history: list[dict]) -> float:
    """Mean seconds of the epochs after the first when there are several: the first also compiles and
    captures the step."""
    seconds = [row["seconds"] for row in history]
    steady = seconds[1:] or seconds
    return sum(steady) / len(steady)


def _training_state(result: TrainResult, model, optimizer, scheduler, train_batches: TensorBatches) -> dict:
    """Everything the next epoch depends on, random streams included."""
    return {
        "history": result.history,
        "iteration_losses": result.iteration_losses,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "data_rng": train_batches.generator.get_state(),
        "cuda_rng": cuda_random_state(next(model.parameters()).device),
    }


def _resume(state: dict, model, optimizer, scheduler, train_batches: TensorBatches, engine: Engine) -> TrainResult:
    """Continue from a state loaded on the CPU: the weights, Adam's moments and the learning rate go to the
    model's device as they are loaded, with this engine's optimizer settings."""
    device = next(model.parameters()).device
    model.load_state_dict(state["model"])
    load_optimizer_state(optimizer, state["optimizer"], device, engine)
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    train_batches.generator.set_state(state["data_rng"])
    if device.type == "cuda":  # the run key holds the device type: a CUDA checkpoint resumes on CUDA only
        torch.cuda.set_rng_state(state["cuda_rng"], device)
    return TrainResult(state["history"], state["iteration_losses"])


def _train_epoch(
    model: nn.Module, step: TrainStep, batches: TensorBatches, progress: bool
) -> tuple[torch.Tensor, float]:
    model.train()
    losses: list[torch.Tensor] = []
    correct: int | torch.Tensor = 0  # a device tensor after the first step: read once, at the end
    seen = 0
    for inputs, labels in tqdm(batches, total=len(batches), desc="batches", leave=False, disable=not progress):
        loss, batch_correct = step(inputs, labels)
        losses.append(loss)
        correct = correct + batch_correct
        seen += len(labels)
    # One host read per epoch; torch.stack keeps the per-step losses on the device until here.
    return torch.stack(losses).float().cpu(), int(correct) / seen


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over all batches, in eval mode (the caller's mode is restored)."""
    total_loss: float | torch.Tensor = 0.0  # device tensors after the first batch: read once, at the end
    correct: int | torch.Tensor = 0
    seen = 0
    with eval_mode(model):
        for inputs, labels in batches:
            logits = model(inputs)
            total_loss = total_loss + nn.functional.cross_entropy(logits, labels, reduction="sum")
            correct = correct + (logits.argmax(1) == labels).sum()
            seen += len(labels)
    return float(total_loss) / seen, int(correct) / seen


@torch.no_grad()
def predict(model: nn.Module, batches: Iterable) -> tuple[torch.Tensor, torch.Tensor]:
    """The labels and the predicted classes of every image of ``batches``, in their order, in eval mode, on the CPU:
    one pass gives the confusion matrix and the per-image predictions that the paired tests of two runs need."""
    labels, predicted = [], []
    with eval_mode(model):
        for inputs, batch_labels in batches:
            labels.append(batch_labels)
            predicted.append(model(inputs).argmax(1))
    return torch.cat(labels).cpu(), torch.cat(predicted).cpu()


def confusion_matrix(labels: torch.Tensor, predicted: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts of (true class, predicted class); rows are true classes."""
    counts = torch.bincount(labels * num_classes + predicted, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes)
