"""Validating the experiment config: one-line errors that name the key (or the file), before anything runs.

Three layers of checks: the config files themselves (present, not empty, valid YAML), the values
against the JSON schema (which also fills in the defaults), and what a schema cannot say: names that
refer to each other, attention bottlenecks the blocks can hold, a GPU that is there, input files that are
what their key says (a VGG16 state_dict, images), and a results folder that must not overlap the workflow
and that Snakemake can create and write. They run while the workflow plans, because a job that fails
does so after Snakemake has removed its old outputs; each stays cheap, so that planning stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError, best_match

from cnnlens.errors import CnnlensError, one_line
from cnnlens.models.architecture import bottleneck_problem

FIX_HINT = "fix it in config.yaml or in --config/--configfile"
# Folders of the workflow itself: results must not lie in them even where git cannot be asked.
WORKFLOW_FOLDERS = ("workflow", "notebooks", "src", "tests", "config", "profiles", "benchmarks", "docs", ".git")
VGG_WEIGHTS_CHOICES = "set it to imagenet, none or the path of a VGG16 state_dict file"
PHOTOS_CHOICES = "list image files, or [] for the bundled sample photos"
RESULTS_CHOICES = "choose a folder you can write, e.g. results"
# What Snakemake accepts as a --config key: a top-level name (no dots).
CONFIG_KEY = re.compile(r"[a-zA-Z_][\w-]*\w$")
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")  # one folder per GPU, where Linux has NVIDIA's driver loaded
Checked = TypeVar("Checked")


class ConfigError(CnnlensError):
    """The config does not match the schema, or names something that is not there."""


def stop_on_bad_config(check: Callable[..., Checked], *arguments: Any, **options: Any) -> Checked:
    """Run a config check; on bad input, one line and exit 1 before any job is planned or anything written."""
    try:
        return check(*arguments, **options)
    except ConfigError as error:
        print(f"cnnlens: error: {error}", file=sys.stderr)
        sys.exit(1)


def check_command_line(arguments: Sequence[str]) -> None:
    """Check the config files and ``--config`` entries of a ``snakemake`` command line.

    Snakemake reads them before the Snakefile runs, and reports a missing file or a dotted key with a
    traceback, an empty or malformed file in a line that names no file, and of two ``--configfile`` flags
    drops the first without a word.
    """
    # Exact option names only (Snakemake would also take an abbreviation).
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--configfile", "--configfiles", nargs="+", action="append", default=[])
    parser.add_argument("--config", "-C", nargs="*", default=[])
    given, _ = parser.parse_known_args(arguments)
    for entry in given.config:
        check_config_entry(entry)
    check_one_configfile_option(given.configfile)
    for path in given.configfile[0] if given.configfile else []:
        check_config_file(path)


def check_one_configfile_option(options: Sequence[Sequence[str]]) -> None:
    """``--configfile`` at most once: Snakemake keeps only the files of the last one, silently; the files listed
    after one option it merges in order."""
    if len(options) > 1:
        dropped = " ".join(path for paths in options[:-1] for path in paths)
        files = " ".join(path for paths in options for path in paths)
        raise ConfigError(
            f"--configfile is given {len(options)} times: Snakemake would read only {' '.join(options[-1])} and drop "
            f"{dropped}; list the files after one flag, --configfile {files}, and they are merged in that order"
        )


def check_config_entry(entry: str) -> None:
    """One ``--config`` entry as Snakemake wants it, ``key=value`` with a top-level key; a dotted key gets
    the nested form that does the same."""
    key, equals, value = entry.partition("=")
    if not equals:
        raise ConfigError(f"--config {entry}: write key=value, e.g. train='{{epochs: 2}}', or use --configfile")
    if CONFIG_KEY.match(key):
        return
    top, *inner = key.split(".")
    if inner and CONFIG_KEY.match(top) and all(inner):
        for name in reversed(inner):
            value = f"{{{name}: {value}}}"
        raise ConfigError(
            f"--config {entry}: Snakemake takes no dotted keys: write {top}='{value}', or use --configfile"
        )
    raise ConfigError(f"--config {entry}: '{key}' is not a config key (see docs/config.md), or use --configfile")


def check_config_file(path: str | Path) -> dict:
    """Read one config file: a one-line error naming the file (and the line of a syntax error)."""
    path = Path(path)
    _check_readable(path, f"config file {path}", "a YAML file", "pass an existing file to --configfile")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"config file {path}{where}: {error.problem or error.context}: fix the YAML syntax") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {path} is not valid YAML ({error}): fix the YAML syntax") from None
    if loaded is None:
        raise ConfigError(f"config file {path} is empty: give it keys such as 'train: {{epochs: 2}}', or leave it out")
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"config file {path} holds a {type(loaded).__name__}, not keys and values: write it as 'key: value' lines"
        )
    return loaded


def validate_config(
    config: dict,
    schema_path: str | Path,
    relative_to: str | Path | None = None,
    repo: str | Path | None = None,
) -> dict:
    """Fill in the schema's defaults (in place) and check the config; return it.

    Nested ``--config`` values arrive as strings (``--config train='{epochs: 2}'`` gives ``'2'``); where the
    schema wants a number, boolean or null, such a string is read as YAML first. With ``relative_to``, paths
    are checked relative to it (the input files' contents too, and that the results folder can be created and
    written); with ``repo``, the results folder must not overlap the workflow's files.
    """
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    schema = yaml.safe_load(Path(schema_path).read_text())
    _coerce_strings(config, schema, jsonschema.validators.validator_for(schema))
    try:
        validate(config, str(schema_path))
    except WorkflowError:
        error = best_match(jsonschema.validators.validator_for(schema)(schema).iter_errors(config))
        raise ConfigError(describe(error)) from None
    _check_references(config)
    check_bottlenecks(config["variants"])
    if repo is not None:
        check_results_folder(Path(relative_to or ".") / config["results"], Path(repo), config["results"])
    if relative_to is not None:
        check_results_writable(Path(relative_to) / config["results"], config["results"])
        check_paths(config, Path(relative_to))
    return config


def _coerce_strings(instance: Any, schema: dict, validator: type) -> Any:
    """Replace strings that only the YAML reading of makes valid (``'2'`` for an integer); return the value."""
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, value in instance.items():
            subschema = properties.get(key, extra if isinstance(extra, dict) else None)
            if subschema is not None:
                instance[key] = _coerce_strings(value, subschema, validator)
        return instance
    if isinstance(instance, list) and isinstance(schema.get("items"), dict):
        return [_coerce_strings(item, schema["items"], validator) for item in instance]
    if isinstance(instance, str):
        parsed = _scalar(instance)
        null_allowed = parsed is None and validator(schema).is_valid(None)
        if null_allowed or (not validator(schema).is_valid(instance) and validator(schema).is_valid(parsed)):
            return parsed
    return instance


def _scalar(text: str) -> Any:
    """A string as YAML reads it, with ``1e-3`` read as a number (YAML 1.1 wants ``1.0e-3``)."""
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(parsed, str):
        for number in (int, float):
            with contextlib.suppress(ValueError):
                return number(parsed)
    return parsed


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


def representative_seed(config: dict) -> int:
    """The seed whose runs the per-model analyses look inside: ``visualise.seed``, or the first of ``seeds``."""
    seed = config["visualise"]["seed"]
    return config["seeds"][0] if seed is None else seed


def check_bottlenecks(variants: dict) -> None:
    """Every variant's attention keeps a bottleneck of at least one channel in each of its blocks (the model
    refuses it too, but only when a training job builds it)."""
    for name, variant in variants.items():
        problem = bottleneck_problem(variant["attention"], variant["blocks"], variant["reduction"])
        if problem:
            raise ConfigError(f"config key 'variants.{name}.reduction': {problem}")


def check_device(setting: str) -> None:
    """A CUDA ``train.device`` finds a GPU on this machine, where the jobs run here: the Snakefile asks as the run
    starts (only then does Snakemake know where jobs run; a cluster's login machine needs no GPU), before any job."""
    if resolved_device(setting) == "cuda" and not gpu_visible():
        raise ConfigError(
            f"config key 'train.device': {setting}, but no CUDA GPU is visible on this machine: set it to auto "
            "(a GPU where there is one) or cpu"
        )


def resolved_device(setting: str) -> str:
    """``"cuda"`` or ``"cpu"``: the kind of device a ``train.device`` setting (auto, cpu, cuda, cuda:N) trains on,
    on this machine; ``auto`` is cuda only where :func:`gpu_visible`. Two settings that resolve alike train alike.

    Limits, those of :func:`gpu_visible`; and it answers for this machine: on a cluster, for the one that plans,
    not the node that runs the job. ``cuda`` stays cuda whether or not a GPU is there (:func:`check_device`).
    """
    if setting == "auto":
        return "cuda" if gpu_visible() else "cpu"
    return setting.partition(":")[0]


def gpu_visible() -> bool:
    """Whether a job started here would see a CUDA GPU, as torch would say, mostly without importing torch (seconds
    at every plan): an NVIDIA GPU that the driver lists (``/proc/driver/nvidia/gpus``, else ``nvidia-smi -L``) and
    that ``CUDA_VISIBLE_DEVICES`` does not hide (empty, or starting with a negative index such as -1, hides all).

    Limits: the build of torch is read from its version (``+cpu`` sees no GPU); a ROCm build (AMD GPUs, also
    addressed as cuda) is asked directly, at the cost of importing torch. A GPU that the driver lists but torch
    cannot use (a driver too old for torch's CUDA) counts as visible, and so does a ``CUDA_VISIBLE_DEVICES`` whose
    indices name no installed GPU: the training job then says so itself, as it did before this check.
    """
    build = _torch_version().partition("+")[2]  # cu130, rocm6.2, cpu; none for PyPI's default builds
    if build == "cpu":
        return False
    if build.startswith("rocm"):
        import torch

        return torch.cuda.is_available()
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip()
    return not (hidden == "" or hidden.startswith("-")) and _nvidia_gpu_installed()


def _torch_version() -> str:
    """The installed torch's version (``2.14.1+cu130``), from its package metadata rather than an import."""
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _nvidia_gpu_installed() -> bool:
    """An NVIDIA GPU with a working driver: listed under /proc on Linux, else by ``nvidia-smi`` (Windows, WSL)."""
    if NVIDIA_GPUS.is_dir():
        return any(NVIDIA_GPUS.iterdir())
    try:
        found = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):  # no nvidia-smi, no driver, a hung GPU
        return False
    return any(line.startswith("GPU ") for line in found.stdout.splitlines())


