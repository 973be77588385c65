"""Where each job's files lie (cnnlens.layout): every key changes with what its job uses and with nothing else, outside
files are keyed by their identity, the device a run is keyed by, the refusal of another config's key, publishing,
and ``cnnlens where``. In process and fast: no Snakemake, no training."""

import ast
import copy
import os
import re
from pathlib import Path

import pytest
import yaml

from cnnlens import config as config_module
from cnnlens.atomic import publish_files
from cnnlens.cli import main
from cnnlens.config import validate_config
from cnnlens.errors import CnnlensError
from cnnlens.layout import (
    AUTO_DEVICE,
    KEY_PATTERN,
    Layout,
    check_key,
    file_identity,
    planned_layout,
    run_device,
)
from cnnlens.registry import ANALYSES, SECTIONS

from helpers import SCHEMA, keyed_places


def effective(changes: dict | None = None) -> dict:
    """The effective config of ``changes`` (schema defaults filled in), without checking the paths it names."""
    return validate_config(copy.deepcopy(changes or {}), SCHEMA)


def changed(before: dict, after: dict, device: str = "cpu", workdir: str = ".") -> set[str]:
    """The names of the places whose key differs between two configs."""
    old, new = (keyed_places(Layout(config, device, workdir=workdir)) for config in (before, after))
    assert old.keys() == new.keys()
    return {name for name in old if old[name] != new[name]}


def key_of_path(path: str) -> str:
    """The key folder of a keyed path: the run folder's last part, a file's folder."""
    return Path(path).name if Path(path).suffix == "" else Path(path).parent.name


DEFAULT = keyed_places(Layout(effective(), "cpu"))
RUNS = {"run plain 0", "run attention 0"}
ANALYSIS_FILES = {name for name in DEFAULT if name.split()[0] in ANALYSES}
NOTEBOOKS = {name for name in DEFAULT if name.startswith("notebook ")}


@pytest.fixture
def unpinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """No pinned answer for train.device auto; whatever a test pins is undone after it (setenv first, so that
    monkeypatch remembers the variable's original state even where it was absent)."""
    monkeypatch.setenv(AUTO_DEVICE, "cpu")
    monkeypatch.delenv(AUTO_DEVICE)


# ---- keys change exactly with what a job uses ----


def test_every_keyed_place_has_a_key_of_ten_hex_digits_in_its_own_folder():
    assert DEFAULT["data"] == f"results/data/{key_of_path(DEFAULT['data'])}/dataset.pt"
    assert DEFAULT["run plain 0"] == f"results/models/plain/seed0/{key_of_path(DEFAULT['run plain 0'])}"
    assert DEFAULT["explain attention 0"].startswith("results/analysis/attention-seed0/")
    assert DEFAULT["notebook explain-plain"].endswith("/explain-plain.ipynb")
    for name, path in DEFAULT.items():
        assert re.fullmatch(KEY_PATTERN, key_of_path(path)), name
    assert len(set(DEFAULT.values())) == len(DEFAULT)


def test_the_same_config_gives_the_same_paths_every_time():
    assert keyed_places(Layout(effective(), "cpu")) == DEFAULT


def test_the_results_folder_holds_every_path():
    moved = keyed_places(Layout(effective({"results": "elsewhere/out"}), "cpu"))
    assert all(path.startswith("elsewhere/out/") for path in moved.values())


def test_more_epochs_make_new_runs_and_everything_after_them_but_keep_the_data_and_vgg16():
    assert changed(effective(), effective({"train": {"epochs": 3}})) == set(DEFAULT) - {"data", "vgg"}


@pytest.mark.parametrize(
    "train",
    [
        {"batch_size": 4},
        {"lr": 0.01},
        {"lr_patience": 1},
        {"lr_factor": 0.1},
        {"augment": False},
        {"precision": "bf16"},
        {"compile": "off"},
        {"cuda_graph": False},
        {"threads": 2},
    ],
)
def test_every_recipe_engine_and_thread_setting_makes_new_runs(train):
    assert changed(effective(), effective({"train": train})) >= RUNS


