import os
import re
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from PIL import Image
from torchvision.models import vgg16

from cnnlens import config as config_module
from cnnlens.config import (
    FIX_HINT,
    PHOTOS_CHOICES,
    RESULTS_CHOICES,
    ConfigError,
    check_command_line,
    check_device,
    describe,
    representative_seed,
    resolved_device,
    validate_config,
)
from cnnlens.models.vgg16_shapes import CHOICES as VGG_WEIGHTS_CHOICES

from helpers import REPO, SCHEMA


def default_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_default_config_is_the_source_recipe():
    config = validate_config(default_config(), SCHEMA)
    assert config["train"] == {
        "epochs": 50,
        "batch_size": 64,
        "lr": 0.001,
        "lr_patience": 3,
        "lr_factor": 0.5,
        "augment": True,
        "device": "auto",
        "threads": 0,
        "compile": "auto",
        "cuda_graph": True,
        "precision": "fp32",
    }
    assert config["models"] == ["plain", "attention"]
    assert config["variants"]["plain"] == {"attention": "none", "blocks": [1, 2, 3], "reduction": 16}
    assert config["variants"]["attention"] == {"attention": "se", "blocks": [1, 2, 3], "reduction": 16}
    assert config["compare"] == {"baseline": "plain", "alpha": 0.05}
    assert config["data"]["source"] == "cifar10"
    assert config["visualise"]["layers"] == ["conv1", "conv2", "conv3"]
    assert config["visualise"]["seed"] is None


def test_schema_defaults_fill_a_nearly_empty_config():
    config = validate_config({"train": {"epochs": 2}}, SCHEMA)
    assert config["train"]["epochs"] == 2
    assert config["train"]["batch_size"] == 64
    assert config["data"] == {"source": "cifar10", "path": None, "image_size": 32}
    assert config["seeds"] == [0]


def test_schema_defaults_match_config_yaml():
    assert validate_config({}, SCHEMA) == validate_config(default_config(), SCHEMA)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"train": {"epoch": 10}}, r"unknown config key 'train.epoch'.*allowed here: augment, batch_size"),
        ({"trian": {}}, r"unknown config key 'trian'"),
        ({"train": {"epochs": "ten"}}, r"config key 'train.epochs' must be of type integer, got 'ten'"),
        ({"train": {"epochs": 0}}, r"config key 'train.epochs': 0 is less than the minimum of 1"),
        ({"train": {"lr_factor": 1.5}}, r"config key 'train.lr_factor'"),
        ({"train": {"device": "gpu"}}, r"config key 'train.device'.*does not match"),
        (
            {"models": ["plain", "resnet"]},
            r"config key 'models\[1\]': variant 'resnet' is not defined under 'variants'",
        ),
        ({"models": ["plain", "a/b"]}, r"config key 'models\[1\]': 'a/b' does not match"),
        ({"variants": {"cbam": {"attention": "cbam", "block": [1]}}}, r"unknown config key 'variants.cbam.block'"),
        ({"variants": {"x": {"attention": "transformer"}}}, r"config key 'variants.x.attention' must be one of"),
        ({"variants": {"x": {"blocks": [4]}}}, r"config key 'variants.x.blocks\[0\]' must be one of \[1, 2, 3\]"),
        ({"compare": {"baseline": "cbam"}}, r"config key 'compare.baseline': 'cbam' is not among the models"),
        ({"compare": {"alpha": 1.5}}, r"config key 'compare.alpha'"),
        ({"visualise": {"seed": 3}}, r"config key 'visualise.seed': 3 is not among the seeds \[0\]"),
        ({"models": []}, r"config key 'models'"),
        ({"seeds": [0, 0]}, r"config key 'seeds'.*non-unique"),
        ({"data": {"source": "imagenet"}}, r"config key 'data.source' must be one of"),
        ({"data": {"source": "imagefolder", "path": None}}, r"config key 'data.path' must be of type string"),
        ({"data": {"image_size": 30}}, r"config key 'data.image_size'.*multiple of 8"),
        ({"visualise": {"layers": ["conv9"]}}, r"config key 'visualise.layers\[0\]' must be one of"),
        (
            {"faithfulness": {"images": "some"}},
            r"config key 'faithfulness.images' must be a whole number ≥ 1, or all, ",
        ),
        (
            {"faithfulness": {"images": 0}},
            r"config key 'faithfulness.images' must be a whole number ≥ 1, or all, got 0",
        ),
        (
            {"variants": {"plain": {}, "attention": {"attention": "se", "reduction": 1000}}},
            (
                r"config key 'variants.attention.reduction': 1000 leaves block 1 \(32 channels\) a bottleneck of 0 "
                r"channels: set it to 32 or less, the largest for blocks \[1, 2, 3\]$"
            ),
        ),
        (
            {"variants": {"plain": {}, "attention": {"attention": "cbam", "blocks": [3], "reduction": 129}}},
            r"'variants.attention.reduction': 129 leaves block 3 \(128 channels\).*set it to 128 or less",
        ),
    ],
)
def test_bad_config_names_the_key(change, message):
    config = default_config()
    for key, value in change.items():
        if isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    with pytest.raises(ConfigError, match=message) as raised:
        validate_config(config, SCHEMA)
    assert "\n" not in str(raised.value)


