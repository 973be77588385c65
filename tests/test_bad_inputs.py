"""Bad input through the real `snakemake` command: one line naming the key or file, a non-zero exit, no
traceback, and nothing written under results/ (all dry runs: the checks run before any job is planned)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cnnlens.config import gpu_visible

from helpers import REPO, snakemake, tiny_workdir

pytestmark = pytest.mark.e2e  # each test starts Snakemake, which takes seconds before the checks run

HELD_OUT = REPO.parent  # a folder that holds the checkout

# (name, config merged on top of tiny.yaml, the fragment the one error line must hold)
BAD_CONFIGS = [
    ("epochs not a number", {"train": {"epochs": "ten"}}, "config key 'train.epochs' must be of type integer"),
    ("no epochs", {"train": {"epochs": 0}}, "config key 'train.epochs': 0 is less than the minimum of 1"),
    ("negative batch", {"train": {"batch_size": -1}}, "config key 'train.batch_size'"),
    ("lr factor above 1", {"train": {"lr_factor": 1.5}}, "config key 'train.lr_factor'"),
    ("unknown device", {"train": {"device": "gpu"}}, "config key 'train.device'"),
    ("unknown precision", {"train": {"precision": "fp16"}}, "config key 'train.precision' must be one of"),
    ("unknown compile", {"train": {"compile": "maybe"}}, "config key 'train.compile' must be one of"),
    ("misspelt train key", {"train": {"epoch": 10}}, "unknown config key 'train.epoch'"),
    ("misspelt top key", {"trian": {}}, "unknown config key 'trian'"),
    ("undefined variant", {"models": ["plain", "resnet"]}, "config key 'models[1]': variant 'resnet' is not defined"),
    ("no models", {"models": []}, "config key 'models'"),
    ("variant name with a slash", {"models": ["plain", "a/b"]}, "config key 'models[1]'"),
    ("repeated seed", {"seeds": [0, 0]}, "config key 'seeds'"),
    ("negative seed", {"seeds": [-1]}, "config key 'seeds[0]'"),
    ("unknown attention", {"variants": {"x": {"attention": "transformer"}}}, "config key 'variants.x.attention'"),
    ("no block 4", {"variants": {"x": {"blocks": [4]}}}, "config key 'variants.x.blocks[0]'"),
    ("baseline not trained", {"compare": {"baseline": "cbam"}}, "config key 'compare.baseline'"),
    ("alpha above 1", {"compare": {"alpha": 1.5}}, "config key 'compare.alpha'"),
    ("visualised seed not trained", {"visualise": {"seed": 3}}, "config key 'visualise.seed': 3 is not among"),
    ("unknown layer", {"visualise": {"layers": ["conv9"]}}, "config key 'visualise.layers[0]' must be one of"),
    ("no channels", {"visualise": {"channels": 0}}, "config key 'visualise.channels'"),
    ("unknown channel mode", {"visualise": {"channel_modes": ["middle"]}}, "config key 'visualise.channel_modes[0]'"),
    ("Grad-CAM of a linear layer", {"visualise": {"gradcam_layer": "fc2"}}, "config key 'visualise.gradcam_layer'"),
    ("too many images", {"visualise": {"max_images": 100000}}, "config key 'visualise.max_images'"),
    ("no depth layers", {"visualise": {"depth_layers": []}}, "config key 'visualise.depth_layers'"),
    ("unknown data source", {"data": {"source": "imagenet"}}, "config key 'data.source' must be one of"),
    ("image size not a multiple of 8", {"data": {"image_size": 30}}, "config key 'data.image_size'"),
    ("no data path", {"data": {"path": None}}, "config key 'data.path' must be of type string"),
    ("missing data path", {"data": {"path": "nowhere"}}, "config key 'data.path': nowhere does not exist"),
    (
        "CIFAR-10 folder is a file",
        {"data": {"source": "cifar10", "path": "tiny.yaml"}},
        "config key 'data.path': tiny.yaml is a file",
    ),
    ("missing VGG16 weights", {"vgg": {"weights": "vgg16.pth"}}, "config key 'vgg.weights': vgg16.pth does not exist"),
    ("VGG16 weights a folder", {"vgg": {"weights": "images"}}, "config key 'vgg.weights': images is a folder"),
    ("missing photo", {"vgg": {"photos": ["cat.jpg"]}}, "config key 'vgg.photos[0]': cat.jpg does not exist"),
    ("photo a folder", {"vgg": {"photos": ["images"]}}, "config key 'vgg.photos[0]': images is a folder"),
    ("no VGG16 layer 31", {"vgg": {"layers": [31]}}, "config key 'vgg.layers[0]'"),
    ("empty results", {"results": ""}, "config key 'results'"),
    (
        "results in the workflow's folders",
        {"results": str(REPO / "src" / "out")},
        "config key 'results': " + str(REPO / "src" / "out") + " lies in the workflow's folder src/",
    ),
    ("results the checkout", {"results": str(REPO)}, f"config key 'results': {REPO} holds the workflow's own files"),
    ("results above the checkout", {"results": str(HELD_OUT)}, "holds the workflow's own files"),
]


def assert_refused(result: subprocess.CompletedProcess, fragment: str, workdir: Path) -> None:
    """Non-zero exit, exactly one line of error naming what is wrong, no traceback, no results/."""
    output = result.stdout + result.stderr
    errors = [line for line in output.splitlines() if "error" in line.lower()]
    assert result.returncode != 0, output[-2000:]
    assert len(errors) == 1 and errors[0].startswith("cnnlens: error: ") and fragment in errors[0], output[-2000:]
    assert "Traceback" not in output and 'File "' not in output
    assert not (workdir / "results").exists()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tiny_workdir(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_CONFIGS],
)
def test_bad_config_stops_with_one_line_before_anything_is_written(workdir, change, fragment):
    (workdir / "bad.yaml").write_text(yaml.safe_dump(change))
    assert_refused(snakemake(workdir, "--dry-run", configfiles=("tiny.yaml", "bad.yaml")), fragment, workdir)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("train: {epochs: 2\n", "config file config.yaml, line 2, column 1: expected ',' or '}'"),
        ("", "config file config.yaml is empty"),
        ("- a list\n", "config file config.yaml holds a list"),
    ],
    ids=["syntax error", "empty", "a list"],
)
def test_a_broken_config_yaml_is_named_with_its_line(tmp_path, text, fragment):
    workdir = tiny_workdir(tmp_path)
    (workdir / "config.yaml").write_text(text)
    assert_refused(snakemake(workdir, "--dry-run"), fragment, workdir)


@pytest.mark.parametrize(
    ("configfiles", "config", "fragment"),
    [
        (("tiny.yaml", "missing.yaml"), (), "config file missing.yaml does not exist"),
        (("tiny.yaml", "broken.yaml"), (), "config file broken.yaml, line 2, column 1: expected ',' or '}'"),
        (("tiny.yaml", "empty.yaml"), (), "config file empty.yaml is empty"),
        (("tiny.yaml",), ("train.epochs=1",), "--config train.epochs=1: Snakemake takes no dotted keys"),
    ],
    ids=["missing config file", "config file syntax error", "empty config file", "dotted config key"],
)
def test_the_command_lines_config_is_checked_before_snakemake_reads_it(workdir, configfiles, config, fragment):
    """Snakemake reads these before the Snakefile runs: the profile's `cnnlens` logger checks them first."""
    (workdir / "broken.yaml").write_text("train: {epochs: 2\n")
    (workdir / "empty.yaml").write_text("")
    result = snakemake(workdir, "--dry-run", *(("--config", *config) if config else ()), configfiles=configfiles)
    assert_refused(result, fragment, workdir)