def check_paths(config: dict, workdir: Path) -> None:
    """Every path the config names exists and can be read, as a file or folder as the key expects."""
    data = config["data"]
    if data["source"] == "imagefolder":
        _check_readable(
            workdir / data["path"],
            f"config key 'data.path': {data['path']}",
            "a folder or .tar.gz",
            "set it to an ImageFolder directory or .tar.gz",
            folder_ok=True,
        )
    elif data["path"] is not None and (workdir / data["path"]).is_file():
        raise ConfigError(
            f"config key 'data.path': {data['path']} is a file, but CIFAR-10 needs a download folder: "
            "set it to a folder, or to null for <results>/data/cifar10"
        )
    weights = config["vgg"]["weights"]
    if weights not in ("imagenet", "none"):
        _check_readable(
            workdir / weights, f"config key 'vgg.weights': {weights}", "a state_dict file", VGG_WEIGHTS_CHOICES
        )
        _check_weights_file(workdir / weights)
    for index, photo in enumerate(config["vgg"]["photos"]):
        what = f"config key 'vgg.photos[{index}]': {photo}"
        _check_readable(workdir / photo, what, "an image file", PHOTOS_CHOICES)
        _check_photo(workdir / photo, what)


def _check_weights_file(path: Path) -> None:
    """A VGG16 state_dict (keys and shapes), checked as the vgg job checks it: the job's own check comes after
    Snakemake has removed the last good VGG16 outputs. Read without torch (seconds to import, at every plan), but for
    a file in torch's format before 1.6, which only torch reads."""
    from cnnlens.models.vgg16_shapes import LEGACY, check_shapes, saved_format, saved_shapes

    try:
        if saved_format(path) == LEGACY:
            from cnnlens.models.vgg16 import read_weights_file  # torch: seconds, paid only for such an old file

            read_weights_file(path, shapes_only=True)
        else:
            check_shapes(path, saved_shapes(path))
    except CnnlensError as error:
        raise ConfigError(f"config key 'vgg.weights': {error}") from None


