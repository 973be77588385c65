# Paths and helpers shared by the rules. Every generated file lives under config["results"].
import json

RESULTS = config["results"]
DATA_CACHE = f"{RESULTS}/data/dataset.pt"
RUN_DIR = f"{RESULTS}/models/{{model}}/seed{{seed}}"
REPORT = f"{RESULTS}/report/report.html"
ENV = "../../environment.yml"
NOTEBOOKS = Path(workflow.basedir) / "notebooks"
PAPERMILL = "papermill --cwd . --kernel python3 --no-progress-bar --log-level WARNING"
# Analyses of a single training run use the first configured seed.
REPRESENTATIVE_SEED = config["seeds"][0]


wildcard_constraints:
    model="|".join(config["models"]),
    seed=r"\d+",


def architecture(wildcards):
    """The variant's architecture options as JSON, for `cnnlens --architecture`."""
    return json.dumps(config["variants"][wildcards.model])


def all_runs(pattern):
    """``pattern`` expanded over every configured model and seed."""
    return expand(pattern, model=config["models"], seed=config["seeds"])


def section_title(model):
    return f"Feature maps: {model} CNN (seed {REPRESENTATIVE_SEED})"
