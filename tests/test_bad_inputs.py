"""Bad input stops before any job: one line naming the key or file, exit 1, no traceback, nothing under results/.

The battery runs in-process, through the call the Snakefile makes (``stop_on_bad_config(validate_config, ...)``)
on the config Snakemake would merge; test_config.py holds the checks' other cases. Three real `snakemake` starts
remain, one per place the wiring can break: the Snakefile's check as it is read, the profile's logger's check of
the command line, and the device check as the run starts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from snakemake.cli import parse_config
from snakemake.utils import update_config

from cnnlens.config import check_config_file, gpu_visible, stop_on_bad_config, validate_config

from helpers import REPO, SCHEMA, snakemake, tiny_workdir

HELD_OUT = REPO.parent  # a folder that holds the checkout

# (name, config merged on top of tiny.yaml, the key or file the one error line must name); test_config.py checks
# the cases of the schema and the references between keys, these the rest and the files.
BAD_CONFIGS = [
    ("negative batch", {"train": {"batch_size": -1}}, "'train.batch_size': -1"),
    ("unknown precision", {"train": {"precision": "fp16"}}, "'train.precision'"),
    ("unknown compile", {"train": {"compile": "maybe"}}, "'train.compile'"),
    ("negative seed", {"seeds": [-1]}, "'seeds[0]': -1"),
    ("no channels", {"visualise": {"channels": 0}}, "'visualise.channels': 0"),
    ("unknown channel mode", {"visualise": {"channel_modes": ["middle"]}}, "'visualise.channel_modes[0]'"),
    ("Grad-CAM of a linear layer", {"visualise": {"gradcam_layer": "fc2"}}, "'visualise.gradcam_layer'"),
    ("too many images", {"visualise": {"max_images": 100000}}, "'visualise.max_images': 100000"),
    ("no depth layers", {"visualise": {"depth_layers": []}}, "'visualise.depth_layers': []"),
    ("missing data path", {"data": {"path": "nowhere"}}, "'data.path': nowhere"),
    ("CIFAR-10 folder is a file", {"data": {"source": "cifar10", "path": "tiny.yaml"}}, "'data.path': tiny.yaml"),
    ("missing VGG16 weights", {"vgg": {"weights": "vgg16.pth"}}, "'vgg.weights': vgg16.pth"),
    ("VGG16 weights a folder", {"vgg": {"weights": "images"}}, "'vgg.weights': images"),
    ("missing photo", {"vgg": {"photos": ["cat.jpg"]}}, "'vgg.photos[0]': cat.jpg"),
    ("photo a folder", {"vgg": {"photos": ["images"]}}, "'vgg.photos[0]': images"),
    ("no VGG16 layer 31", {"vgg": {"layers": [31]}}, "'vgg.layers[0]': 31"),
    ("empty results", {"results": ""}, "'results'"),
    ("results in the workflow's folders", {"results": str(REPO / "src" / "out")}, f"'results': {REPO / 'src' / 'out'}"),
    ("results the checkout", {"results": str(REPO)}, f"'results': {REPO} "),
    ("results above the checkout", {"results": str(HELD_OUT)}, f"'results': {HELD_OUT} "),
]


def snakemakes_config(workdir: Path, *changes: dict) -> dict:
    """The config Snakemake makes of the repository's config.yaml, the workdir's tiny.yaml and ``changes``."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for change in (yaml.safe_load((workdir / "tiny.yaml").read_text()), *changes):
        update_config(config, change)
    return config