def _check_photo(path: Path, what: str) -> None:
    """An image that decodes, as the vgg job decodes it. ``Image.verify`` would not do: it reads no JPEG data, so a
    truncated photo would pass. JPEGs decode at a reduced scale (``draft``), reading all of their data but few
    pixels. Truncated files are refused even where an imported library (WeasyPrint) told PIL to accept them."""
    from PIL import Image, ImageFile

    accept_truncated, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        with Image.open(path) as image:
            image.draft("RGB", (1, 1))  # a JPEG decodes at an eighth of its size; other formats ignore it
            image.load()
    except Exception as error:  # not an image, truncated, a decompression bomb: PIL raises many types
        raise ConfigError(f"{what} is not an image that can be read ({one_line(error)}): {PHOTOS_CHOICES}") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = accept_truncated


def _check_readable(path: Path, what: str, expected: str, fix: str, folder_ok: bool = False) -> None:
    """One line when ``path`` is missing, unreadable, or a folder where a file is expected."""
    if not path.exists():
        raise ConfigError(f"{what} does not exist: {fix}")
    if path.is_dir() and not folder_ok:
        raise ConfigError(f"{what} is a folder, not {expected}: {fix}")
    if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
        raise ConfigError(f"{what} cannot be read (permission denied): {fix}")


