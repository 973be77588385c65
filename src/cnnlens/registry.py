"""The one table of per-model analyses and report sections.

The workflow derives from it each analysis job's settings and each section's notebook inputs,
parameters, title and benchmark files; the report's compute time and the end-to-end test's list of
headings follow from the same entries. Adding an analysis is one :class:`Analysis` entry (and its step
in :mod:`cnnlens.interpret.steps`); adding a report section is one :class:`Section` entry and its notebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Analysis:
    """A computation on one trained run: one job per run, writing ``analysis/<model>-seed<seed>/<name>.pt``."""

    name: str  # the job's wildcard, the step in cnnlens.interpret.steps, the artifact's file name
    settings: tuple[str, ...] = ()  # `visualise` keys the step takes, as keyword arguments of the same names
    attention_only: bool = False  # only for variants with attention modules
    every_seed: bool = False  # for every seed (compared over seeds), not only the representative one


@dataclass(frozen=True)
class Section:
    """A section of the report: a notebook executed once per model, or once for the whole run.

    ``reads`` names what the notebook gets as parameters of the same names: analyses (the model's file,
    or one file per model for a section of the whole run), or ``runs`` (every run's folder),
    ``comparison`` (the compare rule's folder) and ``vgg`` (the vgg rule's file).
    """

    notebook: str
    title: str
    reads: tuple[str, ...]
    settings: tuple[str, ...] = ()  # `visualise` keys passed to the notebook as parameters of the same names
    per_model: bool = True
    attention_only: bool = False


ANALYSES = {
    analysis.name: analysis
    for analysis in (
        Analysis("activations", ("layers", "images_per_class", "max_images")),
        Analysis(
            "explain", ("layers", "images_per_class", "max_images", "gradcam_layer", "zfnet_channels", "zfnet_images")
        ),
        Analysis("attention", attention_only=True),
        Analysis("depth", ("depth_layers",)),
    )
}

WHOLE_RUN_INPUTS = ("runs", "comparison", "vgg")

# In reading order, after the verdict; the report adds "Reproduce" at the end.
SECTIONS = (
    Section("comparison", "Comparison", reads=("comparison", "runs"), per_model=False),
    Section("training", "Training", reads=("runs",), per_model=False),
    Section("feature_maps", "Feature maps", reads=("activations",), settings=("channels", "channel_modes")),
    Section("attention", "Channel attention", reads=("activations", "attention"), attention_only=True),
    Section("explain", "Grad-CAM and deconvnet", reads=("activations", "explain")),
    Section("depth", "VGG16 and the trained CNNs by depth", reads=("vgg", "activations", "depth"), per_model=False),
)


def section_models(section: Section, models: Sequence[str], attention_models: Sequence[str]) -> list[str]:
    """The models a per-model section is written for, in the config's order."""
    return [model for model in models if model in attention_models] if section.attention_only else list(models)


def analysis_models(analysis: Analysis, models: Sequence[str], attention_models: Sequence[str]) -> list[str]:
    return [model for model in models if model in attention_models] if analysis.attention_only else list(models)


def report_sections(models: Sequence[str], attention_models: Sequence[str], seed: int) -> list[tuple[str, str]]:
    """``(title, executed notebook name)`` of every section in reading order; per-model notebooks are
    named ``<notebook>-<model>``."""
    sections = []
    for section in SECTIONS:
        if not section.per_model:
            sections.append((section.title, section.notebook))
            continue
        sections += [
            (f"{section.title}: {model} CNN (seed {seed})", f"{section.notebook}-{model}")
            for model in section_models(section, models, attention_models)
        ]
    return sections
