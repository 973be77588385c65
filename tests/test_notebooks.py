"""The notebooks in git: one per report section, parameters that default to a quick run's files, and cells that
only load, call library functions and plot, each figure followed by its caption.

Each check returns the problems it finds, so that the tests at the end can show it finds them in a broken notebook.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re

import nbformat
import pandas as pd
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from cnnlens.artifacts import IMAGE_TESTS, NOISE_FLOOR, RUNS, TESTS
from cnnlens.registry import (
    ANALYSES,
    EVERY_SECTION_SETTINGS,
    SECTIONS,
    Section,
    setting_values,
)
from cnnlens.reporting.captions import FIGURE_MARKER, banner, caption, heading, paragraph
from cnnlens.reporting.captions import table as html_table
from cnnlens.texts import CIFAR10_CLASS_NAMES, table

from helpers import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
BY_NAME = {section.notebook: section for section in SECTIONS}

# What a notebook may import: readers of artifacts, the library's views of them, plots, the report's conclusions and
# tables, captions and texts, and what displays a figure. No torch, numpy, pandas or file reading of its own, and
# none of the report's machinery (building, printing, running notebooks).
ALLOWED_IMPORTS = (
    "IPython.display",
    "matplotlib.pyplot",
    "cnnlens.artifacts",
    "cnnlens.views",
    "cnnlens.reporting",
    "cnnlens.texts",
    "cnnlens.plots",
)
REPORT_MACHINERY = tuple(
    f"cnnlens.reporting.{name}" for name in ("assemble", "header", "legibility", "notebooks", "pdf")
)
# Calls that compute: in a notebook they would bypass the tested library functions.
COMPUTING_CALLS = {
    "mean", "std", "var", "sum", "median", "min", "max", "quantile", "percentile", "bincount", "groupby",
    "agg", "apply", "concat", "stack", "cat", "sort_values", "argsort", "sorted", "unique", "value_counts",
    "permute", "transpose", "reshape",
}  # fmt: skip
# Calls that read files: allowed only as methods of what the readers define (Activations.load, TrainedRun.read).
READING_CALLS = {"load", "read", "open", "eval", "exec", "__import__"}
READERS = ("cnnlens.artifacts", "cnnlens.reporting.comparison", "cnnlens.views.runs")


def quick_run_config() -> dict:
    """config.yaml with config/quick.yaml on top, as `make quick` runs it."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for key, value in (yaml.safe_load((REPO / "config" / "quick.yaml").read_text()) or {}).items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    return config


def quick_run_parameters(section: Section) -> dict:
    """The section's parameters with a quick run's settings, and its files None: their paths hold keys of the
    machine's run (`cnnlens where parameters` prints them)."""
    config = quick_run_config()
    expected: dict = setting_values((*section.settings, *EVERY_SECTION_SETTINGS), config)
    return expected | dict.fromkeys(section.reads)


def code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def parameters_cell(notebook):
    tagged = [cell for cell in code_cells(notebook) if "parameters" in cell.metadata.get("tags", [])]
    return tagged[0] if len(tagged) == 1 else None


def body(notebook) -> list[ast.Module]:
    """Every code cell but the parameters cell, parsed, in order."""
    parameters = parameters_cell(notebook)
    return [ast.parse(cell.source) for cell in code_cells(notebook) if cell is not parameters]


def parameter_problems(notebook, section: Section) -> list[str]:
    """The parameters cell defines exactly the section's inputs and settings, with a quick run's values."""
    cell = parameters_cell(notebook)
    if cell is None:
        return ["no single cell tagged 'parameters'"]
    problems, defaults = [], {}
    for statement in ast.parse(cell.source).body:
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1):
            problems.append(f"parameters cell line {statement.lineno} is not `name = value`")
            continue
        try:
            defaults[ast.unparse(statement.targets[0])] = ast.literal_eval(statement.value)
        except ValueError:
            problems.append(f"parameters cell line {statement.lineno} is not a literal value")
    expected = quick_run_parameters(section)
    if set(defaults) != set(expected):
        problems.append(f"parameters {sorted(defaults)}, the section passes {sorted(expected)}")
    problems += [
        f"{name} defaults to {defaults[name]!r}, not {value!r} (a quick run's setting, or None for a file)"
        for name, value in expected.items()
        if name in defaults and defaults[name] != value
    ]
    return problems