def check_results_folder(results: Path, repo: Path, given: str) -> None:
    """The results folder may not be the repository, hold it, hold its tracked files, or lie in its folders.

    Snakemake deletes a job's outputs before running it and writes ``<results>/config.yaml`` and
    ``<results>/notebooks/``: pointed at the checkout, that would overwrite and delete the workflow's files.
    """
    results, repo = results.resolve(), repo.resolve()
    problem = None
    if results == repo or repo.is_relative_to(results):
        problem = "holds the workflow's own files"
    elif results.is_relative_to(repo):
        inside = results.relative_to(repo)
        tracked = _tracked_files(repo)
        folders = set(WORKFLOW_FOLDERS) | {Path(path).parts[0] for path in tracked if len(Path(path).parts) > 1}
        if inside.parts[0] in folders:
            problem = f"lies in the workflow's folder {inside.parts[0]}/"
        elif any(Path(path).is_relative_to(inside) for path in tracked):
            problem = "holds files tracked by git"
    if problem:
        raise ConfigError(f"config key 'results': {given} {problem}: choose a folder of its own, e.g. results")


def _tracked_files(repo: Path) -> Iterable[str]:
    """The checkout's tracked files (relative paths); none where it is not a git checkout."""
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return []
    return listed.stdout.splitlines()


def check_results_writable(results: Path, given: str) -> None:
    """Snakemake can create the results folder, and replace every file and folder in it: otherwise a job fails
    after Snakemake removed its old outputs, with a traceback that names no config key.

    Nothing is created: a folder that does not exist yet is tested by making and removing an empty one in its
    nearest existing parent, since permissions cannot tell (root passes ``os.access`` in /proc, where nothing
    can be made).
    """
    if not results.exists():
        _check_creatable(results, given)
    elif not results.is_dir():
        raise ConfigError(f"config key 'results': {given} is a file, not a folder: {RESULTS_CHOICES}")
    elif blocked := _first_unwritable(results):
        raise ConfigError(
            f"config key 'results': {blocked} cannot be written (permission denied), so Snakemake cannot replace "
            f"it: make {given} writable again (chmod -R u+w {given}) or {RESULTS_CHOICES}"
        )


