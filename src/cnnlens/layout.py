"""Where every file of a run lives under ``results``, and what each job runs with.

Each job writes into a place named by a short code (a *key*) of everything that made its files: the settings it
runs with, the files it reads (whose paths carry their own jobs' keys) and the size and age of the outside files it
reads (an ImageFolder archive, VGG16 weights, photos). A new config therefore makes new folders beside the old ones:
a job that fails never removes what an earlier config made, and going back to that config finds everything in place
with nothing to do. Only the report's own files are published at fixed places (``report/report.html``,
``config.yaml``) once every part of it is written, so the folder always holds the last report that was finished
and the config that made it.

The workflow's rules take their paths and settings from here, and so do the tests and ``cnnlens where``: one
definition. Nothing here imports torch, so that planning stays fast.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from cnnlens.config import representative_seed
from cnnlens.errors import CnnlensError
from cnnlens.registry import (
    ANALYSES,
    EDITION_FILES,
    EVERY_SECTION_SETTINGS,
    SECTIONS,
    WHOLE_RUN_INPUTS,
    Section,
    models_for,
    report_sections,
    setting_values,
)

KEY_LENGTH = 10  # hex digits: 40 bits, so that two settings of one job never share a folder by chance
KEY_PATTERN = rf"[0-9a-f]{{{KEY_LENGTH}}}"
ENGINE_KEYS = ("compile", "cuda_graph", "precision")  # how training runs, as opposed to the recipe it runs
RUN_SETTINGS = (*ENGINE_KEYS, "device", "threads")  # train keys that are not the recipe
COMPARISON_FILES = ("runs", "summary", "tests", "image_tests", "noise_floor")
# The checkout's config schema (cnnlens is installed from its checkout, `pip install -e`).
SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
DEVICE_KINDS = ("cpu", "cuda")
AUTO_DEVICE = "CNNLENS_AUTO_DEVICE"  # what train.device auto resolved to where the run was planned (run_device)


def key_of(*parts: object) -> str:
    """The key of a job: the start of the SHA-256 of its parts as canonical JSON (sorted keys)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def canonical(value: object) -> str:
    """JSON with sorted keys: the text a rule passes to a ``cnnlens`` step, the same for the same values."""
    return json.dumps(value, sort_keys=True)


def file_identity(path: str, base: str = ".") -> list | str:
    """A file the workflow reads from outside ``results`` (``path`` as the config names it, relative to ``base``), as
    a key sees it: its path with its size and modification time, so that replacing the file makes new keys; a
    folder or a missing path as its path alone (the images in a folder are not read here: Snakemake reruns
    prepare_data into the same folder when the data folder is newer than its cache)."""
    path = os.path.normpath(path)  # images/ and ./images are images
    found = os.path.join(base, path)
    if not os.path.isfile(found):
        return path
    stat = os.stat(found)
    return [path, stat.st_size, stat.st_mtime_ns]


