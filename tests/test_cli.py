import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cnnlens.artifacts import PREDICTIONS
from cnnlens.cli import main

from helpers import CLASSES


def run_cli(capsys, *argv):
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    return exited.value.code, capsys.readouterr().err


def test_missing_data_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "results" / "dataset.pt"
    code, err = run_cli(
        capsys, "prepare-data", "--source", "imagefolder", "--path", str(tmp_path / "none"), "--out", str(out)
    )
    assert code == 2
    assert err.strip().count("\n") == 0 and f"data path {tmp_path / 'none'}" in err
    assert not out.exists()


def test_unknown_layer_exits_2_without_output(image_folder, tmp_path, capsys):
    cache = tmp_path / "dataset.pt"
    main(["prepare-data", "--source", "imagefolder", "--path", str(image_folder), "--out", str(cache)])
    model = tmp_path / "model.pt"
    from cnnlens.models.cnn import build_model

    torch.save(build_model("plain", num_classes=len(CLASSES)).state_dict(), model)
    out = tmp_path / "acts.pt"
    code, err = run_cli(
        capsys,
        "analyse",
        "activations",
        "--data",
        str(cache),
        "--model",
        "plain",
        "--checkpoint",
        str(model),
        "--settings",
        '{"layers": ["conv7"], "images_per_class": 1, "max_images": 20}',
        "--out",
        str(out),
    )
    assert code == 2 and "['conv7']" in err and "conv1" in err and not out.exists()  # the layer, and the choices


def test_a_checkpoint_for_another_number_of_classes_is_one_line_naming_the_rule(image_folder, tmp_path, capsys):
    cache = tmp_path / "dataset.pt"
    main(["prepare-data", "--source", "imagefolder", "--path", str(image_folder), "--out", str(cache)])
    model = tmp_path / "model.pt"
    from cnnlens.models.cnn import build_model

    torch.save(build_model("plain", num_classes=10).state_dict(), model)  # the data set has 3 classes
    out = tmp_path / "acts.pt"
    code, err = run_cli(
        capsys,
        "analyse",
        "depth",
        "--data",
        str(cache),
        "--model",
        "plain",
        "--checkpoint",
        str(model),
        "--settings",
        '{"depth_layers": ["relu1"]}',
        "--out",
        str(out),
    )
    assert code == 2 and err.strip().count("\n") == 0 and not out.exists()
    assert f"checkpoint {model}" in err and "variant 'plain'" in err and "train rule" in err


def test_train_writes_checkpoint_history_iterations_metrics_and_predictions(image_folder, tmp_path):
    cache = tmp_path / "dataset.pt"
    main(["prepare-data", "--source", "imagefolder", "--path", str(image_folder), "--out", str(cache)])
    run = tmp_path / "run"
    main(
        [
            "train",
            "--data",
            str(cache),
            "--model",
            "attention",
            "--architecture",
            '{"attention": "se"}',
            "--seed",
            "5",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--recipe",
            json.dumps({"epochs": 2, "batch_size": 5}),
            "--out-dir",
            str(run),
        ]
    )
    history = pd.read_csv(run / "history.csv")
    iterations = pd.read_csv(run / "iterations.csv")
    metrics = json.loads((run / "metrics.json").read_text())
    assert history["epoch"].tolist() == [1, 2]
    assert len(iterations) == 2 * 3  # 12 training images in batches of 5
    assert metrics["seed"] == 5 and metrics["epochs"] == 2 and metrics["model"] == "attention"
    assert metrics["final_test_accuracy"] == history["test_accuracy"].iloc[-1]
    assert metrics["best_test_accuracy"] == history["test_accuracy"].max()
    assert metrics["recipe"]["batch_size"] == 5 and metrics["device"] == "cpu (1 thread)"
    state = torch.load(run / "model.pt", weights_only=True)
    assert state["ca3.excite.0.weight"].shape == (8, 128)
    assert metrics["architecture"] == {"attention": "se", "blocks": [1, 2, 3], "reduction": 16}
    confusion = pd.read_csv(run / "confusion.csv", index_col=0)
    assert list(confusion.index) == list(confusion.columns) == ["cat", "dog", "ship"]
    assert confusion.to_numpy().sum() == 6
    assert confusion.to_numpy().trace() / 6 == pytest.approx(metrics["final_test_accuracy"])
    predictions = PREDICTIONS.load(run / "predictions.csv")
    assert predictions["image"].tolist() == list(range(6)) and predictions["label"].tolist() == [0, 0, 1, 1, 2, 2]
    assert (predictions["label"] == predictions["predicted"]).mean() == pytest.approx(metrics["final_test_accuracy"])
    counts = np.zeros((3, 3), dtype=int)
    np.add.at(counts, (predictions["label"], predictions["predicted"]), 1)
    assert (counts == confusion.to_numpy()).all()  # both from the same predictions
    names = sorted(p.name for p in run.iterdir())
    assert names == ["confusion.csv", "history.csv", "iterations.csv", "metrics.json", "model.pt", "predictions.csv"]


@pytest.mark.e2e  # three `cnnlens train` processes, one killed: test_recipe.py resumes in-process, in the unit tests
def test_a_killed_training_job_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    from helpers import make_image_folder

    images = make_image_folder(tmp_path / "images", {"train": 120, "test": 10})  # 6 steps of 64 per epoch
    cache = tmp_path / "dataset.pt"
    main(["prepare-data", "--source", "imagefolder", "--path", str(images), "--out", str(cache)])

    def train(out_dir: Path) -> subprocess.Popen:
        command = [
            sys.executable,
            "-m",
            "cnnlens.cli",
            "train",
            "--data",
            str(cache),
            "--model",
            "plain",
            "--seed",
            "2",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--recipe",
            '{"epochs": 4}',
            "--out-dir",
            str(out_dir),
        ]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    uninterrupted, killed = tmp_path / "uninterrupted", tmp_path / "killed"
    reference, job = train(uninterrupted), train(killed)  # side by side: one thread each
    while not (killed / "resume.pt").exists() and job.poll() is None:
        time.sleep(0.01)
    job.send_signal(signal.SIGKILL)
    assert job.wait() == -signal.SIGKILL, "the job ended before it could be killed"
    assert reference.wait() == 0
    assert not (killed / "model.pt").exists()
    done = len(torch.load(killed / "resume.pt", weights_only=True)["history"])
    assert done < 4

    rerun = train(killed)
    said = rerun.stdout.read()
    assert rerun.wait() == 0 and f"epoch {done}" in said and str(killed / "resume.pt") in said  # resumed, from where
    assert not (killed / "resume.pt").exists()  # a finished run leaves only its results
    for table in ("history.csv", "iterations.csv", "confusion.csv"):
        expected = pd.read_csv(uninterrupted / table).drop(columns="seconds", errors="ignore")
        pd.testing.assert_frame_equal(pd.read_csv(killed / table).drop(columns="seconds", errors="ignore"), expected)
    weights = torch.load(killed / "model.pt", weights_only=True)
    expected_weights = torch.load(uninterrupted / "model.pt", weights_only=True)
    assert all(torch.equal(tensor, expected_weights[key]) for key, tensor in weights.items())