def test_vgg16_layers_change_the_vgg16_file_and_what_reads_it_only():
    assert changed(effective(), effective({"vgg": {"layers": [0, 5]}})) == {"vgg", "notebook depth", "report"}


def test_an_analysis_setting_changes_the_analyses_that_take_it_and_what_reads_them_only():
    after = effective({"visualise": {"depth_layers": ["relu1"]}})
    assert changed(effective(), after) == {"depth plain 0", "depth attention 0", "notebook depth", "report"}


def test_a_setting_of_two_analyses_keeps_the_runs_and_the_other_analyses():
    moved = changed(effective(), effective({"visualise": {"max_images": 5}}))
    assert {"activations plain 0", "explain plain 0", "explain attention 0", "notebook feature_maps-plain"} <= moved
    assert not moved & (RUNS | {"data", "vgg", "comparison", "depth plain 0", "faithfulness plain 0"})
    assert not moved & {"attention attention 0", "notebook comparison", "notebook training"}


@pytest.mark.parametrize(
    "change",
    [
        {"visualise": {"images_per_class": 2}},
        {"visualise": {"layers": ["conv1", "conv2"]}},
        {"visualise": {"channel_modes": ["top"]}},
        {"visualise": {"gradcam_layer": "conv2"}},
        {"visualise": {"zfnet_channels": 2}},
        {"visualise": {"zfnet_images": 2}},
        {"faithfulness": {"steps": 4}},
        {"faithfulness": {"baseline": "mean"}},
        {"faithfulness": {"removal_fractions": [0.5]}},
        {"faithfulness": {"sanity_images": 2}},
    ],
)
def test_a_setting_moves_the_analyses_that_take_it_the_sections_that_take_or_read_them_and_nothing_else(change):
    [(part, values)] = change.items()
    [key] = values
    setting = key if part == "visualise" else f"{part}.{key}"
    analyses = {name for name, analysis in ANALYSES.items() if setting in analysis.settings}
    sections = {
        section.notebook for section in SECTIONS if setting in section.settings or analyses & set(section.reads)
    }
    notebooks = {name for name in NOTEBOOKS if name.split()[1].partition("-")[0] in sections}
    assert analyses or sections  # the setting is someone's
    expected = {name for name in ANALYSIS_FILES if name.split()[0] in analyses} | notebooks | {"report"}
    assert changed(effective(), effective(change)) == expected


def test_a_section_setting_changes_that_sections_notebooks_only():
    moved = changed(effective(), effective({"visualise": {"channels": 4}}))
    assert moved == {"notebook feature_maps-plain", "notebook feature_maps-attention", "report"}


def test_the_report_language_changes_every_notebook_and_nothing_before_them():
    assert changed(effective(), effective({"report": {"language": "zh"}})) == NOTEBOOKS | {"report"}


def test_the_comparisons_alpha_changes_the_comparison_and_not_the_runs():
    moved = changed(effective(), effective({"compare": {"alpha": 0.01}}))
    assert "comparison" in moved
    assert not moved & (RUNS | ANALYSIS_FILES | {"data", "vgg"})


def test_a_variants_reduction_makes_new_runs_of_that_model_only():
    after = effective()
    after["variants"]["attention"]["reduction"] = 8
    moved = changed(effective(), after)
    assert "run attention 0" in moved
    assert {name for name in ANALYSIS_FILES if name.endswith(" attention 0")} <= moved
    assert not moved & {"run plain 0", "data", "vgg", "notebook feature_maps-plain", "notebook explain-plain"}
    assert not moved & {name for name in ANALYSIS_FILES if name.endswith(" plain 0")}


def test_a_new_seed_keeps_the_runs_of_the_old_seed():
    before, after = keyed_places(Layout(effective(), "cpu")), keyed_places(Layout(effective({"seeds": [0, 1]}), "cpu"))
    assert after["run plain 0"] == before["run plain 0"]
    assert after["run plain 1"].startswith("results/models/plain/seed1/")
    assert after["explain plain 0"] == before["explain plain 0"]  # the representative seed stays 0


