"""``cnnlens <step>``: the entry points that the Snakemake rules call.

Each step parses its options and calls one library function. Known failures (bad data, bad arguments)
end with one line on stderr and exit status 2, Ctrl-C with one line and status 130 (:mod:`cnnlens.interruption`);
outputs are written atomically, so a failed step leaves none behind. Heavy modules (torch, nbconvert, papermill)
are imported by the step that needs them: every job pays Python's start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from cnnlens.errors import CnnlensError
from cnnlens.interruption import OneLineCtrlC

if TYPE_CHECKING:
    from cnnlens.layout import Layout


def prepare_data(args: argparse.Namespace) -> None:
    from cnnlens.data.sources import prepare_data

    dataset = prepare_data(args.source, args.path, args.image_size, args.out)
    print(
        f"{dataset.source}: {len(dataset.train_labels)} train and {len(dataset.test_labels)} test images, "
        f"{len(dataset.classes)} classes -> {args.out}"
    )


def train(args: argparse.Namespace) -> None:
    from cnnlens.models.cnn import Architecture
    from cnnlens.training.engine import Engine
    from cnnlens.training.job import Run, train_job
    from cnnlens.training.recipe import Recipe

    run = Run(args.model, Architecture(**json.loads(args.architecture)), Recipe(**json.loads(args.recipe)), args.seed)
    metrics = train_job(run, Engine(**json.loads(args.engine)), args.data, args.out_dir, args.device, args.threads)
    print(f"final test accuracy {metrics['final_test_accuracy']:.4f}, best {metrics['best_test_accuracy']:.4f}")


def analyse(args: argparse.Namespace) -> None:
    import torch

    from cnnlens.interpret.steps import run_analysis
    from cnnlens.models.cnn import Architecture
    from cnnlens.registry import ANALYSES

    torch.set_num_threads(args.threads)
    architecture = Architecture(**json.loads(args.architecture))
    analysis = ANALYSES[args.analysis]
    run_analysis(
        analysis.step_function(),
        analysis.artifact_type(),
        args.data,
        args.checkpoint,
        args.model,
        architecture,
        args.seed,
        json.loads(args.settings),
        args.out,
        args.device,
    )
    print(f"{args.analysis} of {args.model} seed {args.seed} -> {args.out}")


def vgg(args: argparse.Namespace) -> None:
    import torch

    from cnnlens.interpret.vgg_depth import vgg_depth

    torch.set_num_threads(args.threads)
    stored = vgg_depth(args.weights, args.photos, args.layers)
    stored.save(args.out)
    print(f"VGG16 ({stored.weights['kind']} weights) on {', '.join(stored.photos)} -> {args.out}")


def compare(args: argparse.Namespace) -> None:
    from cnnlens.reporting.comparison import compare_runs

    comparison = compare_runs(args.metrics, args.predictions, args.baseline, args.alpha, args.out_dir)
    print("\n".join(comparison.tests["verdict"]) or f"only the baseline {args.baseline} was trained")


def notebook(args: argparse.Namespace) -> None:
    from cnnlens.reporting.notebooks import run_notebook

    run_notebook(args.notebook, args.out, {**json.loads(args.files), **json.loads(args.settings)})
    print(f"{args.notebook} -> {args.out}")


def report(args: argparse.Namespace) -> None:
    from cnnlens.reporting.assemble import ReportInputs, build_report

    inputs = ReportInputs(args.notebooks, args.metrics, args.comparison, args.vgg, args.benchmarks, args.faithfulness)
    written = build_report(inputs, json.loads(args.config_json), args.cited_config, args.repo, args.out_dir)
    print("report -> " + " ".join(map(str, written)))


def pdf(args: argparse.Namespace) -> None:
    from cnnlens.reporting.pdf import write_pdf

    write_pdf(args.html, args.out)
    print(f"{args.html} -> {args.out}")


WHERE = {  # what `cnnlens where` names -> the names it takes
    "data": (),
    "run": ("MODEL", "SEED"),
    "analysis": ("NAME", "MODEL", "SEED"),
    "notebook": ("NAME",),
    "parameters": ("NAME",),
    "report": (),
}


def where(args: argparse.Namespace) -> None:
    from cnnlens.layout import planned_layout
    from cnnlens.registry import ANALYSES

    wanted = WHERE[args.what]
    if len(args.names) != len(wanted):
        raise CnnlensError(f"where {args.what} takes {' '.join(wanted) or 'no names'}, got {len(args.names)}")
    layout = planned_layout(args.config)
    configs = " ".join(args.config)
    if args.what in ("run", "analysis"):
        *names, model, seed = args.names
        if names and names[0] not in ANALYSES:
            raise CnnlensError(f"{names[0]} is not an analysis: choose one of {', '.join(ANALYSES)}")
        runs = layout.analysis_runs(names[0]) if names else layout.runs()
        if not seed.isdigit() or (model, int(seed)) not in runs:
            made = ", ".join(f"{each} {each_seed}" for each, each_seed in runs)
            raise CnnlensError(f"{' '.join(args.names)} is not made by {configs}: it makes {made}")
    if args.what in ("notebook", "parameters") and args.names[0] not in layout.executed:
        raise CnnlensError(
            f"{args.names[0]} is not a notebook of {configs}: choose one of {', '.join(layout.executed)}"
        )
    paths: dict[str, Callable[..., str]] = {
        "data": lambda: layout.data_cache,
        "run": lambda model, seed: layout.run_dir(model, int(seed)),
        "analysis": lambda name, model, seed: layout.analysis_file(name, model, int(seed)),
        "notebook": layout.notebook_file,
        "parameters": lambda name: parameters_cell(layout, name),
        "report": lambda: layout.report_dir,
    }
    print(paths[args.what](*args.names))


def parameters_cell(layout: Layout, executed: str) -> str:
    """An executed notebook's parameters as the lines of its parameters cell, to paste where the notebook is opened
    by hand: the files relative to notebooks/, where Jupyter starts."""

    def from_notebooks(path: str | list[str]) -> str | list[str]:
        return (
            [os.path.relpath(each, layout.notebooks) for each in path]
            if isinstance(path, list)
            else (os.path.relpath(path, layout.notebooks))
        )

    files = {name: from_notebooks(path) for name, path in layout.notebook_inputs(executed).items()}
    values = layout.notebook_parameters(executed) | files
    return "\n".join(f"{name} = {value!r}" for name, value in values.items())


def publish(args: argparse.Namespace) -> None:
    from cnnlens.atomic import publish_files

    publish_files(args.files, args.to)
    print(f"published {len(args.to)} files: {' '.join(args.to)}")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="cnnlens", description=__doc__.splitlines()[0])
    steps = main.add_subparsers(dest="step", required=True)
    _model_steps(steps)
    _report_steps(steps)
    _config_steps(steps)
    return main


def _model_steps(steps: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The steps that run models: data, training, analyses, VGG16."""
    from cnnlens.registry import ANALYSES  # no torch: the parser stays quick

    step = steps.add_parser("prepare-data", help="cache a data set as uint8 tensors")
    step.add_argument("--source", choices=["cifar10", "imagefolder"], required=True)
    step.add_argument("--path", required=True, help="ImageFolder dir/.tar.gz, or the CIFAR-10 download folder")
    step.add_argument("--image-size", type=int, default=32)
    step.add_argument("--out", required=True)
    step.set_defaults(run=prepare_data)

    step = steps.add_parser("train", help="train one model with one seed")
    _run_options(step)
    step.add_argument("--recipe", default="{}", help="JSON object of Recipe fields")
    step.add_argument("--engine", default="{}", help="JSON object of Engine fields (compile, cuda_graph, precision)")
    step.add_argument("--device", default="auto")
    step.add_argument("--out-dir", required=True)
    step.set_defaults(run=train)

    step = steps.add_parser("analyse", help="one analysis of a trained run (the registry's analyses)")
    step.add_argument("analysis", choices=ANALYSES)
    _run_options(step)
    step.add_argument("--checkpoint", required=True, help="the run's model.pt")
    step.add_argument("--settings", default="{}", help="JSON object: the analysis's visualise or faithfulness settings")
    step.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (the GPU when one is visible)")
    step.add_argument("--out", required=True)
    step.set_defaults(run=analyse)

    step = steps.add_parser("vgg", help="VGG16 on photos: top-5, channel-mean maps by depth, deconvnet")
    step.add_argument("--weights", default="imagenet", help="imagenet, none, or a state_dict file")
    step.add_argument("--photos", nargs="*", default=[], help="image paths (default: bundled sample photos)")
    step.add_argument("--layers", nargs="+", type=int, default=[0, 10, 20])
    step.add_argument("--threads", type=int, default=1)
    step.add_argument("--out", required=True)
    step.set_defaults(run=vgg)