def test_imagefolder_without_a_path_is_refused():
    with pytest.raises(ConfigError, match=r"config key 'data.path'"):
        validate_config({"data": {"source": "imagefolder"}}, SCHEMA)


def test_recipe_and_engine_defaults_match_the_schema():
    from dataclasses import asdict

    from cnnlens.training.engine import Engine
    from cnnlens.training.recipe import Recipe

    train = validate_config({}, SCHEMA)["train"]
    del train["device"], train["threads"]  # where to train is part of neither
    engine = {key: train.pop(key) for key in asdict(Engine())}
    assert asdict(Recipe()) == train
    assert Engine(**engine) == Engine()


def test_variant_defaults_match_the_architecture_and_the_builtins():
    from dataclasses import asdict

    from cnnlens.models.cnn import BUILTIN_VARIANTS, Architecture

    schema = yaml.safe_load(SCHEMA.read_text())["properties"]["variants"]
    options = schema["additionalProperties"]["properties"]
    defaults = {key: option["default"] for key, option in options.items()}
    assert Architecture(**defaults) == Architecture()
    assert {name: Architecture(**spec) for name, spec in schema["default"].items()} == BUILTIN_VARIANTS
    config = validate_config({}, SCHEMA)
    assert {name: Architecture(**spec) for name, spec in config["variants"].items()} == BUILTIN_VARIANTS
    assert asdict(Architecture())["blocks"] == tuple(defaults["blocks"])


def test_docs_config_md_is_the_schema_reference():
    """docs/config.md is generated from the schema (make docs): a key added or changed there must be regenerated."""
    from cnnlens.config import reference

    assert (REPO / "docs" / "config.md").read_text() == reference(SCHEMA)