@dataclass(frozen=True)
class Layout:
    """Every path and job setting of one (validated) config.

    Attributes:
        config: the effective config, defaults filled in.
        device: the kind of device the runs are keyed by (:func:`run_device`).
        repo: the workflow's checkout, relative to the working directory (its ``notebooks/``).
        workdir: the working directory, against which the config's own paths (data, weights, photos) are read.
    """

    config: Mapping[str, Any]
    device: str
    repo: str = "."
    workdir: str = "."

    @property
    def notebooks(self) -> str:
        return os.path.normpath(f"{self.repo}/notebooks")

    @property
    def results(self) -> str:
        return str(self.config["results"])

    @cached_property
    def attention_models(self) -> list[str]:
        variants = self.config["variants"]
        return [model for model in self.config["models"] if variants[model]["attention"] != "none"]

    @property
    def representative_seed(self) -> int:
        return representative_seed(dict(self.config))

    # ---- data ----

    @cached_property
    def data_settings(self) -> dict:
        """What the prepare_data job runs with: the source, the path it reads, the image size."""
        data = self.config["data"]
        path = data["path"] or f"{self.results}/data/cifar10"  # CIFAR-10's download folder, shared by every key
        return {"source": data["source"], "path": path, "image_size": data["image_size"]}

    @cached_property
    def data_inputs(self) -> list[str]:
        """The outside file or folder prepare_data reads (an ImageFolder set); none for the download."""
        data = self.config["data"]
        return [data["path"]] if data["source"] == "imagefolder" else []

    @cached_property
    def data_cache(self) -> str:
        inputs = [file_identity(path, self.workdir) for path in self.data_inputs]
        key = key_of("prepare_data", self.data_settings, inputs)
        return f"{self.results}/data/{key}/dataset.pt"

    # ---- training ----

    def train_settings(self, model: str) -> dict:
        """What one model's training jobs run with, and so what makes its key: its architecture, the recipe, the
        engine, the kind of device (the job is given ``train.device`` as written) and the thread setting (part of
        what metrics.json reports)."""
        train = self.config["train"]
        return {
            "architecture": dict(self.config["variants"][model]),
            "recipe": {key: value for key, value in train.items() if key not in RUN_SETTINGS},
            "engine": {key: train[key] for key in ENGINE_KEYS},
            "device": self.device,
            "threads": train["threads"],
        }

    def run_key(self, model: str) -> str:
        return key_of("train", self.data_cache, self.train_settings(model))

    def run_dir(self, model: str, seed: int) -> str:
        """The folder of one training run: model.pt, history.csv, iterations.csv, confusion.csv, predictions.csv,
        metrics.json."""
        return f"{self.results}/models/{model}/seed{seed}/{self.run_key(model)}"

    def runs(self) -> list[tuple[str, int]]:
        """Every ``(model, seed)`` of the config, models first."""
        return [(model, seed) for model in self.config["models"] for seed in self.config["seeds"]]

    def run_files(self, name: str) -> list[str]:
        """One file (``metrics.json``) of every run, in the config's order of models and seeds."""
        return [f"{self.run_dir(model, seed)}/{name}" for model, seed in self.runs()]

    # ---- analyses ----

    def analysis_settings(self, name: str) -> dict:
        """The config values an analysis's step takes, by key (the registry names them)."""
        return setting_values(ANALYSES[name].settings, self.config)

    def analysis_device(self, name: str) -> str:
        """Where an analysis job runs: ``train.device`` as written for one that runs where training does (the job
        resolves ``auto``), else the CPU."""
        return self.config["train"]["device"] if ANALYSES[name].on_training_device else "cpu"

    def analysis_file(self, name: str, model: str, seed: int) -> str:
        key = key_of("analysis", name, self.run_dir(model, seed), self.analysis_settings(name))
        return f"{self.results}/analysis/{model}-seed{seed}/{key}/{name}.pt"

    def analysis_runs(self, name: str) -> list[tuple[str, int]]:
        """The runs an analysis covers: its models, every seed or the representative one."""
        analysis = ANALYSES[name]
        models = models_for(analysis, self.config["models"], self.attention_models)
        seeds = self.config["seeds"] if analysis.every_seed else [self.representative_seed]
        return [(model, seed) for model in models for seed in seeds]

    def analysis_files(self, name: str) -> list[str]:
        return [self.analysis_file(name, model, seed) for model, seed in self.analysis_runs(name)]

    # ---- VGG16 and the comparison ----

    @cached_property
    def vgg_settings(self) -> dict:
        vgg = self.config["vgg"]
        return {"weights": vgg["weights"], "photos": list(vgg["photos"]), "layers": list(vgg["layers"])}

    @cached_property
    def vgg_inputs(self) -> list[str]:
        """The outside files the vgg job reads: the weights file where one is given, the photos."""
        weights = self.config["vgg"]["weights"]
        return ([] if weights in ("imagenet", "none") else [weights]) + list(self.config["vgg"]["photos"])

    @cached_property
    def vgg_file(self) -> str:
        key = key_of("vgg", self.vgg_settings, [file_identity(path, self.workdir) for path in self.vgg_inputs])
        return f"{self.results}/vgg/{key}/vgg.pt"

    @cached_property
    def comparison_settings(self) -> dict:
        return {"baseline": self.config["compare"]["baseline"], "alpha": self.config["compare"]["alpha"]}

    @cached_property
    def comparison_dir(self) -> str:
        key = key_of("compare", self.run_files("metrics.json"), self.comparison_settings)
        return f"{self.results}/comparison/{key}"

    # ---- the report's notebooks ----

    @cached_property
    def executed(self) -> list[str]:
        """Every executed notebook's name in reading order (``feature_maps-plain``, ``comparison``)."""
        return report_sections(self.config["models"], self.attention_models)

    def section_settings(self, section: Section) -> dict:
        """The config values a section's notebook takes, by key."""
        return setting_values((*section.settings, *EVERY_SECTION_SETTINGS), self.config)

    def section_files(self, section: Section, model: str | None) -> dict[str, str | list[str]]:
        """The notebook and the files one section reads: a per-model section its model's representative run."""
        files: dict[str, str | list[str]] = {"notebook": f"{self.notebooks}/{section.notebook}.ipynb"}
        for name in section.reads:
            if name in WHOLE_RUN_INPUTS:
                files[name] = self.whole_run_input(name)
            elif model is not None:
                files[name] = self.analysis_file(name, model, self.representative_seed)
            else:
                files[name] = self.analysis_files(name)
        return files

    def whole_run_input(self, name: str) -> str | list[str]:
        """A section's input that is not a per-model analysis: the run folders (by their metrics), the comparison
        (by its tests), VGG16."""
        inputs: dict[str, str | list[str]] = {
            "runs": self.run_files("metrics.json"),
            "comparison": f"{self.comparison_dir}/tests.csv",
            "vgg": self.vgg_file,
        }
        return inputs[name]

    def notebook_inputs(self, executed: str) -> dict[str, str | list[str]]:
        """An executed notebook's file parameters: the files its section reads, the runs and the comparison as
        their folders."""
        section, model = self.section_of(executed)
        files = self.section_files(section, model)
        folders: dict[str, str | list[str]] = {"runs": [os.path.dirname(path) for path in files.get("runs", [])]}
        if "comparison" in files:
            folders["comparison"] = os.path.dirname(str(files["comparison"]))
        return {name: folders.get(name, value) for name, value in files.items() if name != "notebook"}

    def notebook_parameters(self, executed: str) -> dict:
        """Every parameter an executed notebook is given: its files (:meth:`notebook_inputs`) and settings."""
        section, _ = self.section_of(executed)
        return self.notebook_inputs(executed) | self.section_settings(section)

    def notebook_file(self, executed: str) -> str:
        """Where an executed notebook (``feature_maps-plain``) lands: in a folder keyed by what it reads and takes."""
        section, _ = self.section_of(executed)
        reads = self.notebook_inputs(executed)  # not the notebook's path, which depends on where the checkout lies
        key = key_of("notebook", executed, reads, self.section_settings(section))
        return f"{self.results}/notebooks/{key}/{executed}.ipynb"

    def section_of(self, executed: str) -> tuple[Section, str | None]:
        """The section and, for a per-model notebook, the model of an executed notebook's name."""
        for section in SECTIONS:
            if executed == section.notebook and not section.per_model:
                return section, None
            if section.per_model and executed.startswith(f"{section.notebook}-"):
                return section, executed.removeprefix(f"{section.notebook}-")
        raise CnnlensError(f"{executed} is not a report section's notebook")

    def notebook_files(self) -> list[str]:
        return [self.notebook_file(name) for name in self.executed]

    # ---- the report ----

    @cached_property
    def report_inputs(self) -> dict[str, list[str] | str]:
        """What the report job reads: the executed notebooks, every run's metrics, the comparison, VGG16, every
        faithfulness file, and every benchmark file (their sum is the run's compute time)."""
        return {
            "notebooks": self.notebook_files(),
            "metrics": self.run_files("metrics.json"),
            "comparison": f"{self.comparison_dir}/tests.csv",
            "vgg": self.vgg_file,
            "faithfulness": self.analysis_files("faithfulness"),
            "benchmarks": self.benchmark_files(),
        }

    @cached_property
    def report_dir(self) -> str:
        """The folder of this config's report: both editions' HTML, their PDFs and the config that made them."""
        return f"{self.results}/report/{key_of('report', self.report_inputs, dict(self.config))}"

    def editions(self) -> list[str]:
        """The file names (no suffix) of the editions the config asks for: ``report``, ``report-short``."""
        return [EDITION_FILES[edition] for edition in self.config["report"]["editions"]]

    def report_files(self, folder: str) -> list[str]:
        """The files of a report in ``folder``: each edition's HTML and, unless report.pdf is off, its PDF."""
        suffixes = ("html", "pdf") if self.config["report"]["pdf"] else ("html",)
        return [f"{folder}/{edition}.{suffix}" for suffix in suffixes for edition in self.editions()]

    @property
    def published_dir(self) -> str:
        """Where the last finished report is published: ``results/report``."""
        return f"{self.results}/report"

    @property
    def published_config(self) -> str:
        """The config of the published report: ``results/config.yaml``."""
        return f"{self.results}/config.yaml"

    # ---- logs and benchmarks ----

    def log(self, name: str) -> str:
        """A job's log, ``results/logs/<name>.log``, the name carrying the job's key."""
        return f"{self.results}/logs/{name}.log"

    def benchmark(self, name: str) -> str:
        """A job's benchmark file (Snakemake's seconds and memory), ``results/benchmarks/<name>.tsv``."""
        return f"{self.results}/benchmarks/{name}.tsv"

    def benchmark_files(self) -> list[str]:
        """The benchmark file of every job the report depends on, named as the rules name them."""
        files = [
            self.benchmark(f"prepare_data/{key_dir(self.data_cache)}"),
            self.benchmark(f"vgg/{key_dir(self.vgg_file)}"),
            self.benchmark(f"compare/{Path(self.comparison_dir).name}"),
        ]
        files += [self.benchmark(f"train/{model}-seed{seed}-{self.run_key(model)}") for model, seed in self.runs()]
        for name in ANALYSES:
            files += [self.benchmark(f"analysis/{name}-{analysis_id(path)}") for path in self.analysis_files(name)]
        files += [self.benchmark(f"notebooks/{notebook_id(path)}") for path in self.notebook_files()]
        return files


