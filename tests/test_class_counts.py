"""A data set of more classes than CIFAR-10's ten through the whole workflow (the shared end-to-end run has two,
test_pipeline.py): the models, every table and the report follow its classes."""

import pytest

from helpers import assert_every_table_follows_the_classes, snakemake, tiny_workdir

pytestmark = pytest.mark.e2e


def test_the_models_and_every_table_follow_eleven_classes(tmp_path):
    """More than CIFAR-10's ten, on the smallest run that writes every section: one model, one seed."""
    classes = tuple(f"class{index:02d}" for index in range(11))
    few_images = {
        "visualise": {"max_images": 4},
        "faithfulness": {"images": 2, "sanity_images": 2},
    }  # classes, not images
    workdir = tiny_workdir(tmp_path, classes=classes, models=["plain"], **few_images)
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_every_table_follows_the_classes(workdir, ["plain"], classes)