def test_the_image_size_makes_a_new_data_cache_and_new_runs():
    moved = changed(effective(), effective({"data": {"image_size": 64}}))
    assert {"data", *RUNS} <= moved
    assert "vgg" not in moved


def reordered(value: object) -> object:
    """``value`` with the keys of every dict in reverse order (lists keep theirs)."""
    if isinstance(value, dict):
        return {key: reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(item) for item in value]
    return value


def test_the_order_of_a_configs_keys_changes_no_path():
    config = effective({"seeds": [0, 1], "models": ["plain", "attention"]})
    turned = reordered(config)
    assert list(turned) == list(reversed(list(config)))
    assert keyed_places(Layout(turned, "cpu")) == keyed_places(Layout(config, "cpu"))


def test_the_kind_of_device_not_its_index_makes_the_run_key():
    cuda, second = Layout(effective(), "cuda"), Layout(effective({"train": {"device": "cuda:1"}}), run_device("cuda:1"))
    assert second.run_key("plain") == cuda.run_key("plain")
    assert cuda.run_key("plain") != Layout(effective(), "cpu").run_key("plain")


def test_auto_on_a_machine_without_a_gpu_is_the_same_run_as_cpu(monkeypatch):
    monkeypatch.setenv(AUTO_DEVICE, "cpu")
    auto = Layout(effective({"train": {"device": "auto"}}), run_device("auto"))
    cpu = Layout(effective({"train": {"device": "cpu"}}), run_device("cpu"))
    assert [auto.run_dir(*run) for run in auto.runs()] == [cpu.run_dir(*run) for run in cpu.runs()]
    assert auto.analysis_files("explain") == cpu.analysis_files("explain")


def test_auto_planned_with_a_gpu_is_the_same_run_as_cuda_and_not_as_cpu(monkeypatch):
    monkeypatch.setenv(AUTO_DEVICE, "cuda")
    auto = Layout(effective(), run_device("auto"))
    assert auto.run_dir("plain", 0) == Layout(effective({"train": {"device": "cuda"}}), "cuda").run_dir("plain", 0)
    assert auto.run_dir("plain", 0) != Layout(effective(), "cpu").run_dir("plain", 0)


# ---- outside files: their path, size and modification time ----


def imagefolder_config(path: str) -> dict:
    return effective({"data": {"source": "imagefolder", "path": path}})


def test_file_identity_is_the_path_size_and_time_of_a_file_and_the_path_alone_otherwise(tmp_path):
    (tmp_path / "images.tar.gz").write_bytes(b"12345")
    (tmp_path / "images").mkdir()
    mtime = os.stat(tmp_path / "images.tar.gz").st_mtime_ns
    assert file_identity("images.tar.gz", str(tmp_path)) == ["images.tar.gz", 5, mtime]
    assert file_identity("images", str(tmp_path)) == "images"
    assert file_identity("missing.tar.gz", str(tmp_path)) == "missing.tar.gz"


def test_a_data_archive_of_another_size_makes_a_new_data_cache_and_new_runs_even_at_the_same_time(tmp_path):
    archive = tmp_path / "images.tar.gz"
    archive.write_bytes(b"first archive")
    config = imagefolder_config("images.tar.gz")
    first = keyed_places(Layout(config, "cpu", workdir=str(tmp_path)))
    old = os.stat(archive).st_mtime_ns
    archive.write_bytes(b"a longer second archive")
    os.utime(archive, ns=(old, old))  # a copy that kept the old file's time: the size alone tells them apart
    second = keyed_places(Layout(config, "cpu", workdir=str(tmp_path)))
    assert first["data"] != second["data"]
    assert first["run plain 0"] != second["run plain 0"]
    assert first["explain plain 0"] != second["explain plain 0"]
    assert first["vgg"] == second["vgg"]


