"""The layers of src/cnnlens read top to bottom (CONTRIBUTING.md, "The code map"): no module imports one above it.

Every import of every module counts, those inside functions too, so a lazy import cannot hide an arrow back up.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers import REPO

SOURCE = REPO / "src"
# Bottom to top. A module may import its own layer and those below it, never one above.
LAYERS = (
    # shared by all: errors, atomic writes, the texts, the artifacts' formats, the statistics, Ctrl-C
    ("cnnlens", "cnnlens.errors", "cnnlens.atomic", "cnnlens.texts", "cnnlens.artifacts", "cnnlens.statistics",
     "cnnlens.interruption"),
    ("cnnlens.data", "cnnlens.models"),
    ("cnnlens.training",),
    ("cnnlens.interpret",),
    ("cnnlens.views",),  # what figures and notebooks compute from the artifacts
    ("cnnlens.plots",),
    # the run: its config, its registry of analyses and sections, where its files lie, and its report
    ("cnnlens.config", "cnnlens.registry", "cnnlens.layout", "cnnlens.reporting"),
    ("cnnlens.cli",),
)  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int | None:
    """The layer of a cnnlens module (its longest named prefix; the package itself only by name), None for another
    package's and for a cnnlens module that LAYERS leaves out."""
    matches = [
        (len(name), index)
        for index, names in enumerate(LAYERS)
        for name in names
        if module == name or (module.startswith(f"{name}.") and name != "cnnlens")
    ]
    return max(matches)[1] if matches else None


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in ``source``; ``from cnnlens import texts`` imports ``cnnlens.texts``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package that holds the module
                package = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join([*package, *([base] if base else [])])
            named = [f"{base}.{alias.name}" for alias in node.names] if base == "cnnlens" else [base]
            found += [(node.lineno, target) for target in named]
    return found


def upward_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """The imports of ``module`` that run back up the layers."""
    own = layer(module)
    assert own is not None, f"{module} is in no layer: add it to LAYERS"
    return [
        f"{module} line {line} imports {target}"
        for line, target in imported_modules(source, module, is_package)
        if (layer(target) or 0) > own
    ]


MODULES = sorted((SOURCE / "cnnlens").rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(SOURCE)))
def test_no_module_imports_a_layer_above_its_own(path):
    assert upward_imports(path.read_text(), module_name(path), path.name == "__init__.py") == []


def test_every_module_has_a_layer():
    assert [module_name(path) for path in MODULES if layer(module_name(path)) is None] == []
    assert layer("cnnlens.newpackage.module") is None and layer("numpy") is None


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("cnnlens.plots.faithfulness", "from cnnlens.reporting import captions"),
        ("cnnlens.plots.faithfulness", "from cnnlens.reporting.summaries import in_order"),
        ("cnnlens.views.depth", "import cnnlens.plots.style"),
        ("cnnlens.views.order", "from cnnlens import registry"),
        ("cnnlens.interpret.steps", "def step():\n    from cnnlens.views import faithfulness"),
        ("cnnlens.data.dataset", "from cnnlens.training.batches import TensorBatches"),
        ("cnnlens.models.cnn", "from cnnlens.config import load_config"),
        ("cnnlens.texts", "from ..plots import style"),
        ("cnnlens.plots.curves", "from ..reporting import captions"),
    ],
    ids=[
        "plots from reporting",
        "plots from the old summaries",
        "views from plots",
        "views from the registry",
        "interpret from views, in a function",
        "data from training",
        "models from config",
        "relative, from a package's __init__",
        "relative",
    ],
)
def test_an_import_back_up_is_found(module, source):
    is_package = module == "cnnlens.texts"
    assert upward_imports(source, module, is_package) != []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        (
            "cnnlens.plots.faithfulness",
            "from cnnlens.views.order import in_order\nfrom cnnlens.plots.style import listing\nimport numpy as np\n",
        ),
        ("cnnlens.views.depth", "from . import order\nfrom .order import in_order"),
        ("cnnlens.views.runs", "from cnnlens import texts"),
    ],
    ids=["plots from views, plots and numpy", "relative, sideways", "views from texts"],
)
def test_imports_down_and_sideways_are_not(module, source):
    assert upward_imports(source, module) == []