def test_the_representative_seed_is_visualise_seed_or_the_first_seed():
    assert representative_seed({"seeds": [4, 2], "visualise": {"seed": None}}) == 4
    assert representative_seed({"seeds": [4, 2], "visualise": {"seed": 2}}) == 2


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("train.epochs=1", "--config train.epochs=1: Snakemake takes no dotted keys: write train='{epochs: 1}'"),
        ("visualise.depth.x=a", "write visualise='{depth: {x: a}}'"),
        ("1x=2", "--config 1x=2: '1x' is not a config key"),
        ("train", "--config train: write key=value"),
    ],
    ids=["dotted", "dotted twice", "not a name", "no value"],
)
def test_a_config_entry_snakemake_cannot_read_gets_one_line(entry, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_command_line(["--cores", "2", "--config", "seeds=[0]", entry, "--dry-run"])


def test_config_entries_snakemake_reads_pass():
    check_command_line(["-n", "--config", "train={epochs: 2, lr: 1e-3}", "results=out", "-C", "seeds=[0, 1]"])


def test_the_command_lines_config_files_are_checked(tmp_path):
    good, missing, empty = tmp_path / "good.yaml", tmp_path / "missing.yaml", tmp_path / "empty.yaml"
    good.write_text("train: {epochs: 2}\n")
    empty.write_text("")
    check_command_line(["--configfile", str(good), str(good), "--cores", "1"])
    with pytest.raises(ConfigError) as raised:
        check_command_line(["--configfiles", str(good), str(missing)])
    assert f"config file {missing}" in str(raised.value) and "--configfile" in str(raised.value)
    with pytest.raises(ConfigError, match=f"config file {re.escape(str(empty))} is empty"):
        check_command_line([f"--configfile={empty}"])


@pytest.mark.parametrize(
    "arguments",
    [
        ["--configfile", "quick.yaml", "--cores", "1", "--configfile", "my.yaml"],
        ["--configfile=quick.yaml", "--configfiles", "my.yaml"],
    ],
    ids=["twice", "both spellings"],
)
def test_a_second_configfile_flag_is_refused_as_snakemake_would_drop_the_first(arguments):
    """Snakemake keeps only the last flag's files; the refusal comes before any file is read (these do not exist)."""
    with pytest.raises(ConfigError) as raised:
        check_command_line(arguments)
    message = str(raised.value)
    assert message.startswith("--configfile") and "2 times" in message and "drop quick.yaml" in message
    assert "--configfile quick.yaml my.yaml" in message and "\n" not in message  # the remedy: one flag, in order


def test_a_reduction_that_fits_every_block_of_its_variant_passes():
    variants = {
        "narrow": {"attention": "se", "blocks": [1], "reduction": 32},
        "deep": {"attention": "cbam", "blocks": [3], "reduction": 128},
        "plain": {"attention": "none", "reduction": 1000},  # no attention module: the reduction is unused
        "attention": {},
    }
    validate_config({"variants": variants}, SCHEMA)


def test_a_choice_between_schemas_is_described_by_its_alternatives():
    """oneOf and anyOf get the descriptions of their alternatives, wherever in the choice best_match ends up."""
    choice = [{"type": "integer", "minimum": 2, "description": "a count ≥ 2"}, {"enum": ["few"], "description": "few"}]
    schema = {"properties": {"size": {"anyOf": choice}}}
    for value in ("many", 1):
        error = best_match(Draft202012Validator(schema).iter_errors({"size": value}))
        message = describe(error)
        assert message.startswith("config key 'size'") and message.endswith(f"{value!r}: {FIX_HINT}")
        assert "a count ≥ 2" in message and "few" in message
    undescribed = {"properties": {"size": {"oneOf": [{"type": "integer"}, {"const": "few"}]}}}
    error = best_match(Draft202012Validator(undescribed).iter_errors({"size": "many"}))
    assert describe(error) == f"config key 'size': {error.message}: {FIX_HINT}" and "'many'" in error.message


# ---- the checks that need this machine: GPUs, input files, the results folder ----


@pytest.fixture
def machine(monkeypatch, tmp_path):
    """A faked machine: no NVIDIA driver listing, no nvidia-smi, no CUDA_VISIBLE_DEVICES, a CUDA build of torch.
    Returns the folder that stands for /proc/driver/nvidia/gpus, which a test creates to install a GPU."""
    listing = tmp_path / "proc-driver-nvidia-gpus"
    monkeypatch.setattr(config_module, "NVIDIA_GPUS", listing)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(config_module, "_torch_version", lambda: "2.14.1+cu130")
    return listing


def install_gpu(listing):
    (listing / "0000:01:00.0").mkdir(parents=True)


def fake_nvidia_smi(tmp_path, output: str, status: int = 0) -> None:
    script = tmp_path / "bin" / "nvidia-smi"
    script.parent.mkdir(exist_ok=True)
    script.write_text(f"#!/bin/sh\nprintf '{output}'\nexit {status}\n")
    script.chmod(0o755)


def test_auto_resolves_to_cuda_only_where_the_driver_lists_a_gpu(machine):
    assert [resolved_device(setting) for setting in ("auto", "cpu", "cuda", "cuda:1")] == ["cpu", "cpu", "cuda", "cuda"]
    machine.mkdir(parents=True)  # a driver with no GPU
    assert resolved_device("auto") == "cpu"
    install_gpu(machine)
    assert [resolved_device(setting) for setting in ("auto", "cpu", "cuda", "cuda:1")] == [
        "cuda",
        "cpu",
        "cuda",
        "cuda",
    ]


@pytest.mark.parametrize(
    ("visible", "device"),
    [("", "cpu"), ("-1", "cpu"), (" -1,0", "cpu"), ("0", "cuda"), ("1,0", "cuda"), ("GPU-8a", "cuda")],
)
def test_cuda_visible_devices_can_hide_every_gpu(machine, monkeypatch, visible, device):
    install_gpu(machine)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert resolved_device("auto") == device


@pytest.mark.parametrize(
    ("output", "status", "device"),
    [
        ("GPU 0: NVIDIA H100 (UUID: GPU-8a)\\n  MIG 1g.10gb Device 0: (UUID: MIG-1)\\n", 0, "cuda"),
        ("No devices found.\\n", 0, "cpu"),
        ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\\n", 9, "cpu"),
    ],
    ids=["a gpu", "none", "no driver"],
)
def test_without_the_proc_listing_nvidia_smi_is_asked(machine, tmp_path, output, status, device):
    fake_nvidia_smi(tmp_path, output, status)
    assert resolved_device("auto") == device


def test_a_cpu_build_of_torch_sees_no_gpu(machine, monkeypatch):
    install_gpu(machine)
    monkeypatch.setattr(config_module, "_torch_version", lambda: "2.14.1+cpu")
    assert resolved_device("auto") == "cpu"


@pytest.mark.parametrize("available", [True, False])
def test_a_rocm_build_of_torch_is_asked_as_no_nvidia_listing_tells(machine, monkeypatch, available):
    monkeypatch.setattr(config_module, "_torch_version", lambda: "2.14.1+rocm6.4")
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: available)))
    assert resolved_device("auto") == ("cuda" if available else "cpu")


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_a_cuda_device_without_a_gpu_is_refused_where_the_jobs_run_here(machine, device):
    with pytest.raises(ConfigError) as raised:
        check_device(device)
    message = str(raised.value)
    assert message.startswith(f"config key 'train.device': {device}") and "\n" not in message
    assert all(setting in message for setting in ("CUDA GPU", "auto", "cpu"))  # what is missing, what to set
    validate_config({"train": {"device": device}}, SCHEMA)  # on a cluster the plan runs where there may be no GPU
    install_gpu(machine)
    check_device(device)


