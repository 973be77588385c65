import re

import pytest
import yaml

from cnnlens.config import ConfigError, check_command_line, representative_seed, validate_config

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


def test_the_command_lines_config_files_are_checked_the_last_option_counting_as_in_snakemake(tmp_path):
    good, missing, empty = tmp_path / "good.yaml", tmp_path / "missing.yaml", tmp_path / "empty.yaml"
    good.write_text("train: {epochs: 2}\n")
    empty.write_text("")
    check_command_line(["--configfile", str(missing), "--cores", "1", "--configfile", str(good)])
    with pytest.raises(ConfigError, match=f"config file {re.escape(str(missing))} does not exist"):
        check_command_line(["--configfiles", str(good), str(missing)])
    with pytest.raises(ConfigError, match=f"config file {re.escape(str(empty))} is empty"):
        check_command_line([f"--configfile={empty}"])
