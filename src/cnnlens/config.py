"""Validating the experiment config against its JSON schema, with one-line errors that name the key."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError, best_match

from cnnlens.errors import CnnlensError

FIX_HINT = "fix it in config.yaml or in --config/--configfile"


class ConfigError(CnnlensError):
    """The config does not match the schema."""


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Fill in the schema's defaults (in place) and check the config; return it.

    Uses ``snakemake.utils.validate`` (which fills defaults); on a violation raises
    :class:`ConfigError` with one line that names the offending key.
    """
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    try:
        validate(config, str(schema_path))
    except WorkflowError:
        schema = yaml.safe_load(Path(schema_path).read_text())
        error = best_match(jsonschema.validators.validator_for(schema)(schema).iter_errors(config))
        raise ConfigError(describe(error)) from None
    _check_references(config)
    return config


def _check_references(config: dict) -> None:
    """What a JSON schema cannot say: names that must refer to each other."""
    for index, name in enumerate(config["models"]):
        if name not in config["variants"]:
            raise ConfigError(
                f"config key 'models[{index}]': variant '{name}' is not defined under 'variants' "
                f"(defined: {', '.join(config['variants'])}): {FIX_HINT}"
            )
    seed = config["visualise"]["seed"]
    if seed is not None and seed not in config["seeds"]:
        raise ConfigError(f"config key 'visualise.seed': {seed} is not among the seeds {config['seeds']}: {FIX_HINT}")
    if config["compare"]["baseline"] not in config["models"]:
        raise ConfigError(
            f"config key 'compare.baseline': '{config['compare']['baseline']}' is not among the models "
            f"{config['models']}: {FIX_HINT}"
        )


def describe(error: ValidationError) -> str:
    """``config key 'train.epochs' must be of type integer, got 'ten'`` and the like."""
    key = _dotted(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unexpected = sorted(set(error.instance) - set(allowed))
        names = ", ".join(f"'{_join(key, name)}'" for name in unexpected)
        return f"unknown config key {names}: {FIX_HINT} (allowed here: {', '.join(allowed)})"
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        return f"config key '{_join(key, missing[0])}' is required here: {FIX_HINT}"
    if error.validator == "type":
        expected = error.validator_value
        return f"config key '{key}' must be of type {expected}, got {error.instance!r}: {FIX_HINT}"
    if error.validator == "enum":
        return f"config key '{key}' must be one of {error.validator_value}, got {error.instance!r}: {FIX_HINT}"
    return f"config key '{key}': {error.message}: {FIX_HINT}"


def _dotted(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<top level>"


def _join(parent: str, name: str) -> str:
    return name if parent == "<top level>" else f"{parent}.{name}"
