"""What the train job decides, without the command line: the resume key and the run's metrics."""

import os

import pytest
import torch

from cnnlens.models.cnn import Architecture, build_model, count_parameters
from cnnlens.training.engine import Engine
from cnnlens.training.job import Run, describe_device, run_key, run_metrics
from cnnlens.training.recipe import Recipe

CPU = torch.device("cpu")
RUN = Run("attention", Architecture(attention="se"), Recipe(epochs=3), seed=2)


def history(accuracies, seconds=(9.0, 2.0, 4.0)):
    return [
        {
            "epoch": epoch,
            "train_loss": 1.0,
            "train_accuracy": 0.5,
            "test_loss": 2.0 - accuracy,
            "test_accuracy": accuracy,
            "lr": 0.001,
            "seconds": second,
        }
        for epoch, (accuracy, second) in enumerate(zip(accuracies, seconds, strict=False), 1)
    ]


def test_the_resume_key_changes_with_what_changes_the_result_and_only_that(tmp_path):
    data = tmp_path / "dataset.pt"
    data.write_bytes(b"x")
    key = run_key(RUN, CPU, Engine(), data)
    assert run_key(RUN, CPU, Engine(compile=True, cuda_graph=False), data) == key  # speed only
    for other in (
        Run("attention", Architecture(attention="cbam"), RUN.recipe, 2),
        Run("attention", RUN.architecture, Recipe(epochs=3, lr=0.01), 2),
        Run("attention", RUN.architecture, RUN.recipe, 3),
    ):
        assert run_key(other, CPU, Engine(), data) != key
    assert run_key(RUN, torch.device("cuda"), Engine(), data) != key
    assert run_key(RUN, CPU, Engine(precision="bf16"), data) != key
    os.utime(data, ns=(0, 0))  # a rebuilt data cache
    assert run_key(RUN, CPU, Engine(), data) != key


def test_the_metrics_report_the_last_and_the_best_epoch_and_steady_speed():
    model = build_model("attention")
    metrics = run_metrics(RUN, Engine(), history([0.50, 0.70, 0.60]), model, "cpu (2 threads)")
    assert metrics["final_test_accuracy"] == 0.60 and metrics["best_test_accuracy"] == 0.70
    assert metrics["best_epoch"] == 2 and metrics["final_test_loss"] == pytest.approx(1.40)
    assert metrics["seconds_per_epoch"] == 3.0 and metrics["seconds_total"] == 15.0  # the first epoch compiles
    assert metrics["parameters"] == count_parameters(model) and metrics["device"] == "cpu (2 threads)"
    assert metrics["model"] == "attention" and metrics["seed"] == 2 and metrics["epochs"] == 3
    assert metrics["architecture"] == {"attention": "se", "blocks": (1, 2, 3), "reduction": 16}


def test_the_device_description_counts_threads():
    assert describe_device(CPU, 1) == "cpu (1 thread)" and describe_device(CPU, 8) == "cpu (8 threads)"
