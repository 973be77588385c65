# Paths and helpers shared by the rules; what analyses and report sections exist comes from cnnlens.registry.
# Every generated file lives under config["results"].
import json

from cnnlens.config import representative_seed
from cnnlens.registry import (
    ANALYSES,
    EDITION_FILES,
    EVERY_SECTION_SETTINGS,
    SECTIONS,
    WHOLE_RUN_INPUTS,
    models_for,
    report_sections,
    setting_values,
)

RESULTS = config["results"]
DATA_CACHE = f"{RESULTS}/data/dataset.pt"
RUN_DIR = f"{RESULTS}/models/{{model}}/seed{{seed}}"
ANALYSIS = f"{RESULTS}/analysis/{{model}}-seed{{seed}}/{{analysis}}.pt"
COMPARISON = f"{RESULTS}/comparison"
VGG = f"{RESULTS}/vgg/vgg.pt"
REPORT_DIR = f"{RESULTS}/report"
# one HTML file per edition the config asks for, and a PDF of each unless report.pdf is off
REPORTS = [f"{REPORT_DIR}/{EDITION_FILES[edition]}.html" for edition in config["report"]["editions"]]
PDFS = [report.removesuffix(".html") + ".pdf" for report in REPORTS] if config["report"]["pdf"] else []
BENCHMARKS = f"{RESULTS}/benchmarks"
NOTEBOOKS = Path(workflow.basedir) / "notebooks"
# Analyses of a single training run look inside this one (validated to be among the seeds).
REPRESENTATIVE_SEED = representative_seed(config)
ATTENTION_MODELS = [m for m in config["models"] if config["variants"][m]["attention"] != "none"]


wildcard_constraints:
    model="|".join(config["models"]),
    seed=r"\d+",
    analysis="|".join(ANALYSES),


def canonical(value):
    """JSON with sorted keys: Snakemake compares params as text, so the same values in another order
    must give the same text, or every job would rerun."""
    return json.dumps(value, sort_keys=True)


def architecture(wildcards):
    """The variant's architecture options as JSON, for `cnnlens --architecture`."""
    return canonical(config["variants"][wildcards.model])


def settings_of(settings):
    """The values of registry settings (`setting_path`) as canonical JSON: what an analysis or a notebook is given."""
    return canonical(setting_values(settings, config))


def all_runs(pattern):
    """``pattern`` expanded over every configured model and seed."""
    return expand(pattern, model=config["models"], seed=config["seeds"])


def analysis_files(name, pattern=ANALYSIS):
    """The files (or, with `pattern`, the benchmarks) of one registered analysis, for every run it covers."""
    analysis = ANALYSES[name]
    models = models_for(analysis, config["models"], ATTENTION_MODELS)
    seeds = config["seeds"] if analysis.every_seed else [REPRESENTATIVE_SEED]
    return expand(pattern, model=models, seed=seeds, analysis=name)


def whole_run_input(name):
    """A section's input that is not a per-model analysis: the run folders, the comparison, VGG16."""
    return {"runs": all_runs(f"{RUN_DIR}/metrics.json"), "comparison": f"{COMPARISON}/tests.csv", "vgg": VGG}[name]


def section_inputs(wildcards):
    """The notebook and the files one section reads (a per-model section: its model's representative run)."""
    section = next(section for section in SECTIONS if section.notebook == wildcards.section)
    files = {"notebook": NOTEBOOKS / f"{section.notebook}.ipynb"}
    for name in section.reads:
        if name in WHOLE_RUN_INPUTS:
            files[name] = whole_run_input(name)
        elif section.per_model:
            files[name] = expand(ANALYSIS, model=wildcards.model, seed=REPRESENTATIVE_SEED, analysis=name)[0]
        else:
            files[name] = analysis_files(name)
    return files


def notebook_parameters(input):
    """The notebook's input files as its parameters: runs and the comparison as folders, the rest as files."""

    def parameter(name, files):
        if name == "runs":
            return [str(Path(path).parent) for path in files]
        if name == "comparison":
            return str(Path(files).parent)
        return files if isinstance(files, str) else list(files)

    return canonical({name: parameter(name, files) for name, files in input.items() if name != "notebook"})


def section_settings(wildcards):
    """The section's settings, by key. A function of the wildcards only, so that Snakemake records it and
    reruns the notebook when a setting changes (params computed from `input` it does not compare)."""
    section = next(section for section in SECTIONS if section.notebook == wildcards.section)
    return settings_of((*section.settings, *EVERY_SECTION_SETTINGS))


EXECUTED = report_sections(config["models"], ATTENTION_MODELS)


def executed_notebooks():
    return [f"{RESULTS}/notebooks/{name}.ipynb" for name in EXECUTED]


def all_benchmarks():
    """The benchmark file of every job the report depends on: their sum is the run's compute time."""
    files = [f"{BENCHMARKS}/{rule}.tsv" for rule in ("prepare_data", "effective_config", "compare", "vgg")]
    files += all_runs(f"{BENCHMARKS}/train/{{model}}-seed{{seed}}.tsv")
    for name in ANALYSES:
        files += analysis_files(name, f"{BENCHMARKS}/analysis/{{model}}-seed{{seed}}-{{analysis}}.tsv")
    return files + [f"{BENCHMARKS}/notebooks/{name}.tsv" for name in EXECUTED]