def assert_stops_in_one_line(capsys, check, *arguments, names: str, workdir: Path, **options) -> None:
    """``check`` as the Snakefile calls it: exit 1 with one line on stderr that names ``names``, nothing written."""
    with pytest.raises(SystemExit) as stopped:
        stop_on_bad_config(check, *arguments, **options)
    said = capsys.readouterr()
    assert stopped.value.code == 1 and said.out == ""
    [line] = said.err.splitlines()
    assert line.startswith("cnnlens: error: ") and names in line, line
    assert not (workdir / "results").exists()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tiny_workdir(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize(("change", "names"), [pytest.param(*case[1:], id=case[0]) for case in BAD_CONFIGS])
def test_bad_config_stops_with_one_line_before_anything_is_written(capsys, workdir, change, names):
    config = snakemakes_config(workdir, change)
    assert_stops_in_one_line(
        capsys, validate_config, config, SCHEMA, relative_to=workdir, repo=REPO, names=names, workdir=workdir
    )


@pytest.mark.parametrize(
    ("text", "names"),
    [("train: {epochs: 2\n", "config.yaml, line 2, column 1"), ("", "config.yaml"), ("- a list\n", "config.yaml")],
    ids=["syntax error", "empty", "a list"],
)
def test_a_broken_config_yaml_is_named_with_its_line(capsys, tmp_path, monkeypatch, text, names):
    """The Snakefile reads the working directory's config.yaml itself: Snakemake's message names no file."""
    (tmp_path / "config.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    assert_stops_in_one_line(capsys, check_config_file, "config.yaml", names=names, workdir=tmp_path)


def test_nested_config_values_are_read_as_yaml_as_the_readme_shows_them(workdir):
    """Snakemake passes nested --config values as strings; numbers, booleans and null are read as YAML."""
    given = [
        "train={epochs: 3, lr: 1e-3, augment: false}",
        "visualise={seed: null, channels: 4}",
        "compare={alpha: 0.1}",
    ]
    config = validate_config(snakemakes_config(workdir, parse_config(given)), SCHEMA, relative_to=workdir)
    assert (config["train"]["epochs"], config["train"]["lr"], config["train"]["augment"]) == (3, 0.001, False)
    assert (config["visualise"]["seed"], config["visualise"]["channels"], config["compare"]["alpha"]) == (None, 4, 0.1)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_weights_file_is_named(capsys, tmp_path):
    workdir = tiny_workdir(tmp_path)
    weights = workdir / "vgg16.pth"
    weights.write_bytes(b"")
    weights.chmod(0)
    config = snakemakes_config(workdir, {"vgg": {"weights": "vgg16.pth"}})
    assert_stops_in_one_line(
        capsys, validate_config, config, SCHEMA, relative_to=workdir, names="'vgg.weights': vgg16.pth", workdir=workdir
    )


def test_results_in_the_checkout_itself_is_refused_before_anything_is_touched(capsys, tmp_path, monkeypatch):
    """`results: .` run from the checkout would overwrite config.yaml and delete the notebooks."""
    checkout = tmp_path / "checkout"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, checkout / name)
    shutil.copytree(REPO / ".git", checkout / ".git")
    tiny_workdir(checkout)
    before = snapshot(checkout)
    monkeypatch.chdir(checkout)
    config = snakemakes_config(checkout, {"results": "."})
    assert_stops_in_one_line(
        capsys, validate_config, config, SCHEMA, relative_to=".", repo=checkout, names="'results': .", workdir=tmp_path
    )
    assert snapshot(checkout) == before


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` but git's own, with its contents."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and path.relative_to(folder).parts[0] != ".git"
    }


def assert_refused(result: subprocess.CompletedProcess, names: str, workdir: Path) -> None:
    """Non-zero exit, exactly one line of error naming ``names``, no traceback, no results/."""
    output = result.stdout + result.stderr
    errors = [line for line in output.splitlines() if "error" in line.lower()]
    assert result.returncode != 0, output[-2000:]
    assert len(errors) == 1 and errors[0].startswith("cnnlens: error: ") and names in errors[0], output[-2000:]
    assert "Traceback" not in output and 'File "' not in output
    assert not (workdir / "results").exists()


@pytest.mark.e2e
def test_the_snakefile_refuses_a_bad_config_file_before_planning(workdir):
    (workdir / "bad.yaml").write_text(yaml.safe_dump({"train": {"epochs": "ten"}}))
    result = snakemake(workdir, "--dry-run", configfiles=("tiny.yaml", "bad.yaml"))
    assert_refused(result, "'train.epochs'", workdir)


@pytest.mark.e2e
def test_the_profiles_logger_refuses_a_second_configfile_flag_before_snakemake_drops_it(workdir):
    """Snakemake would silently keep only the files of the last flag."""
    (workdir / "quick.yaml").write_text("train: {epochs: 2}\n")
    result = snakemake(workdir, "--dry-run", "--configfile", "quick.yaml")  # after the helper's own flag
    assert_refused(result, f"--configfile {REPO / 'config.yaml'} tiny.yaml quick.yaml", workdir)


@pytest.mark.e2e
@pytest.mark.skipif(gpu_visible(), reason="a GPU is visible: cuda is a good setting here")
def test_a_cuda_device_without_a_gpu_stops_the_run_before_its_first_job(workdir):
    """Checked as the run starts (only then does Snakemake know the jobs run here), so not in a dry run."""
    result = snakemake(workdir, "--config", "train={device: cuda}")
    assert_refused(result, "'train.device': cuda", workdir)