def test_a_data_archive_touched_with_a_new_time_makes_a_new_data_cache_and_its_old_time_the_old_one(tmp_path):
    archive = tmp_path / "images.tar.gz"
    archive.write_bytes(b"archive")
    config = imagefolder_config("images.tar.gz")
    old = os.stat(archive).st_mtime_ns
    first = Layout(config, "cpu", workdir=str(tmp_path)).data_cache
    os.utime(archive, ns=(old + 10**9, old + 10**9))
    assert Layout(config, "cpu", workdir=str(tmp_path)).data_cache != first
    os.utime(archive, ns=(old, old))
    assert Layout(config, "cpu", workdir=str(tmp_path)).data_cache == first


def test_a_data_folder_is_keyed_by_its_path_alone(tmp_path):
    folder = tmp_path / "project" / "images"
    folder.mkdir(parents=True)
    config = imagefolder_config("images")
    first = Layout(config, "cpu", workdir=str(tmp_path / "project")).data_cache
    (folder / "more.png").write_bytes(b"another image")
    os.utime(folder, ns=(1, 1))
    assert Layout(config, "cpu", workdir=str(tmp_path / "project")).data_cache == first
    assert Layout(config, "cpu", workdir=str(tmp_path / "nowhere")).data_cache == first  # the path alone
    assert Layout(imagefolder_config("other"), "cpu", workdir=str(tmp_path / "project")).data_cache != first


def test_a_project_that_moves_keeps_its_keys(tmp_path):
    for project in ("here", "there"):
        archive = tmp_path / project / "images.tar.gz"
        archive.parent.mkdir()
        archive.write_bytes(b"the same archive")
        os.utime(archive, ns=(10**18, 10**18))
    config = imagefolder_config("images.tar.gz")
    here, there = (keyed_places(Layout(config, "cpu", workdir=str(tmp_path / name))) for name in ("here", "there"))
    assert here == there


def test_the_data_file_is_read_from_the_working_directory(tmp_path):
    (tmp_path / "images.tar.gz").write_bytes(b"archive")
    config = imagefolder_config("images.tar.gz")
    found = Layout(config, "cpu", workdir=str(tmp_path)).data_cache
    assert Layout(config, "cpu", workdir=str(tmp_path / "nowhere")).data_cache != found


def test_cifar10_reads_no_outside_file(tmp_path):
    (tmp_path / "download").write_bytes(b"not read")
    config = effective({"data": {"path": "download"}})
    first = Layout(config, "cpu", workdir=str(tmp_path)).data_cache
    (tmp_path / "download").write_bytes(b"something longer, still not read")
    assert Layout(config, "cpu", workdir=str(tmp_path)).data_cache == first


def vgg_files(tmp_path: Path) -> dict:
    """A config with a VGG16 weights file and two photos in ``tmp_path`` (their contents are never read here)."""
    for name in ("vgg16.pth", "a.png", "b.png"):
        (tmp_path / name).write_bytes(b"contents")
    return effective({"vgg": {"weights": "vgg16.pth", "photos": ["a.png", "b.png"]}})


def test_a_new_vgg16_weights_file_makes_a_new_vgg16_file_only(tmp_path):
    config = vgg_files(tmp_path)
    first = keyed_places(Layout(config, "cpu", workdir=str(tmp_path)))
    old = os.stat(tmp_path / "vgg16.pth").st_mtime_ns
    (tmp_path / "vgg16.pth").write_bytes(b"other weights")
    os.utime(tmp_path / "vgg16.pth", ns=(old, old))
    second = keyed_places(Layout(config, "cpu", workdir=str(tmp_path)))
    assert {name for name in first if first[name] != second[name]} == {"vgg", "notebook depth", "report"}


def test_a_touched_photo_makes_a_new_vgg16_file(tmp_path):
    config = vgg_files(tmp_path)
    first = Layout(config, "cpu", workdir=str(tmp_path)).vgg_file
    old = os.stat(tmp_path / "b.png").st_mtime_ns
    os.utime(tmp_path / "b.png", ns=(old + 10**9, old + 10**9))
    assert Layout(config, "cpu", workdir=str(tmp_path)).vgg_file != first