def test_a_second_configfile_flag_is_refused_not_dropped(workdir):
    """Snakemake would silently keep only the files of the last flag."""
    (workdir / "quick.yaml").write_text("train: {epochs: 2}\n")
    result = snakemake(workdir, "--dry-run", "--configfile", "quick.yaml")  # after the helper's own flag
    assert_refused(result, "--configfile is given 2 times: Snakemake would read only quick.yaml and drop ", workdir)


@pytest.mark.skipif(gpu_visible(), reason="a GPU is visible: cuda is a good setting here")
def test_a_cuda_device_without_a_gpu_stops_the_run_before_its_first_job(workdir):
    """Checked as the run starts (only then does Snakemake know the jobs run here), so not in a dry run."""
    result = snakemake(workdir, "--config", "train={device: cuda}")
    assert_refused(result, "config key 'train.device': cuda, but no CUDA GPU is visible on this machine", workdir)


def test_nested_config_values_work_as_the_readme_shows_them(tmp_path):
    """Snakemake passes nested --config values as strings; numbers, booleans and null are read as YAML."""
    workdir = tiny_workdir(tmp_path)
    result = snakemake(
        workdir,
        "--dry-run",
        "--config",
        "train={epochs: 3, lr: 1e-3, augment: false}",
        "visualise={seed: null, channels: 4}",
        "compare={alpha: 0.1}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"epochs": 3' in result.stdout and '"lr": 0.001' in result.stdout and '"augment": false' in result.stdout
    assert '"channels": 4' in result.stdout
    refused = snakemake(workdir, "--dry-run", "--config", "train={epochs: ten}")
    assert_refused(refused, "config key 'train.epochs' must be of type integer, got 'ten'", workdir)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_weights_file_is_named(tmp_path):
    workdir = tiny_workdir(tmp_path)
    weights = workdir / "vgg16.pth"
    weights.write_bytes(b"")
    weights.chmod(0)
    (workdir / "bad.yaml").write_text(yaml.safe_dump({"vgg": {"weights": "vgg16.pth"}}))
    result = snakemake(workdir, "--dry-run", configfiles=("tiny.yaml", "bad.yaml"))
    assert_refused(result, "config key 'vgg.weights': vgg16.pth cannot be read", workdir)


def test_results_in_the_checkout_itself_is_refused_before_anything_is_touched(tmp_path):
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
    result = snakemake(checkout, "--dry-run", "--config", "results=.", repo=checkout)
    assert_refused(result, "config key 'results': . holds the workflow's own files", checkout)
    assert snapshot(checkout) == before


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` but git's and Snakemake's own, with its contents."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and path.relative_to(folder).parts[0] not in (".git", ".snakemake")
    }
