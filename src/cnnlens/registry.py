"""The one table of per-model analyses and report sections.

The workflow derives from it each analysis job's settings and each section's notebook inputs,
parameters and benchmark files; the report derives each section's title from the same entries, and
its compute time, the CLI's choices and the tests' expected lists follow from them too. Adding an analysis is
one :class:`Analysis` entry naming its step and its artifact; adding a report section is one :class:`Section`
entry and its notebook. Steps and artifacts are named, not imported: the workflow plans without torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cnnlens.errors import CnnlensError
from cnnlens.texts import text


@dataclass(frozen=True)
class Analysis:
    """A computation on one trained run: one job per run, writing ``analysis/<model>-seed<seed>/<key>/<name>.pt``."""

    name: str  # the analysis rule's wildcard and the artifact's file name
    step: str  # "module:function": the function computes the artifact's fields from the model and the data set
    artifact: str  # the class in cnnlens.artifacts that the step's fields fill
    settings: tuple[str, ...] = ()  # config keys the step takes as keyword arguments named by the key: see setting_path
    attention_only: bool = False  # only for variants with attention modules
    every_seed: bool = False  # for every seed (compared over seeds), not only the representative one
    on_training_device: bool = False  # where the runs train (train.device, a GPU where there is one), not the CPU

    def step_function(self) -> Callable[..., dict]:
        """The step, imported when an analysis job runs (it needs torch; planning does not)."""
        module, _, function = self.step.partition(":")
        return getattr(importlib.import_module(module), function)

    def artifact_type(self) -> type:
        """The artifact class the step fills (a :class:`cnnlens.artifacts.RunArtifact`)."""
        return getattr(importlib.import_module("cnnlens.artifacts"), self.artifact)


@dataclass(frozen=True)
class Section:
    """A section of the report: a notebook executed once per model, or once for the whole run.

    ``reads`` names what the notebook gets as parameters of the same names: analyses (the model's file,
    or one file per model for a section of the whole run), or ``runs`` (every run's folder),
    ``comparison`` (the compare rule's folder) and ``vgg`` (the vgg rule's file). An analysis that runs on every
    seed gives a section of the whole run every model's file of every seed, in the config's order of models and
    seeds.
    """

    notebook: str  # also names its title in the text table: section.<notebook>
    reads: tuple[str, ...]
    settings: tuple[str, ...] = ()  # config keys passed as parameters named by the key: see setting_path
    per_model: bool = True
    attention_only: bool = False


STEPS = "cnnlens.interpret.steps"
ANALYSES = {
    analysis.name: analysis
    for analysis in (
        Analysis("activations", f"{STEPS}:activations", "Activations", ("layers", "images_per_class", "max_images")),
        Analysis(
            "explain",
            f"{STEPS}:explain",
            "Explanations",
            ("layers", "images_per_class", "max_images", "gradcam_layer", "zfnet_channels", "zfnet_images"),
        ),
        Analysis("attention", f"{STEPS}:attention", "AttentionWeights", attention_only=True),
        Analysis("depth", f"{STEPS}:depth", "DepthStatistics", ("depth_layers",)),
        Analysis(
            "faithfulness",
            f"{STEPS}:faithfulness",
            "Faithfulness",
            (
                "faithfulness.images",
                "faithfulness.steps",
                "faithfulness.baseline",
                "faithfulness.removal_fractions",
                "faithfulness.sanity_images",
            ),
            every_seed=True,
        ),
        Analysis(
            "similarity",
            "cnnlens.interpret.similarity:similarity",
            "Similarity",
            ("similarity.images", "similarity.layers", "similarity.minibatch"),
            every_seed=True,
            on_training_device=True,
        ),
    )
}

WHOLE_RUN_INPUTS = ("runs", "comparison", "vgg")
EVERY_SECTION_SETTINGS = ("report.language",)  # settings every notebook takes besides its own
EDITION_FILES = {"full": "report", "short": "report-short"}  # report.editions -> the name of its .html and .pdf

# In reading order, after the verdict; the report adds "Reproduce" at the end.
SECTIONS = (
    Section(
        "comparison", reads=("comparison", "runs"), settings=("compare.baseline", "compare.alpha"), per_model=False
    ),
    Section("training", reads=("runs",), per_model=False),
    Section("feature_maps", reads=("activations",), settings=("channels", "channel_modes")),
    Section("attention", reads=("activations", "attention"), attention_only=True),
    Section("explain", reads=("activations", "explain")),
    Section("depth", reads=("vgg", "activations", "depth"), per_model=False),
    Section("similarity", reads=("similarity",), settings=("compare.baseline",), per_model=False),
    Section(
        "faithfulness",
        reads=("faithfulness",),
        settings=("seed", "compare.alpha", "faithfulness.sanity_threshold"),
        per_model=False,
    ),
)


def section_title(section: Section) -> str:
    """The section's heading in the chosen language."""
    return text(f"section.{section.notebook}")


def section_of(executed: str) -> Section:
    """The section an executed notebook (:func:`report_sections`) belongs to: ``feature_maps-se-16`` is a model's
    notebook of ``feature_maps``, ``comparison`` the whole run's."""
    name = executed.partition("-")[0]  # a section's notebook holds no "-", a model's name may
    for section in SECTIONS:
        if section.notebook == name:
            return section
    raise CnnlensError(f"{executed} is not a report section's notebook: name one of {[s.notebook for s in SECTIONS]}")


def setting_path(setting: str) -> tuple[str, str]:
    """An analysis's or a section's setting as ``(config section, key)``: ``channels`` is a `visualise` key,
    ``compare.alpha`` the key ``alpha`` of the section ``compare``. The step's or notebook's parameter is named by
    the key."""
    section, _, key = setting.rpartition(".")
    return section or "visualise", key


def setting_values(settings: Sequence[str], config: Mapping[str, Mapping[str, object]]) -> dict[str, object]:
    """The values in ``config`` of ``settings`` (see :func:`setting_path`), by key."""
    return {key: config[section][key] for section, key in map(setting_path, settings)}


def models_for(entry: Analysis | Section, models: Sequence[str], attention_models: Sequence[str]) -> list[str]:
    """The models an analysis runs on, or a per-model section is written for, in the config's order."""
    return [model for model in models if model in attention_models] if entry.attention_only else list(models)


def report_sections(models: Sequence[str], attention_models: Sequence[str]) -> list[str]:
    """The executed notebook of every section in reading order: per-model notebooks are named
    ``<notebook>-<model>``."""
    sections = []
    for section in SECTIONS:
        if not section.per_model:
            sections.append(section.notebook)
            continue
        sections += [f"{section.notebook}-{model}" for model in models_for(section, models, attention_models)]
    return sections


def executed_title(executed: str, seed: int) -> str:
    """The heading of an executed notebook (:func:`report_sections`) in the chosen language: the section's title,
    and for a model's notebook the model and the ``seed`` it shows."""
    section = section_of(executed)
    if not section.per_model:
        return section_title(section)
    model = executed.partition("-")[2]
    return text("section.per_model", title=section_title(section), model=model, seed=seed)