def _check_creatable(results: Path, given: str) -> None:
    parent = next(folder for folder in results.absolute().parents if folder.exists())
    if not parent.is_dir():
        raise ConfigError(f"config key 'results': {given} lies under the file {parent}: {RESULTS_CHOICES}")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".cnnlens-check-", dir=parent))
    except OSError as error:
        raise ConfigError(
            f"config key 'results': {given} cannot be created (making a folder in {parent} fails: "
            f"{error.strerror}): {RESULTS_CHOICES}"
        ) from None


def _first_unwritable(results: Path) -> Path | None:
    """The first folder (listed, written, entered) or file (written) in ``results`` that Snakemake could not
    replace, if any; a folder is checked from its parent, since an unreadable one cannot be walked."""
    folder_access = os.R_OK | os.W_OK | os.X_OK
    if not os.access(results, folder_access):
        return results
    for parent, folders, files in os.walk(results):
        needs = [(name, folder_access) for name in folders] + [(name, os.W_OK) for name in files]
        for name, access in needs:
            if not os.access(Path(parent, name), access):
                return Path(parent, name)
    return None


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
    choice = _described_choice(error)
    if choice is not None:
        alternatives = ", or ".join(option["description"] for option in choice.validator_value)
        return f"config key '{key}' must be {alternatives}, got {choice.instance!r}: {FIX_HINT}"
    return f"config key '{key}': {error.message}: {FIX_HINT}"


def _described_choice(error: ValidationError) -> ValidationError | None:
    """The ``oneOf``/``anyOf`` that ``error`` is (or lies inside) where the schema describes every alternative:
    jsonschema's own message says only that none is valid, or what one alternative wanted."""
    while error is not None:
        options = error.validator_value if error.validator in ("oneOf", "anyOf") else []
        if options and all("description" in option for option in options):
            return error
        error = error.parent
    return None


def _dotted(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<top level>"


def _join(parent: str, name: str) -> str:
    return name if parent == "<top level>" else f"{parent}.{name}"


def reference(schema_path: str | Path) -> str:
    """Every config key with its default and description, as the Markdown table of ``docs/config.md``.

    Generated from the schema (``make docs``), and a test holds the file to it, so the key docs cannot drift.
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for key, entry in _leaf_keys(schema):
        default = json.dumps(entry.get("default"), ensure_ascii=False) if "default" in entry else ""
        meaning = entry.get("description", "")
        if "enum" in entry:
            choices = (value if isinstance(value, str) else json.dumps(value) for value in entry["enum"])
            meaning += f" One of: {', '.join(choices)}."
        rows.append(f"| `{key}` | `{default}` | {meaning.strip()} |")
    header = "# Config keys\n\nGenerated from `workflow/schemas/config.schema.yaml` by `make docs`; do not edit.\n\n"
    return header + "\n".join(rows) + "\n"


def _leaf_keys(schema: dict, prefix: str = "") -> list[tuple[str, dict]]:
    """(dotted key, schema entry) of every key users set, in the schema's order; variants as ``variants.<name>.*``."""
    leaves = []
    for name, entry in schema.get("properties", {}).items():
        key = f"{prefix}{name}"
        if "properties" in entry:
            leaves += _leaf_keys(entry, f"{key}.")
        elif isinstance(entry.get("additionalProperties"), dict) and "properties" in entry["additionalProperties"]:
            leaves.append((key, entry))
            leaves += _leaf_keys(entry["additionalProperties"], f"{key}.<name>.")
        else:
            leaves.append((key, entry))
    return leaves
