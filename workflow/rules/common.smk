# Paths and job settings shared by the rules, all from cnnlens.layout: each job writes into a place keyed by what
# made its files, so that a new config never removes what an earlier one made (docs/engine.md). What analyses and
# report sections exist comes from cnnlens.registry.
import os

from cnnlens.layout import KEY_PATTERN, Layout, canonical, check_key, key_dir, run_device, relative
from cnnlens.registry import ANALYSES, EDITION_FILES, SECTIONS

LAYOUT = Layout(config, run_device(config["train"]["device"]), relative(workflow.basedir))
RESULTS = LAYOUT.results
EXECUTED = LAYOUT.executed


wildcard_constraints:
    model="|".join(config["models"]),
    seed=r"\d+",
    analysis="|".join(ANALYSES),
    key=KEY_PATTERN,
    executed="|".join(EXECUTED),
    edition="|".join(EDITION_FILES.values()),


def run_dir(wildcards):
    """The folder of the wildcards' training run, its key checked against the config's."""
    check_key(
        wildcards.key, LAYOUT.run_key(wildcards.model), f"the training run {wildcards.model} seed {wildcards.seed}"
    )
    return os.path.dirname(LAYOUT.run_dir(wildcards.model, wildcards.seed) + "/")


def analysis_input(wildcards):
    """The data cache and the trained model an analysis reads, its key checked against the config's."""
    path = LAYOUT.analysis_file(wildcards.analysis, wildcards.model, int(wildcards.seed))
    check_key(wildcards.key, Path(path).parent.name, f"the {wildcards.analysis} analysis of {wildcards.model}")
    return {"data": LAYOUT.data_cache, "checkpoint": f"{LAYOUT.run_dir(wildcards.model, int(wildcards.seed))}/model.pt"}


def section_inputs(wildcards):
    """The notebook and the files one executed notebook reads, its key checked against the config's."""
    check_key(wildcards.key, Path(LAYOUT.notebook_file(wildcards.executed)).parent.name, wildcards.executed)
    section, model = LAYOUT.section_of(wildcards.executed)
    return LAYOUT.section_files(section, model)


def notebook_files(wildcards):
    """The notebook's input files as its parameters (runs and the comparison as folders), as canonical JSON."""
    return canonical(LAYOUT.notebook_inputs(wildcards.executed))


def section_settings(wildcards):
    """The section's settings, by key. A function of the wildcards only, so that Snakemake records it."""
    section, _ = LAYOUT.section_of(wildcards.executed)
    return canonical(LAYOUT.section_settings(section))


def data_settings(wildcards):
    """What prepare_data runs with, its key checked against the config's."""
    check_key(wildcards.key, key_dir(LAYOUT.data_cache), "the data cache")
    return LAYOUT.data_settings


def train_settings(wildcards):
    """What one training job runs with, its key checked against the config's (architecture, recipe and engine
    as the canonical JSON the step takes)."""
    check_key(wildcards.key, LAYOUT.run_key(wildcards.model), f"the training run of {wildcards.model}")
    settings = LAYOUT.train_settings(wildcards.model)
    return {name: canonical(value) if isinstance(value, dict) else value for name, value in settings.items()}


def analysis_settings(wildcards):
    """The architecture and the settings an analysis step takes, as canonical JSON, and its device."""
    return {
        "architecture": canonical(config["variants"][wildcards.model]),
        "settings": canonical(LAYOUT.analysis_settings(wildcards.analysis)),
        "device": LAYOUT.analysis_device(wildcards.analysis),
    }


def vgg_settings(wildcards):
    check_key(wildcards.key, key_dir(LAYOUT.vgg_file), "the VGG16 file")
    return LAYOUT.vgg_settings


def comparison_settings(wildcards):
    check_key(wildcards.key, os.path.basename(LAYOUT.comparison_dir), "the comparison")
    return LAYOUT.comparison_settings


def report_config(wildcards):
    """The config the report shows and writes beside itself, as canonical JSON, its key checked."""
    check_key(wildcards.key, os.path.basename(LAYOUT.report_dir), "the report")
    return canonical(config)
