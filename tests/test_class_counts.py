"""A data set of more classes than CIFAR-10's ten through the whole workflow (the shared end-to-end run has two,
test_pipeline.py): the models, every table and the report follow its classes."""

import html
import json

import pytest

from cnnlens.texts import text

from helpers import assert_every_table_follows_the_classes, layout_of, snakemake, tiny_workdir

pytestmark = pytest.mark.e2e


def test_the_models_and_every_table_follow_eleven_classes_and_one_seed_says_what_it_cannot_measure(tmp_path):
    """More than CIFAR-10's ten, on the smallest run that shows every class: one model, one seed, its training
    and the notebooks that show classes (the training section's per-class table, the feature maps and the
    explanations of images of each class)."""
    classes = tuple(f"class{index:02d}" for index in range(11))
    workdir = tiny_workdir(tmp_path, classes=classes, models=["plain"], visualise={"max_images": 11})
    layout = layout_of(workdir)
    notebooks = [layout.notebook_file(name) for name in ("training", "feature_maps-plain", "explain-plain")]
    similarity = layout.notebook_file("similarity")
    result = snakemake(workdir, *notebooks, similarity)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_every_table_follows_the_classes(workdir, ["plain"], classes, notebooks)
    # one seed: the similarity section measures one run's layers and says what it cannot measure, and how to
    cells = json.loads((workdir / similarity).read_text())["cells"]
    shown = "".join(
        "".join(output.get("data", {}).get("text/html", "")) for cell in cells for output in cell.get("outputs", [])
    )
    for words in (text("similarity.one_seed", seed=0), text("similarity.identification_unknown")):
        assert html.escape(words, quote=False) in shown