def imported(notebook) -> dict[str, str]:
    """Name in the notebook -> the module or module attribute it was imported as."""
    names = {}
    for tree in body(notebook):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {(alias.asname or alias.name): alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names |= {(alias.asname or alias.name): f"{node.module}.{alias.name}" for alias in node.names}
    return names


def loading_problems(notebook) -> list[str]:
    """The notebook imports only readers, the library and display helpers; it opens and parses no file itself."""
    problems = [
        f"imports {origin}"
        for origin in imported(notebook).values()
        if not any(origin == allowed or origin.startswith(f"{allowed}.") for allowed in ALLOWED_IMPORTS)
        or any(origin == machinery or origin.startswith(f"{machinery}.") for machinery in REPORT_MACHINERY)
    ]
    readers = {name for name, origin in imported(notebook).items() if origin.startswith(READERS)}
    for tree in body(notebook):
        for node in ast.walk(tree):
            name = _called_name(node) if isinstance(node, ast.Call) else None
            if name in READING_CALLS or (name or "").startswith("read_"):
                owner = node.func.value if isinstance(node.func, ast.Attribute) else None
                if not (isinstance(owner, ast.Name) and owner.id in readers):
                    problems.append(f"reads a file with {ast.unparse(node.func)}")
    return problems


def computing_problems(notebook) -> list[str]:
    """The notebook computes nothing: no arithmetic, no reductions or reshaping, no functions of its own."""
    problems = []
    for tree in body(notebook):
        for node in ast.walk(tree):
            if isinstance(node, (ast.BinOp, ast.AugAssign)):
                problems.append(f"arithmetic: {ast.unparse(node)}")
            elif isinstance(node, (ast.FunctionDef, ast.Lambda, ast.ClassDef)):
                problems.append(f"defines {getattr(node, 'name', 'a lambda')}")
            elif isinstance(node, ast.Call) and _called_name(node) in COMPUTING_CALLS:
                problems.append(f"computes: {ast.unparse(node)}")
    return problems


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return call.func.id if isinstance(call.func, ast.Name) else None


def figure_functions(notebook) -> dict[str, set[str]]:
    """Notebook name of each imported plots module -> the functions in it that draw a figure."""
    modules = {}
    for name, origin in imported(notebook).items():
        if origin.startswith("cnnlens.plots.") and origin.count(".") == 2:
            members = inspect.getmembers(importlib.import_module(origin), inspect.isfunction)
            modules[name] = {
                function for function, value in members if inspect.signature(value).return_annotation == "Figure"
            }
    return modules


def _module_call(node: ast.AST, modules: dict[str, set[str]]) -> tuple[str, str] | None:
    """``(module, function)`` when ``node`` calls a function of one of ``modules`` (notebook names)."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in modules
    ):
        return node.func.value.id, node.func.attr
    return None


def _caption_built(node: ast.AST, figures: dict[str, set[str]], named: dict[str, ast.AST]) -> str | None:
    """The plots module whose ``*_caption`` function built the caption ``node``: called right there, or through
    :func:`cnnlens.plots.style.part_caption` (a grid shown in parts), or assigned to the name ``node`` holds."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "part_caption":
        return _caption_built(node.args[0], figures, named)
    if isinstance(node, ast.Name) and node.id in named:
        return _caption_built(named[node.id], figures, named)
    built = _module_call(node, figures)
    return built[0] if built and built[1].endswith("_caption") else None


def caption_problems(notebook) -> list[str]:
    """Every figure is followed by its caption, built by a caption function of the figure's plots module, before
    the next figure."""
    figures = figure_functions(notebook)
    named = {  # captions built before their figure is shown: name = plots.<figure>_caption(...)
        node.targets[0].id: node.value
        for tree in body(notebook)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
    }
    events = []  # (position, "figure" | "caption", plots module or None, source) in source order
    for number, tree in enumerate(body(notebook)):
        for node in ast.walk(tree):
            place = (number, getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
            called = _module_call(node, figures)
            if called and called[1] in figures[called[0]]:
                events.append((place, "figure", called[0], ast.unparse(node.func)))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "caption":
                module = _caption_built(node.args[0], figures, named) if len(node.args) == 1 else None
                events.append((place, "caption", module, ast.unparse(node)))
    events.sort(key=lambda event: event[0])
    problems = []
    for position, (_, kind, module, what) in enumerate(events):
        before = events[position - 1] if position else None
        after = events[position + 1] if position + 1 < len(events) else None
        if kind == "figure" and (after is None or after[1] != "caption"):
            problems.append(f"{what} has no caption after it")
        if kind == "caption" and (before is None or before[1] != "figure"):
            problems.append(f"{what} follows no figure")
        elif kind == "caption" and module != before[2]:
            problems.append(f"{what} is not built by a caption function of the figure's plots module")
    if not any(kind == "figure" for _, kind, _, _ in events):
        problems.append("draws no figure")
    return problems


def prose_problems(notebook) -> list[str]:
    """What a reader sees comes from the text table: no markdown cells, no sentences in string literals."""
    problems = [f"markdown cell: {cell.source[:40]!r}" for cell in notebook.cells if cell.cell_type == "markdown"]
    literals = [node.value for tree in body(notebook) for node in ast.walk(tree) if isinstance(node, ast.Constant)]
    # ast.walk reaches the literal parts of f-strings too
    return problems + [f"text: {literal!r}" for literal in literals if isinstance(literal, str) and _is_prose(literal)]


def _is_prose(literal: str) -> bool:
    """Words and spaces: a sentence or part of one, not a key, a column name or a number format."""
    return " " in literal and re.search(r"[^\W\d_]{2,}", literal) is not None


def all_problems(notebook, section: Section) -> list[str]:
    return (
        parameter_problems(notebook, section)
        + loading_problems(notebook)
        + computing_problems(notebook)
        + caption_problems(notebook)
        + prose_problems(notebook)
    )


def test_every_section_has_a_notebook_and_every_notebook_a_section():
    assert {path.stem for path in NOTEBOOKS} == set(BY_NAME)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_stripped_and_parameterized(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert notebook.metadata["language_info"]["name"] == "python"
    assert all(not cell.outputs and cell.execution_count is None for cell in code_cells(notebook))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_loads_calls_the_library_and_captions_every_figure(path):
    assert all_problems(nbformat.read(path, as_version=4), BY_NAME[path.stem]) == []


def test_the_texts_that_code_names_are_in_the_english_table_and_every_text_is_used():
    sources = [path.read_text() for path in (REPO / "src" / "cnnlens").rglob("*.py")]
    sources += ["\n".join(cell.source for cell in code_cells(nbformat.read(path, as_version=4))) for path in NOTEBOOKS]
    named = set(re.findall(r"""["']((?:[a-z_]+)\.[a-z_]+)["']""", "\n".join(sources)))
    keys = set(table("en"))
    sections = {key.split(".")[0] for key in keys}
    named = {key for key in named if key.split(".")[0] in sections}
    # keys the code builds from names: section.<notebook>, table.<compare column>, classes.cifar10.<class>
    named |= {f"section.{section.notebook}" for section in SECTIONS}
    compared = (*RUNS.columns, *TESTS.columns, *IMAGE_TESTS.columns, *NOISE_FLOOR.columns)
    named |= {f"table.{column}" for column in compared if column != "verdict"}
    named |= {f"classes.cifar10.{name}" for name in CIFAR10_CLASS_NAMES}
    # config keys that the registry names as settings (faithfulness.images) are not texts
    named -= {setting for entry in (*ANALYSES.values(), *SECTIONS) for setting in entry.settings}
    assert named - keys == set(), "named in code, missing from en.yaml"
    assert keys - named == set(), "in en.yaml, named by no code"


def test_what_notebooks_display_is_escaped_html():
    assert caption("a <cat> & a dog") == f'<p class="cnnlens-caption">{FIGURE_MARKER}. a &lt;cat&gt; &amp; a dog</p>'
    assert paragraph("1 < 2") == "<p>1 &lt; 2</p>" and heading("<b>") == "<h3>&lt;b&gt;</h3>"
    assert banner("random <weights>") == '<p class="cnnlens-banner">random &lt;weights&gt;</p>'
    shown = html_table(pd.DataFrame({"p_value": [0.123456, float("nan")]}), "{:.2f}")
    assert "<td>0.12</td>" in shown and "<td>n/a</td>" in shown and "<th>p_value</th>" in shown


# A notebook that breaks each rule, made from a good one: every check must see it.

ACTIVATIONS = "activations = None"
PARAMETERS = "\n".join([ACTIVATIONS, "channels = 9", 'channel_modes = ["first", "last", "top"]', 'language = "en"'])
SETUP = """import matplotlib.pyplot as plt
from IPython.display import HTML, display

from cnnlens.artifacts import Activations
from cnnlens.plots import feature_maps as plots
from cnnlens.reporting.captions import caption
from cnnlens.views.feature_maps import feature_layers

stored = Activations.load(activations)
maps = feature_layers(stored)"""
FIGURE = "plots.pca_grid(images, labels, columns, plots.pca_title())\nplt.show()"
CAPTION = "display(HTML(caption(plots.pca_caption(stored.model, stored.seed))))"
GOOD = [
    new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
    new_code_cell(SETUP),
    new_code_cell(f"{FIGURE}\n{CAPTION}"),
]


def notebook_with(*changes: tuple[int, str]):
    """The good notebook with a cell replaced (index) or added (-1)."""
    cells = [nbformat.from_dict(dict(cell)) for cell in GOOD]
    for index, source in changes:
        if index < 0:
            cells.append(new_code_cell(source))
        else:
            cells[index].source = source
    return new_notebook(cells=cells)


FEATURE_MAPS = BY_NAME["feature_maps"]


def test_the_good_example_passes():
    assert all_problems(notebook_with(), FEATURE_MAPS) == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        (f"{ACTIVATIONS}\nchannels = 9", "parameters"),
        (PARAMETERS.replace(ACTIVATIONS, 'activations = ""'), "defaults to"),
        (PARAMETERS.replace(ACTIVATIONS, 'activations = "../results/activations.pt"'), "defaults to"),
        (PARAMETERS.replace("9", "16"), "defaults to"),
        (f"{PARAMETERS}\nlayers = ['conv1']", "parameters"),
        (f"{PARAMETERS}\nlayers = list(maps)", "not a literal"),
    ],
    ids=["missing setting", "empty default", "a path", "another setting", "extra parameter", "computed"],
)
def test_parameter_check_sees_wrong_names_and_defaults(source, found):
    problems = parameter_problems(notebook_with((0, source)), FEATURE_MAPS)
    assert problems and found in " ".join(problems)


@pytest.mark.parametrize("tagged", [[], [0, 1]], ids=["none", "two"])
def test_parameter_check_needs_a_single_tagged_cell(tagged):
    notebook = notebook_with()
    for index, cell in enumerate(notebook.cells):
        cell.metadata["tags"] = ["parameters"] if index in tagged else []
    (problem,) = parameter_problems(notebook, FEATURE_MAPS)
    assert "'parameters'" in problem  # the tag it looks for


@pytest.mark.parametrize(
    "source",
    [
        "import torch\nstored = torch.load(activations)",
        "import pandas as pd\ntable = pd.read_csv('../results/comparison/runs.csv')",
        "with open(activations) as file:\n    file.read()",
        "stored = plots.Activations.load(activations)",
        "from cnnlens.reporting.pdf import write_pdf",
    ],
    ids=["torch.load", "read_csv", "open", "load outside the readers", "the report's machinery"],
)
def test_loading_check_sees_files_read_outside_the_readers(source):
    assert loading_problems(notebook_with((-1, source)))


@pytest.mark.parametrize(
    "source",
    [
        "spread = means.std()",
        "means = table.groupby(labels).mean()",
        "share = 100 * count",
        "count += 1",
        "def named(rows):\n    return rows",
        "images = stored.images.permute(0, 2, 3, 1)",
        "low = min(values)",
    ],
)
def test_computing_check_sees_computations(source):
    assert computing_problems(notebook_with((-1, source)))


@pytest.mark.parametrize(
    ("source", "found"),
    [
        (FIGURE, "no caption after it"),
        (f"{FIGURE}\nplots.channel_grid(images, labels, maps, picked, title)\n{CAPTION}", "no caption after it"),
        (CAPTION, "follows no figure"),
        (f"{FIGURE}\ndisplay(HTML(caption(words)))", "caption function"),
        (f"{FIGURE}\ndisplay(HTML(caption(text('feature_maps.pca_title'))))", "caption function"),
        (f"{FIGURE}\ndisplay(HTML(caption(plots.pca_title())))", "caption function"),
        (
            f"{FIGURE}\nfrom cnnlens.plots import depth\ndisplay(HTML(caption(depth.deconv_caption(n, d))))",
            "caption function",
        ),
    ],
    ids=[
        "no caption",
        "two figures one caption",
        "caption alone",
        "caption from a variable",
        "caption from text",
        "caption from a title",
        "caption of another module",
    ],
)
def test_caption_check_sees_figures_without_their_caption(source, found):
    problems = caption_problems(notebook_with((2, source)))
    assert problems and found in " ".join(problems)


def test_caption_check_follows_figures_into_loops():
    looped = "for rows in chunks:\n    plots.pca_grid(images, labels, columns, title)\n    plt.show()\n"
    assert caption_problems(notebook_with((2, looped + "display(HTML(caption(plots.pca_caption(m, s))))"))) == []
    assert caption_problems(notebook_with((2, looped)))


@pytest.mark.parametrize(
    "cell",
    [
        new_markdown_cell("What the convolution layers respond to."),
        new_code_cell("display(HTML('<p>Model plain, seed 0</p>'))"),
        new_code_cell("display(HTML(paragraph(f'Model {stored.model}, seed {stored.seed}')))"),
    ],
    ids=["markdown", "literal", "f-string"],
)
def test_prose_check_sees_text_that_is_not_from_the_table(cell):
    notebook = notebook_with()
    notebook.cells.append(cell)
    assert prose_problems(notebook)


def test_a_killed_jobs_temporary_notebook_is_removed_at_the_next_start_and_a_running_ones_kept(tmp_path):
    """Executed notebooks lie in folders keyed by their inputs, so the job that would overwrite a killed job's
    temporary file may never run again: the next notebook job removes it, whichever notebook it executes."""
    from cnnlens.reporting.notebooks import _claimed, remove_abandoned_notebooks

    abandoned = tmp_path / "a1b2c3d4e5" / ".explain-plain.4242.tmp.ipynb"
    running = tmp_path / "f6e5d4c3b2" / ".comparison.4343.tmp.ipynb"
    finished = tmp_path / "f6e5d4c3b2" / "training.ipynb"
    for path in (abandoned, finished):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    with _claimed(running):  # a job still writing it, as papermill does
        assert remove_abandoned_notebooks(tmp_path) == [abandoned]
        assert running.exists() and finished.exists() and not abandoned.exists()
    assert remove_abandoned_notebooks(tmp_path) == [running]  # its job ended without renaming it
    assert finished.exists()