def test_auto_and_cpu_need_no_gpu(machine):
    for device in ("auto", "cpu"):
        check_device(device)


def vgg16_state() -> dict:
    """VGG16's keys and shapes, each tensor a view of one zero: saved, a file of a few KB, not 528 MB."""
    with torch.device("meta"):
        skeleton = vgg16()
    return {key: torch.zeros(()).expand(value.shape) for key, value in skeleton.state_dict().items()}


def truncated(path):
    torch.save(vgg16_state(), path)
    path.write_bytes(path.read_bytes()[:2000])


def check_vgg_weights(tmp_path, write):
    write(tmp_path / "vgg16.pth")
    return validate_config({"vgg": {"weights": "vgg16.pth"}}, SCHEMA, relative_to=tmp_path)


def test_a_vgg16_state_dict_file_passes_its_shapes_read_without_its_data(tmp_path, monkeypatch):
    """A file of torch.save's zip format is read without torch; only one of the format before torch 1.6 is left to
    torch.load, which cannot memory-map it."""
    mapped, load = [], torch.load

    def spied(*arguments, **options):
        mapped.append(options["mmap"])
        return load(*arguments, **options)

    monkeypatch.setattr(torch, "load", spied)
    check_vgg_weights(tmp_path, lambda path: torch.save(vgg16_state(), path))
    check_vgg_weights(tmp_path, lambda path: torch.save(OrderedDict(vgg16_state()), path))
    check_vgg_weights(tmp_path, lambda path: torch.save(vgg16_state(), path, _use_new_zipfile_serialization=False))
    assert mapped == [False]


def test_checking_a_vgg16_weights_file_while_planning_imports_no_torch(tmp_path):
    """Importing torch and torchvision would cost seconds at every snakemake start."""
    torch.save(vgg16_state(), tmp_path / "vgg16.pth")
    script = (
        "import sys; from cnnlens.config import validate_config; "
        f"validate_config({{'vgg': {{'weights': 'vgg16.pth'}}}}, {str(SCHEMA)!r}, relative_to={str(tmp_path)!r}); "
        "assert 'torch' not in sys.modules and 'torchvision' not in sys.modules, 'torch was imported'"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (lambda path: path.write_text("weights: imagenet\n"), "it is not a file that torch.save wrote"),
        (truncated, "cannot read VGG16 weights file"),
        (lambda path: torch.save([torch.zeros(2)], path), "holds a list, not a state_dict"),
        (lambda path: torch.save({"fc.weight": torch.zeros(2, 2)}, path), "does not match VGG16 (32 missing keys"),
        (lambda path: torch.save({**vgg16_state(), "extra": torch.zeros(1)}, path), "1 unexpected keys, e.g. extra"),
        (
            lambda path: torch.save(dict.fromkeys(vgg16_state(), torch.zeros(1)), path),
            "32 shape mismatches, e.g. features.0.weight (1,) instead of (64, 3, 3, 3)",
        ),
    ],
    ids=["text", "truncated", "list", "another model", "extra key", "wrong shapes"],
)
def test_a_vgg_weights_file_that_is_not_vgg16_is_refused_in_one_line(tmp_path, write, expected):
    with pytest.raises(ConfigError) as raised:
        check_vgg_weights(tmp_path, write)
    message = str(raised.value)
    assert message.startswith("config key 'vgg.weights': ") and expected in message and "\n" not in message
    assert message.endswith(VGG_WEIGHTS_CHOICES)