def _report_steps(steps: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The steps that turn runs into the report: comparison, notebooks, the HTML."""
    step = steps.add_parser(
        "compare", help="aggregate runs; every variant against a baseline, over seeds and image by image"
    )
    step.add_argument("--metrics", nargs="+", required=True)
    step.add_argument(
        "--predictions", nargs="+", required=True, help="each run's predictions.csv, in the order of --metrics"
    )
    step.add_argument("--baseline", required=True)
    step.add_argument("--alpha", type=float, default=0.05)
    step.add_argument("--out-dir", required=True)
    step.set_defaults(run=compare)

    step = steps.add_parser("notebook", help="execute one report notebook (papermill) with its parameters")
    step.add_argument("notebook")
    step.add_argument("--files", default="{}", help="JSON object: the input files, by parameter name")
    step.add_argument("--settings", default="{}", help="JSON object: the section's settings from the config")
    step.add_argument("--out", required=True)
    step.set_defaults(run=notebook)

    step = steps.add_parser("report", help="merge executed notebooks into one HTML report per edition")
    step.add_argument("--notebooks", nargs="+", required=True, help="the executed notebooks, in reading order")
    step.add_argument("--metrics", nargs="+", required=True)
    step.add_argument("--benchmarks", nargs="*", default=[])
    step.add_argument("--config-json", required=True, help="the effective config (JSON), written beside the report")
    step.add_argument("--cited-config", required=True, help="where the published config lies, for the reproduce line")
    step.add_argument("--repo", default=".", help="the workflow's checkout, whose commit the report names")
    step.add_argument("--comparison", required=True, help="the compare rule's folder (summary.csv, tests.csv)")
    step.add_argument("--vgg", help="the vgg rule's file, for a banner when VGG16's weights were random")
    step.add_argument(
        "--faithfulness", nargs="*", default=[], help="every faithfulness file (all models and seeds), for the verdict"
    )
    step.add_argument("--out-dir", required=True, help="the folder of report.html, report-short.html, config.yaml")
    step.set_defaults(run=report)

    step = steps.add_parser("pdf", help="print an HTML report to an A4 PDF (WeasyPrint; needs the system's Pango)")
    step.add_argument("--html", required=True, help="the report's HTML file")
    step.add_argument("--out", required=True)
    step.set_defaults(run=pdf)


def _config_steps(steps: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The steps around the jobs: publishing a finished report, finding a file of the current config."""
    step = steps.add_parser("publish", help="put finished files in place, each replacing the old one at once")
    step.add_argument("--files", nargs="+", required=True)
    step.add_argument("--to", nargs="+", required=True, help="where each of --files goes, in the same order")
    step.set_defaults(run=publish)

    step = steps.add_parser(
        "where", help="where a file of the published report's run lies (results/config.yaml): data, a run, ..."
    )
    step.add_argument(
        "what",
        choices=WHERE,
        help="the data cache, a run's folder, an analysis file, an executed notebook, a notebook's parameters cell",
    )
    step.add_argument(
        "names",
        nargs="*",
        help="run: MODEL SEED; analysis: NAME MODEL SEED; notebook, parameters: NAME (explain-plain)",
    )
    step.add_argument(
        "--config",
        nargs="+",
        default=["results/config.yaml"],
        help="the config files of the run, merged in order (default: the published report's, results/config.yaml)",
    )
    step.set_defaults(run=where)


def _run_options(step: argparse.ArgumentParser) -> None:
    """The options that name one training run: data, variant, architecture, seed, CPU threads."""
    step.add_argument("--data", required=True, help="the prepare_data rule's dataset.pt")
    step.add_argument("--model", required=True, help="the variant's name")
    step.add_argument("--architecture", default="{}", help="JSON object of Architecture fields")
    step.add_argument("--seed", type=int, default=0)
    step.add_argument("--threads", type=int, default=1)


def interrupted_line(step: str) -> str:
    """What a step prints, alone on its line, when Ctrl-C stops it."""
    return f"cnnlens {step}: interrupted"


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.step in ("train", "analyse", "vgg"):
        from cnnlens.training.allocator import keep_freed_memory

        keep_freed_memory()  # torch jobs allocate and free the same large blocks over and over
    try:
        with OneLineCtrlC(interrupted_line(args.step)):
            args.run(args)
    except CnnlensError as error:
        print(f"cnnlens {args.step}: error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