def test_named_weights_are_no_file(tmp_path):
    (tmp_path / "imagenet").write_bytes(b"a file that happens to share the name")
    config = effective({"vgg": {"weights": "imagenet"}})
    first = Layout(config, "cpu", workdir=str(tmp_path)).vgg_file
    (tmp_path / "imagenet").write_bytes(b"rewritten with another size")
    assert Layout(config, "cpu", workdir=str(tmp_path)).vgg_file == first
    assert Layout(effective({"vgg": {"weights": "none"}}), "cpu", workdir=str(tmp_path)).vgg_file != first


# ---- run_device: the kind of device in a run's key ----


@pytest.mark.parametrize(("setting", "kind"), [("cpu", "cpu"), ("cuda", "cuda"), ("cuda:1", "cuda")])
def test_a_device_setting_is_keyed_by_its_kind(setting, kind, monkeypatch):
    monkeypatch.setenv(AUTO_DEVICE, "cuda" if kind == "cpu" else "cpu")  # the pin is for auto only
    assert run_device(setting) == kind


def test_auto_is_keyed_by_the_pinned_answer_whatever_this_machine_has(monkeypatch):
    monkeypatch.setenv(AUTO_DEVICE, "cuda")
    monkeypatch.setattr(config_module, "resolved_device", lambda _setting: "cpu")
    assert run_device("auto") == "cuda"


def test_auto_without_a_pin_is_what_this_machine_resolves_and_pins_it(unpinned, monkeypatch):
    monkeypatch.setattr(config_module, "resolved_device", lambda setting: "cuda" if setting == "auto" else setting)
    assert run_device("auto") == "cuda"
    assert os.environ[AUTO_DEVICE] == "cuda"
    monkeypatch.setattr(config_module, "resolved_device", lambda _setting: "cpu")
    assert run_device("auto") == "cuda"  # planned once: the jobs inherit the answer


@pytest.mark.parametrize("stale", ["", "gpu", "cuda:0"])
def test_a_pin_that_run_device_did_not_write_is_resolved_again(stale, monkeypatch):
    monkeypatch.setenv(AUTO_DEVICE, stale)
    monkeypatch.setattr(config_module, "resolved_device", lambda _setting: "cpu")
    assert run_device("auto") == "cpu" and os.environ[AUTO_DEVICE] == "cpu"


# ---- check_key ----


def test_check_key_returns_the_key_of_this_config():
    assert check_key("0123456789", "0123456789", "feature_maps-plain") == "0123456789"


def test_check_key_refuses_another_configs_key_naming_both_and_what_to_run():
    with pytest.raises(CnnlensError) as raised:
        check_key("0123456789", "abcdefabcd", "feature_maps-plain")
    message = str(raised.value)
    assert all(token in message for token in ("feature_maps-plain", "0123456789", "abcdefabcd", "snakemake"))
    assert "\n" not in message


# ---- publish_files ----


def sources(tmp_path: Path, *texts: str) -> list[Path]:
    made = []
    for index, text in enumerate(texts):
        path = tmp_path / "made" / f"file{index}.html"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        made.append(path)
    return made


def test_publishing_replaces_the_old_files_with_the_new(tmp_path):
    published = tmp_path / "report"
    published.mkdir()
    (published / "report.html").write_text("OLD-REPORT")
    made = sources(tmp_path, "NEW-REPORT", "NEW-CONFIG")
    targets = [published / "report.html", published / "config.yaml"]
    publish_files(made, targets)
    assert [target.read_text() for target in targets] == ["NEW-REPORT", "NEW-CONFIG"]
    assert sorted(os.listdir(published)) == ["config.yaml", "report.html"]  # no temporary file left


def test_a_published_file_is_a_copy_so_that_touching_it_leaves_the_source_alone(tmp_path):
    """Snakemake touches the publish job's outputs: through a hard link the report would turn newer than its PDF."""
    (made,) = sources(tmp_path, "a report")
    os.utime(made, ns=(1_000_000_000, 1_000_000_000))
    target = tmp_path / "report" / "report.html"
    publish_files([made], [target])
    target.touch()
    assert target.read_text() == "a report" and os.stat(made).st_mtime_ns == 1_000_000_000