def photo(path, size=(64, 48), format=None):
    Image.new("RGB", size, (200, 120, 40)).save(path, format=format)
    return path.name


def truncated_jpeg(path):
    """A JPEG cut in half: Image.verify passes it, decoding it fails."""
    noise = np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, format="JPEG")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path.name


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (lambda path: path.write_text("a cat\n") and path.name, "cannot identify image file"),
        (truncated_jpeg, "truncated"),
    ],
    ids=["text", "truncated"],
)
def test_a_photo_that_does_not_decode_is_refused_naming_its_place_in_the_list(tmp_path, write, expected):
    photos = [photo(tmp_path / "good.png"), write(tmp_path / "bad.jpg")]
    with pytest.raises(ConfigError) as raised:
        validate_config({"vgg": {"photos": photos}}, SCHEMA, relative_to=tmp_path)
    message = str(raised.value)
    assert message.startswith("config key 'vgg.photos[1]': bad.jpg") and "\n" not in message
    assert expected in message.lower() and message.endswith(PHOTOS_CHOICES)


def test_photos_that_decode_pass(tmp_path):
    photos = [photo(tmp_path / "a.png"), photo(tmp_path / "b.jpg", (1200, 900)), photo(tmp_path / "c.webp")]
    validate_config({"vgg": {"photos": photos}}, SCHEMA, relative_to=tmp_path)


def test_a_results_path_that_is_a_file_or_lies_under_one_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("a file\n")
    for results, expected in [
        ("notes.txt", "config key 'results': notes.txt is a file, not a folder: choose a folder you can write"),
        ("notes.txt/results", "config key 'results': notes.txt/results lies under the file "),
    ]:
        with pytest.raises(ConfigError) as raised:
            validate_config({"results": results}, SCHEMA, relative_to=tmp_path)
        assert str(raised.value).startswith(expected) and "\n" not in str(raised.value)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]  # nothing made


def test_a_results_folder_that_cannot_be_made_is_refused_and_one_that_can_is_not_made(tmp_path):
    with pytest.raises(ConfigError) as raised:
        validate_config({"results": "/proc/cnnlens-results"}, SCHEMA, relative_to=tmp_path)
    message = str(raised.value)
    assert message.startswith("config key 'results': /proc/cnnlens-results") and message.endswith(RESULTS_CHOICES)
    validate_config({"results": "new/results"}, SCHEMA, relative_to=tmp_path)
    assert list(tmp_path.iterdir()) == []  # the test folder it made and removed leaves nothing


def test_a_results_folder_with_a_file_snakemake_cannot_replace_is_refused(tmp_path, monkeypatch):
    """The permission itself is faked: root, as CI runs, may write anything."""
    protected = tmp_path / "results" / "report" / "abc" / "report.html"
    protected.parent.mkdir(parents=True)
    protected.write_text("<html>")
    (tmp_path / "results" / "report" / "other.html").write_text("<html>")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != protected and real_access(path, mode))
    with pytest.raises(ConfigError) as raised:
        validate_config({"results": "results"}, SCHEMA, relative_to=tmp_path)
    message = str(raised.value)
    assert message.startswith(f"config key 'results': {protected} ") and "\n" not in message
    assert "(chmod -R u+w results)" in message and message.endswith(RESULTS_CHOICES)
    monkeypatch.setattr(os, "access", real_access)
    validate_config({"results": "results"}, SCHEMA, relative_to=tmp_path)
