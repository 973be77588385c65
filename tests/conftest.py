"""Fixtures: Chinese texts, tiny image folders made on the fly, and one end-to-end run shared by the tests that
read its files (the helpers that make them are in helpers.py)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import matplotlib as mpl
import pytest

from cnnlens import texts
from cnnlens.plots.style import use_print_sizes
from cnnlens.texts import set_language
from cnnlens.texts.fonts import use_fonts

from helpers import PANGO, PIPELINE_CLASSES, KeyTable, make_image_folder, snakemake, tiny_workdir


@pytest.fixture(autouse=True, scope="session")
def print_sizes():
    """Figures drawn as the notebooks draw them: at the size and with the fonts they print at."""
    use_print_sizes()


@pytest.fixture
def chinese():
    """Chinese texts and the font that has their glyphs, and matplotlib's settings restored afterwards whatever the
    test changed."""
    set_language("zh")
    with mpl.rc_context():
        use_fonts("zh")
        yield
    set_language("en")


@pytest.fixture(params=["en", "zh"])
def language(request: pytest.FixtureRequest) -> str:
    """Each test run once in English and once in Chinese (:func:`chinese`): a figure's labels in either language."""
    if request.param == "zh":
        request.getfixturevalue("chinese")
    return request.param


@pytest.fixture
def text_keys(monkeypatch: pytest.MonkeyPatch):
    """Texts rendered as their key and fields (``⟨verdict.faithful model=plain auc=0.2100⟩``), so that a test asserts
    what a sentence says (which text, which numbers) and not its English wording."""
    english = texts.table("en")
    monkeypatch.setattr(texts, "table", lambda _language: KeyTable(english))


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "images", {"train": 4, "test": 2})


@pytest.fixture
def image_tarball(image_folder: Path, tmp_path: Path) -> Path:
    archive = tmp_path / "images.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for split in ("train", "test"):
            tar.add(image_folder / split, arcname=split)
    return archive


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline run once for the session (3 variants, 2 seeds, 2 classes, both editions, printed where Pango
    is): tests read its files and dry-run it with other configs; they add only their own config files, a photo and a
    provenance archive. Under pytest-xdist its tests share one worker (:func:`pytest_xdist_make_scheduler`)."""
    workdir = tiny_workdir(
        tmp_path_factory.mktemp("pipeline"),
        classes=PIPELINE_CLASSES,
        seeds=[0, 1],
        models=["plain", "attention", "cbam"],
        variants={"cbam": {"attention": "cbam", "blocks": [3]}},
        report={"pdf": PANGO},  # without Pango, the tests that read the PDFs skip
    )
    first = snakemake(workdir)
    assert first.returncode == 0, first.stderr[-3000:]
    return workdir


# Under pytest-xdist (``-n``) a module's tests run on one worker, and these modules share one worker with another:
# a session fixture runs once per worker, so the tests that read the shared end-to-end run must meet on one.
SAME_WORKER = {"tests/test_browser.py": "tests/test_pipeline.py"}
# The modules that take minutes, first: each starts at once on a worker of its own while the others share the rest.
SLOWEST_FIRST = (
    "tests/test_pipeline.py",
    "tests/test_browser.py",
    "tests/test_slurm.py",
    "tests/test_class_counts.py",
    "tests/test_kills.py",
)


def module_of(nodeid: str) -> str:
    return nodeid.partition("::")[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest modules first (a stable sort: the rest keep their order), the same on every worker."""
    items.sort(
        key=lambda item: (
            SLOWEST_FIRST.index(module) if (module := module_of(item.nodeid)) in SLOWEST_FIRST else len(SLOWEST_FIRST)
        )
    )


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Whole modules to a worker (pytest-xdist's loadscope), SAME_WORKER's together, in the order collected."""
    from xdist.scheduler import LoadScopeScheduling

    class ModulesTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return SAME_WORKER.get(module_of(nodeid), module_of(nodeid))

    config.option.loadscopereorder = False  # keep SLOWEST_FIRST's order, not the largest modules first
    return ModulesTogether(config, log)