def test_a_source_rewritten_atomically_later_leaves_the_published_file(tmp_path):
    (made,) = sources(tmp_path, "FIRST-REPORT")
    target = tmp_path / "report" / "report.html"
    publish_files([made], [target])
    replacement = made.with_name("replacement")
    replacement.write_text("SECOND-REPORT")
    os.replace(replacement, made)
    assert target.read_text() == "FIRST-REPORT"


def test_publishing_a_different_number_of_files_and_places_is_refused(tmp_path):
    made = sources(tmp_path, "one", "two")
    with pytest.raises(ValueError, match=r"^\D*2\D+1\D*$"):  # the files, then the places
        publish_files(made, [tmp_path / "report" / "report.html"])
    assert not (tmp_path / "report").exists()


# ---- cnnlens where ----


@pytest.fixture
def published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Layout:
    """A project folder whose last report's config (two seeds) lies in results/config.yaml, as the working directory;
    the layout of that config computed here, not through planned_layout."""
    config = effective({"seeds": [0, 1]})
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "config.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(AUTO_DEVICE, "cpu")
    return Layout(effective({"seeds": [0, 1]}), "cpu")


def where(capsys, *names: str) -> str:
    main(["where", *names])
    printed = capsys.readouterr()
    assert printed.err == ""
    return printed.out


def test_where_names_a_run_folder_of_the_published_config(published, capsys):
    assert where(capsys, "run", "plain", "0") == published.run_dir("plain", 0) + "\n"
    assert where(capsys, "run", "attention", "1") == published.run_dir("attention", 1) + "\n"
    assert planned_layout(["results/config.yaml"]).run_dir("plain", 0) == published.run_dir("plain", 0)


def test_where_merges_the_config_files_it_is_given_in_order(published, tmp_path, capsys):
    (tmp_path / "short.yaml").write_text("train: {epochs: 3}\n")
    (tmp_path / "shorter.yaml").write_text("train: {epochs: 2}\nseeds: [0]\n")
    shorter = Layout(effective({"train": {"epochs": 2}}), "cpu").run_dir("plain", 0)
    assert where(capsys, "run", "plain", "0", "--config", "results/config.yaml", "short.yaml", "shorter.yaml") == (
        shorter + "\n"
    )
    assert where(capsys, "run", "plain", "1", "--config", "results/config.yaml", "short.yaml") == (
        Layout(effective({"seeds": [0, 1], "train": {"epochs": 3}}), "cpu").run_dir("plain", 1) + "\n"
    )


def test_where_names_analyses_data_notebooks_and_the_report(published, capsys):
    assert (
        where(capsys, "analysis", "activations", "plain", "0")
        == published.analysis_file("activations", "plain", 0) + "\n"
    )
    assert where(capsys, "data") == published.data_cache + "\n"
    assert where(capsys, "notebook", "explain-plain") == published.notebook_file("explain-plain") + "\n"
    assert where(capsys, "report") == published.report_dir + "\n"


def test_where_names_the_run_of_the_device_auto_was_pinned_to(published, capsys, monkeypatch):
    monkeypatch.setenv(AUTO_DEVICE, "cuda")
    assert where(capsys, "run", "plain", "0") == Layout(published.config, "cuda").run_dir("plain", 0) + "\n"


def parameters(printed: str) -> dict[str, object]:
    lines = printed.splitlines()
    assert all(" = " in line for line in lines), printed
    return {name: ast.literal_eval(value) for name, value in (line.split(" = ", 1) for line in lines)}


def test_where_parameters_gives_a_notebooks_cell_with_files_relative_to_notebooks(published, capsys):
    printed = where(capsys, "parameters", "explain-plain")
    assert "language = 'en'" in printed.splitlines()
    values = parameters(printed)
    assert values == {
        "activations": os.path.relpath(published.analysis_file("activations", "plain", 0), "notebooks"),
        "explain": os.path.relpath(published.analysis_file("explain", "plain", 0), "notebooks"),
        "language": "en",
    }
    assert values["explain"].startswith("../results/analysis/plain-seed0/")
    assert os.path.normpath(os.path.join("notebooks", values["explain"])) == published.analysis_file(
        "explain", "plain", 0
    )


