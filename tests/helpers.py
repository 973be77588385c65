"""What tests share: tiny data made on the fly (so tests never need downloads), and the workflow run on it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from nbformat.v4 import new_code_cell, new_notebook, new_output
from PIL import Image
from snakemake.utils import update_config

from cnnlens.artifacts import Activations, Faithfulness
from cnnlens.config import validate_config
from cnnlens.errors import CnnlensError
from cnnlens.interpret.heatmap_methods import MODEL_METHODS
from cnnlens.layout import Layout, run_device
from cnnlens.plots.style import CSS_DPI, MAX_FIGURE_HEIGHT, SMALLEST_TEXT_KEY, TEXT_WIDTH, retina_png
from cnnlens.registry import ANALYSES
from cnnlens.reporting import comparison as compare
from cnnlens.reporting import header
from cnnlens.reporting.legibility import LEGIBLE_POINTS
from cnnlens.reporting.pdf import _weasyprint_html

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
POPPLER = all(shutil.which(tool) for tool in ("pdftotext", "pdfinfo", "pdffonts", "pdfimages"))
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils (pdftotext, pdfinfo, pdffonts) not installed")


def pango_installed() -> bool:
    """WeasyPrint loads, so the PDFs can be printed (it needs the system's Pango)."""
    with contextlib.suppress(CnnlensError):
        return _weasyprint_html() is not None
    return False


PANGO = pango_installed()
needs_pdfs = pytest.mark.skipif(not (POPPLER and PANGO), reason="printing and reading PDFs need Pango and poppler")
CLASSES = ("cat", "dog", "ship")
PIPELINE_CLASSES = ("cat", "ship")  # of the shared end-to-end run (conftest.py): the fewest a classifier has


def make_image_folder(
    root: Path,
    per_class: dict[str, int],
    size: tuple[int, int] = (32, 32),
    seed: int = 0,
    classes: tuple[str, ...] = CLASSES,
) -> Path:
    """Write ``split/class/NNN.png`` images whose mean colour encodes the class (so labels are checkable).

    ``size`` is PIL's (width, height).
    """
    rng = np.random.default_rng(seed)
    step = min(100, 215 // max(1, len(classes) - 1))  # brightness steps between classes; pixels stay below 256
    for split, count in per_class.items():
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                pixels = rng.integers(0, 40, (size[1], size[0], 3)) + step * label
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{index:03d}.png")
    return root


def tiny_workdir(workdir: Path, classes: tuple[str, ...] = CLASSES, **config) -> Path:
    """A working directory for the real pipeline on tiny generated data: ``images/`` and ``tiny.yaml``.

    tiny.yaml: the images, 1 epoch of batch 8, random VGG16 weights, no PDF (the shared end-to-end run prints
    them); ``config`` is merged in as Snakemake merges config files (nested keys one by one).
    """
    make_image_folder(workdir / "images", {"train": 6, "test": 2}, classes=classes)
    tiny = {
        "data": {"source": "imagefolder", "path": "images"},
        "train": {"epochs": 1, "batch_size": 8},
        "vgg": {"weights": "none"},
        "report": {"pdf": False},
    }
    update_config(tiny, config)
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    return workdir


def snakemake(workdir: Path, *arguments: str, **options) -> subprocess.CompletedProcess:
    """Run :func:`snakemake_command` in ``workdir`` to its end, capturing its output."""
    command, env = snakemake_command(workdir, *arguments, **options)
    # check=False: the callers assert on the return code and the output, failures included
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, check=False)


def snakemake_command(
    workdir: Path,
    *arguments: str,
    cores: int | None = 2,
    path: tuple[Path, ...] = (),
    configfiles: tuple[str, ...] = ("tiny.yaml",),
    repo: Path = REPO,
    base_config: bool = True,
) -> tuple[list[str], dict[str, str]]:
    """The workflow of ``repo`` in ``workdir`` with its config.yaml and ``configfiles`` (tiny.yaml) merged on top:
    the command line and its environment.

    ``base_config=False`` leaves the repository's config.yaml out (``configfiles`` then hold everything);
    ``cores=None`` leaves ``--cores`` out (a cluster executor needs none); ``path`` goes first on PATH.
    """
    # The rules call `cnnlens` and `papermill`: put this interpreter's scripts first on PATH.
    env = dict(
        os.environ, PATH=os.pathsep.join([*map(str, path), str(Path(sys.executable).parent), os.environ["PATH"]])
    )
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(repo / "Snakefile"),
        "--configfile",
        *([str(repo / "config.yaml")] if base_config else []),
        *configfiles,
        "--directory",
        str(workdir),
        *(["--cores", str(cores)] if cores else []),
        *arguments,
    ]
    return command, env