def key_dir(path: str) -> str:
    """The key of a file in a keyed folder (``results/vgg/<key>/vgg.pt``)."""
    return Path(path).parent.name


def analysis_id(path: str) -> str:
    """An analysis file's run and key, as its log and benchmark are named: ``plain-seed0-<key>``."""
    file = Path(path)
    return f"{file.parent.parent.name}-{file.parent.name}"


def notebook_id(path: str) -> str:
    """An executed notebook's name and key, as its log and benchmark are named: ``comparison-<key>``."""
    file = Path(path)
    return f"{file.stem}-{file.parent.name}"


def run_device(setting: str) -> str:
    """The kind of device, ``cpu`` or ``cuda``, that a ``train.device`` setting puts in a run's key, so that two
    settings that train on the same hardware are the same run: ``cuda:1`` as ``cuda``, and ``auto`` as it resolves
    on the machine that plans the run (:func:`cnnlens.config.resolved_device`), ``cpu`` without a GPU. (The
    workflow profile's ``rerun-triggers`` leave out Snakemake's comparison of parameters, which would rerun a job
    given ``cpu`` where it had been given ``auto``; a key holds every setting that matters.)

    What ``auto`` resolved to is pinned in the environment (:data:`AUTO_DEVICE`), which the jobs inherit: a cluster
    node that plans its own job keys it as the login machine did, whatever the node has. The job itself is given the
    setting and trains on what its node has (metrics.json says which).
    """
    from cnnlens.config import resolved_device

    if setting != "auto":
        return resolved_device(setting)
    if os.environ.get(AUTO_DEVICE) not in DEVICE_KINDS:  # unset, or not what this function wrote
        os.environ[AUTO_DEVICE] = resolved_device(setting)
    return os.environ[AUTO_DEVICE]


def planned_layout(config_paths: Sequence[str | Path], schema: str | Path = SCHEMA) -> Layout:
    """The layout of a run of these config files, merged in order as ``--configfile`` merges them and completed
    with the schema's defaults, as planned on this machine from the working directory (the project folder)."""
    from snakemake.utils import update_config

    from cnnlens.config import check_config_file, validate_config

    config: dict = {}
    for path in config_paths:
        if not Path(path).is_file():
            raise CnnlensError(f"{path} does not exist: run snakemake first, or name the run's config files")
        update_config(config, check_config_file(path))
    validate_config(config, schema)
    return Layout(config, run_device(config["train"]["device"]))


def check_key(given: str, expected: str, what: str) -> str:
    """A job's key from its path against the key its settings give now; a path of another config is refused."""
    if given != expected:
        raise CnnlensError(
            f"{what} with key {given} was made by another config (this config's key is {expected}): run snakemake "
            "without naming the file, or with the config that made it"
        )
    return given


def relative(path: str | Path) -> str:
    """``path`` relative to the working directory, so that a project folder keeps its keys and jobs when it moves."""
    return os.path.relpath(path)