def test_where_parameters_gives_the_run_folders_and_settings_of_a_whole_run_section(published, capsys):
    values = parameters(where(capsys, "parameters", "comparison"))
    assert values["runs"] == [f"../{published.run_dir(model, seed)}" for model, seed in published.runs()]
    assert values["comparison"] == f"../{published.comparison_dir}"
    assert (values["baseline"], values["alpha"], values["language"]) == ("plain", 0.05, "en")


def refusal(capsys, *names: str) -> str:
    """What `cnnlens where` says when it refuses ``names``: one line on stderr after the step's name, nothing on
    stdout, exit status 2."""
    with pytest.raises(SystemExit) as exited:
        main(["where", *names])
    printed = capsys.readouterr()
    assert exited.value.code == 2
    assert printed.out == ""
    assert printed.err.startswith("cnnlens where:")
    assert printed.err.strip().count("\n") == 0
    return printed.err.strip()


@pytest.mark.parametrize(
    ("names", "wanted"),
    [(["run", "plain"], "MODEL SEED"), (["data", "plain"], ""), (["analysis", "plain", "0"], "NAME MODEL SEED")],
)
def test_where_refuses_a_wrong_number_of_names_saying_which_it_takes(names, wanted, published, capsys):
    message = refusal(capsys, *names)
    assert f"where {names[0]}" in message and wanted in message
    assert re.findall(r"\d+", message) == [str(len(names) - 1)]  # how many it got


@pytest.mark.parametrize(
    "names",
    [
        ["run", "resnet", "0"],
        ["run", "plain", "first"],
        ["analysis", "explain", "plain", "2"],
        ["analysis", "explain", "plain", "1"],  # explained on the representative seed only
        ["analysis", "attention", "plain", "0"],  # the attention analysis is of attention models only
    ],
)
def test_where_refuses_a_run_the_config_does_not_make_naming_those_it_makes(names, published, capsys):
    message = refusal(capsys, *names)
    analysis = names[1:-2]
    made = published.analysis_runs(analysis[0]) if analysis else published.runs()
    assert " ".join(names[1:]) in message and "results/config.yaml" in message
    makes = message.partition("results/config.yaml")[2]  # what it names after the config
    assert re.findall(r"([\w-]+) (\d+)", makes) == [(model, str(seed)) for model, seed in made]


@pytest.mark.parametrize(
    "names", [["notebook", "attention-plain"], ["parameters", "explain-resnet"], ["notebook", "nothing"]]
)
def test_where_refuses_a_notebook_the_config_does_not_make_naming_those_it_makes(names, published, capsys):
    message = refusal(capsys, *names)
    assert names[1] in message and "results/config.yaml" in message
    assert message.endswith(", ".join(published.executed))


def test_where_refuses_an_unknown_analysis_naming_the_analyses(published, capsys):
    message = refusal(capsys, "analysis", "nothing", "plain", "0")
    assert "nothing" in message and message.endswith(", ".join(ANALYSES))


def test_where_with_a_config_that_does_not_exist_says_to_run_snakemake(published, capsys):
    message = refusal(capsys, "data", "--config", "elsewhere/config.yaml")
    assert "elsewhere/config.yaml" in message and "snakemake" in message


def test_where_without_a_published_report_says_to_run_snakemake(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = refusal(capsys, "run", "plain", "0")
    assert "results/config.yaml" in message and "snakemake" in message


@pytest.mark.parametrize("device", ["auto", "cuda:1", "cpu"])
def test_an_analysis_on_the_training_device_runs_where_training_does_and_the_others_on_the_cpu(device):
    layout = Layout(effective({"train": {"device": device}}), "cpu")
    on_device = [name for name, analysis in ANALYSES.items() if analysis.on_training_device]
    assert on_device == ["similarity"]
    assert layout.analysis_device("similarity") == device  # as written: the job resolves auto
    assert {layout.analysis_device(name) for name in ANALYSES if name not in on_device} == {"cpu"}
