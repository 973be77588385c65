# Paths and helpers shared by the rules. Every generated file lives under config["results"].
import json
import shlex

RESULTS = config["results"]
DATA_CACHE = f"{RESULTS}/data/dataset.pt"
RUN_DIR = f"{RESULTS}/models/{{model}}/seed{{seed}}"
ANALYSIS_DIR = f"{RESULTS}/analysis/{{model}}-seed{{seed}}"
REPORT = f"{RESULTS}/report/report.html"
ENV = "../../environment.yml"
NOTEBOOKS = Path(workflow.basedir) / "notebooks"
# Analyses of a single training run look inside this one (validated to be among the seeds).
REPRESENTATIVE_SEED = config["visualise"]["seed"] if config["visualise"]["seed"] is not None else config["seeds"][0]


wildcard_constraints:
    model="|".join(config["models"]),
    seed=r"\d+",


def canonical(value):
    """JSON with sorted keys: Snakemake compares params as text, so the same values in another order
    must give the same text, or every job would rerun."""
    return json.dumps(value, sort_keys=True)


def architecture(wildcards):
    """The variant's architecture options as JSON, for `cnnlens --architecture`."""
    return canonical(config["variants"][wildcards.model])


def trained_model_args(wildcards, input, output, threads):
    """The options of every `cnnlens` step that analyses one trained model, shell-quoted."""
    return shlex.join([
        "--data", input.data, "--model", wildcards.model, "--architecture", architecture(wildcards),
        "--seed", wildcards.seed, "--checkpoint", input.checkpoint, "--threads", str(threads), "--out", output[0],
    ])


def all_runs(pattern):
    """``pattern`` expanded over every configured model and seed."""
    return expand(pattern, model=config["models"], seed=config["seeds"])

ATTENTION_MODELS = [m for m in config["models"] if config["variants"][m]["attention"] != "none"]
# Per-model report sections: notebook name -> title
PER_MODEL_SECTIONS = {
    "feature_maps": "Feature maps",
    "attention": "Channel attention",
    "explain": "Grad-CAM and deconvnet",
}


def representative(pattern, model):
    """``pattern`` for the model's representative run (the first seed)."""
    return pattern.format(model=model, seed=REPRESENTATIVE_SEED)


def per_model_notebook_inputs(wildcards):
    """The notebook and the files one model's section reads."""
    files = {"notebook": NOTEBOOKS / f"{wildcards.section}.ipynb"}
    files["activations"] = representative(f"{RESULTS}/activations/{{model}}-seed{{seed}}.pt", wildcards.model)
    if wildcards.section == "attention":
        files["attention"] = representative(f"{ANALYSIS_DIR}/attention.pt", wildcards.model)
    if wildcards.section == "explain":
        files["explain"] = representative(f"{ANALYSIS_DIR}/explain.pt", wildcards.model)
    return files


def notebook_files(input):
    """The notebook's input files by name, as JSON parameters (a change of files already reruns the job)."""
    return canonical({key: value for key, value in input.items() if key != "notebook"})


def per_model_notebook_settings(wildcards):
    """The section's settings from the config. A function of the wildcards only, so that Snakemake
    records it and reruns the notebook when a setting changes (functions of `input` it does not compare)."""
    visualise = config["visualise"]
    if wildcards.section == "feature_maps":
        return canonical({"channels": visualise["channels"], "modes": visualise["channel_modes"]})
    return canonical({})


def report_sections():
    """(title, executed notebook) in reading order; the verdict header and Reproduce are added by the report."""
    sections = [("Comparison", f"{RESULTS}/notebooks/comparison.ipynb"),
                ("Training", f"{RESULTS}/notebooks/training.ipynb")]
    for section, title in PER_MODEL_SECTIONS.items():
        models = ATTENTION_MODELS if section == "attention" else config["models"]
        sections += [(f"{title}: {model} CNN (seed {REPRESENTATIVE_SEED})",
                      f"{RESULTS}/notebooks/{section}-{model}.ipynb") for model in models]
    return sections + [("VGG16 and the trained CNNs by depth", f"{RESULTS}/notebooks/depth.ipynb")]


def all_benchmarks():
    """The benchmark file of every job the report depends on: their sum is the run's compute time."""
    bench = f"{RESULTS}/benchmarks"
    files = [f"{bench}/prepare_data.tsv", f"{bench}/effective_config.tsv", f"{bench}/compare.tsv", f"{bench}/vgg.tsv"]
    files += all_runs(f"{bench}/train/{{model}}-seed{{seed}}.tsv")
    for model in config["models"]:
        files.append(representative(f"{bench}/activations/{{model}}-seed{{seed}}.tsv", model))
        kinds = ["depth", "explain"] + (["attention"] if model in ATTENTION_MODELS else [])
        files += [representative(f"{bench}/analysis/{{model}}-seed{{seed}}-{kind}.tsv", model) for kind in kinds]
    notebooks = [notebook for _, notebook in report_sections()]
    return files + [n.replace(f"{RESULTS}/notebooks/", f"{bench}/notebooks/").replace(".ipynb", ".tsv") for n in notebooks]