def layout_of(workdir: Path, configfiles: Sequence[str] = ("tiny.yaml",)) -> Layout:
    """Where the workflow keeps each file of the run of ``workdir`` with the repository's config.yaml and
    ``configfiles`` on top, as it plans it there: paths relative to ``workdir``."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for name in configfiles:
        update_config(config, yaml.safe_load((workdir / name).read_text()))
    validate_config(config, SCHEMA)
    return Layout(
        config, run_device(config["train"]["device"]), repo=os.path.relpath(REPO, workdir), workdir=str(workdir)
    )


def assert_every_table_follows_the_classes(
    workdir: Path, models: list[str], classes: tuple[str, ...], notebooks: Sequence[str]
) -> None:
    """The finished run of ``workdir`` holds models and tables of ``classes`` for each of ``models`` (the
    classifier, the confusion matrix, the activations' logits), and ``notebooks`` executed with their figures."""
    layout = layout_of(workdir)
    for model in models:
        run = workdir / layout.run_dir(model, 0)
        assert torch.load(run / "model.pt", weights_only=True)["fc2.weight"].shape == (len(classes), 512)
        confusion = pd.read_csv(run / "confusion.csv", index_col=0)
        assert list(confusion.index) == list(confusion.columns) == list(classes)
        assert confusion.to_numpy().sum() == 2 * len(classes)  # every test image counted once
        activations = Activations.load(workdir / layout.analysis_file("activations", model, 0))
        assert activations.classes == list(classes) and len(activations.logits[0]) == len(classes)
    for notebook in notebooks:  # executed to the end, each drew its figures
        cells = json.loads((workdir / notebook).read_text())["cells"]
        assert any("image/png" in output.get("data", {}) for cell in cells for output in cell.get("outputs", []))


def keyed_places(layout: Layout) -> dict[str, str]:
    """Every keyed place of a layout by a readable name: ``data``, ``vgg``, ``run plain 0``, ``explain plain 0``,
    ``comparison``, ``notebook explain-plain``, ``report``."""
    found = {"data": layout.data_cache, "vgg": layout.vgg_file, "comparison": layout.comparison_dir}
    found |= {f"run {model} {seed}": layout.run_dir(model, seed) for model, seed in layout.runs()}
    for name in ANALYSES:
        found |= {
            f"{name} {model} {seed}": layout.analysis_file(name, model, seed)
            for model, seed in layout.analysis_runs(name)
        }
    found |= {f"notebook {executed}": layout.notebook_file(executed) for executed in layout.executed}
    found["report"] = layout.report_dir
    return found


def assert_a_training_step_matches_autograd(model: torch.nn.Module, images: torch.Tensor, plain_expression) -> None:
    """One training step's gradients of ``model`` equal those with its fused backwards switched off by
    ``plain_expression`` (the same dropout mask in both)."""
    labels = torch.randint(0, 10, (len(images),))
    torch.manual_seed(1)
    torch.nn.functional.cross_entropy(model(images), labels).backward()
    fused = [parameter.grad.clone() for parameter in model.parameters()]
    model.zero_grad()
    plain_expression(model)
    torch.manual_seed(1)
    torch.nn.functional.cross_entropy(model(images), labels).backward()
    for got, expected in zip(fused, (parameter.grad for parameter in model.parameters()), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


def activations_artifact(
    model: str = "plain", layers: dict | None = None, indices=(7, 3), predictions=(1, 0)
) -> Activations:
    """A hand-made Activations artifact of seed 2: ``len(indices)`` 2×4 images (labels cat, dog), and ``layers``."""
    count = len(indices)
    return Activations(
        model=model,
        seed=2,
        image_indices=torch.tensor(indices),
        images=torch.arange(count * 3 * 2 * 4, dtype=torch.uint8).reshape(count, 3, 2, 4),
        labels=torch.tensor([0, 1][:count]),
        classes=["cat", "dog"],
        logits=torch.zeros(count, 2),
        predictions=torch.tensor(predictions),
        layers=layers or {},
    )


def faithfulness_artifact(
    model: str = "plain",
    seed: int = 0,
    deletion: dict[str, list[float]] | None = None,
    insertion: dict[str, list[float]] | None = None,
) -> Faithfulness:
    """A hand-made Faithfulness artifact of 8×8 images (two unless the AUC lists are longer), two deletion steps and
    two randomisation steps.

    ``deletion``: method -> per-image deletion AUCs; ``insertion`` the same, by default ``1 - deletion``. The other
    fields follow from them: each model-based method's inverted map swaps its two AUCs (its score is the negative),
    both knobs repeat the AUCs, Average Drop is half the deletion AUC, Increase in Confidence true on the first image,
    the mean curves end at the mean AUCs, and channel removal at one site (``relu1``, 4 channels, ranked by
    activation) gives every image the probabilities 0.9 (reference), 0.2 (highest), 0.8 (lowest), 0.5 (random).
    """
    deletion = deletion or {"gradcam": [0.2, 0.4], "random": [0.5, 0.5]}
    insertion = insertion or {method: [1 - value for value in values] for method, values in deletion.items()}
    count = len(next(iter(deletion.values())))

    def aucs(method: str) -> dict[str, torch.Tensor]:
        return {"deletion": torch.tensor(deletion[method]), "insertion": torch.tensor(insertion[method])}

    model_methods = [method for method in deletion if method in MODEL_METHODS]
    steps = ["fc2", "fc2+fc1"]
    sanity_rows = [
        {
            "method": method,
            "target": "fixed",
            "step": step,
            "randomised": name,
            "uses": method not in ("random", "gaussian"),
            "spearman": 1.0 if method in ("random", "gaussian") else 0.6 - 0.4 * (step - 1),
            "ssim": 0.9,
            "flat_maps": 0,
            "images": count,
        }
        for step, name in enumerate(steps, start=1)
        for method in deletion
    ]
    removal = {
        "site": ["relu1"] * 4,
        "criterion": ["", "activation", "activation", ""],
        "ranking": ["reference", "highest", "lowest", "random"],
        "fraction": [0.0, 0.5, 0.5, 0.5],
        "removed": [0, 2, 2, 2],
        "channels": [4] * 4,
        "accuracy": [1.0, 0.0, 1.0, 0.5],
        "true_class_probability": [0.9, 0.2, 0.8, 0.5],
        "images": [count] * 4,
    }
    return Faithfulness(
        model=model,
        seed=seed,
        baseline="blur",
        steps=2,
        image_indices=torch.arange(count) * 2 + 3,
        fractions=torch.tensor([0.0, 0.5, 1.0]),
        aucs={method: aucs(method) for method in deletion},
        inverted_aucs={
            method: {"deletion": aucs(method)["insertion"], "insertion": aucs(method)["deletion"]}
            for method in model_methods
        },
        knob_aucs={"fill": {method: aucs(method) for method in deletion}, "steps": {m: aucs(m) for m in deletion}},
        knobs={"fill": {"baseline": "mean", "steps": 2}, "steps": {"baseline": "blur", "steps": 4}},
        average_drop={method: torch.tensor(deletion[method]) / 2 for method in deletion},
        increase={method: torch.arange(count) == 0 for method in deletion},
        tied_share={method: torch.full((count,), 0.25) for method in deletion},
        curves={
            method: {
                "deletion": torch.tensor([1.0, 0.5, float(np.mean(deletion[method]))]),
                "insertion": torch.tensor([0.0, 0.5, float(np.mean(insertion[method]))]),
            }
            for method in deletion
        },
        removal=removal,
        removal_probabilities=torch.tensor(removal["true_class_probability"])[:, None].expand(-1, count).clone(),
        sanity={column: [row[column] for row in sanity_rows] for column in sanity_rows[0]},
        sanity_reference={
            "method": list(deletion),
            "spearman": [1.0 if method == "gaussian" else 0.1 for method in deletion],
            "ssim": [0.2] * len(deletion),
            "images": [count] * len(deletion),
        },
        gallery_images=torch.zeros(2, 3, 8, 8, dtype=torch.uint8),
        gallery={method: torch.rand(3, 2, 8, 8, generator=torch.Generator().manual_seed(0)) for method in deletion},
        gallery_steps=["original", *steps],
    )


def faithfulness_runs() -> list[Faithfulness]:
    """Three hand-made faithfulness files: the se model's seeds 0 and 1 (Grad-CAM and the random map) and the cbam
    model's seed 0 (its spatial attention and the centred Gaussian)."""
    return [
        faithfulness_artifact("se", 0, {"gradcam": [0.2, 0.4], "random": [0.5, 0.5]}),
        faithfulness_artifact("se", 1, {"gradcam": [0.4, 0.6], "random": [0.5, 0.7]}),
        faithfulness_artifact("cbam", 0, {"spatial_attention": [0.1, 0.1], "gaussian": [0.3, 0.3]}),
    ]


def with_trained_batchnorm(model: torch.nn.Module, mean_range: float = 0.5) -> torch.nn.Module:
    """``model`` with BatchNorm statistics and affine parameters far from their initial values, as a trained
    model's are (an identity BatchNorm would hide mistakes in eval mode); the global seed decides them."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.get_buffer("running_mean").uniform_(-mean_range, mean_range)
                module.get_buffer("running_var").uniform_(0.5, 2)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    return model


def metrics(model: str, accuracy: float) -> dict:
    """A run's metrics.json as the train job writes it, with the given test accuracy."""
    return {
        "model": model,
        "seed": 0,
        "epochs": 2,
        "final_test_accuracy": accuracy,
        "best_test_accuracy": accuracy,
        "best_epoch": 2,
        "parameters": 1000,
        "seconds_per_epoch": 1.5,
        "seconds_total": 3.0,
        "device": "cpu (2 threads)",
        "final_test_loss": 1.0,
    }


def predictions(accuracy: float, images: int = 10_000, right: Sequence[int] | None = None) -> pd.DataFrame:
    """A run's predictions.csv of ``images`` test images of 10 classes: ``right`` are the images it gets right (by
    default the first ``accuracy`` share of them), the others are predicted as the next class."""
    labels = np.arange(images) % 10
    correct = np.zeros(images, dtype=bool)
    correct[np.arange(round(accuracy * images)) if right is None else list(right)] = True
    return pd.DataFrame(
        {"image": range(images), "label": labels, "predicted": np.where(correct, labels, (labels + 1) % 10)}
    )


def verdicts(accuracies: Sequence[float], sentences: Sequence[str] = ()) -> header.Verdicts:
    """The verdicts of a plain and an attention run (seed 0) of the given accuracies, each right on the first images
    of the test set, and the heatmaps' ``sentences``."""
    runs = [metrics("plain", accuracies[0]), metrics("attention", accuracies[1])]
    predicted = {(run["model"], 0): predictions(run["final_test_accuracy"]) for run in runs}
    comparison = compare.compare(compare.runs_table(runs), predicted, "plain", 0.05)
    return header.Verdicts(runs, comparison, sentences)


class KeyTemplate:
    """A text rendered as its key and its fields, ``⟨verdict.faithful model=plain auc=0.21⟩``: see :func:`text_keys`."""

    def __init__(self, key: str) -> None:
        self.key = key

    def format(self, **values: object) -> str:
        fields = "".join(f" {name}={value}" for name, value in values.items())
        return f"⟨{self.key}{fields}⟩"


def texts_said(rendered: str) -> list[tuple[str, dict[str, str]]]:
    """The texts that a sentence rendered under :func:`text_keys` is made of, innermost first, each as its key and
    fields; a field that holds another text holds ``#n``, that text's place in the list."""
    said: list[tuple[str, dict[str, str]]] = []
    innermost = re.compile(r"⟨([^⟨⟩]*)⟩")
    while match := innermost.search(rendered):
        key, *pairs = match[1].split(" ")
        said.append((key, dict(pair.split("=", 1) for pair in pairs)))
        rendered = f"{rendered[: match.start()]}#{len(said) - 1}{rendered[match.end() :]}"
    return said


class KeyTable(dict):
    """Every text of the English table as a :class:`KeyTemplate`; a key that English lacks stays missing."""

    def __init__(self, english: dict[str, str]) -> None:
        super().__init__({key: KeyTemplate(key) for key in english})


def assert_prints_legibly(figure) -> None:
    """``figure`` as a notebook shows it (plots.style.retina_png; the tests draw at its print sizes: conftest.py) fits
    the A4 text width and a page's height, so prints at its own size, and its smallest text is legible there."""
    _, shown = retina_png(figure)
    width, height = shown["width"] / CSS_DPI, shown["height"] / CSS_DPI
    assert width <= TEXT_WIDTH + 0.02 and height <= MAX_FIGURE_HEIGHT + 0.02, (width, height)
    assert shown[SMALLEST_TEXT_KEY] >= LEGIBLE_POINTS, shown[SMALLEST_TEXT_KEY]


def figure_output(size: tuple[float, float], font: float = 8, title: str = "a figure") -> nbformat.NotebookNode:
    """A figure of ``size`` inches whose text is ``font`` points, as a notebook shows it (plots.style.retina_png): a
    retina PNG with its display size and its smallest text in the output's metadata."""
    figure, axes = plt.subplots(figsize=size)
    axes.plot(np.sin(np.linspace(0, 6, 50)))
    axes.set_title(title, fontsize=font)
    axes.tick_params(labelsize=font)
    png, shown = retina_png(figure)
    plt.close(figure)
    return new_output("display_data", {"image/png": png}, metadata={"image/png": shown})


def html_output(text: str) -> nbformat.NotebookNode:
    return new_output("display_data", {"text/html": text})


def executed_notebook(path, outputs: list) -> str:
    """An executed notebook of one parameter cell and one cell that displayed ``outputs``."""
    parameters = new_code_cell("runs = []")
    parameters.metadata["tags"] = ["parameters"]
    shown = new_code_cell("show()")
    shown.outputs = outputs
    nbformat.write(new_notebook(cells=[parameters, shown]), path)
    return path


def reference_hsic(K: np.ndarray, L: np.ndarray) -> float:
    """Song et al.'s unbiased HSIC₁ written out as published, independently of the module."""
    n = K.shape[0]
    K_tilde = K - np.diag(np.diag(K))
    L_tilde = L - np.diag(np.diag(L))
    ones = np.ones(n)
    return (
        np.trace(K_tilde @ L_tilde)
        + (ones @ K_tilde @ ones) * (ones @ L_tilde @ ones) / ((n - 1) * (n - 2))
        - 2 / (n - 2) * (ones @ K_tilde @ L_tilde @ ones)
    ) / (n * (n - 3))
