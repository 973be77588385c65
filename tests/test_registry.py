"""The registry of analyses and sections: what the workflow, the CLI and the report derive from it."""

import inspect
import subprocess
import sys

import pytest

from cnnlens.artifacts import RunArtifact
from cnnlens.cli import parser
from cnnlens.config import validate_config
from cnnlens.errors import CnnlensError
from cnnlens.registry import (
    ANALYSES,
    EVERY_SECTION_SETTINGS,
    SECTIONS,
    WHOLE_RUN_INPUTS,
    executed_title,
    report_sections,
    section_of,
    section_title,
    setting_path,
    setting_values,
)
from cnnlens.texts import text

from helpers import SCHEMA


def test_every_analysis_names_a_step_that_takes_exactly_its_settings_and_a_run_artifact():
    for analysis in ANALYSES.values():
        keywords = [
            parameter.name
            for parameter in inspect.signature(analysis.step_function()).parameters.values()
            if parameter.kind is parameter.KEYWORD_ONLY and parameter.default is parameter.empty
        ]
        assert keywords == [key for _, key in map(setting_path, analysis.settings)], analysis.name
        assert issubclass(analysis.artifact_type(), RunArtifact), analysis.name


def test_planning_imports_neither_torch_nor_a_step():
    """The Snakefile imports the registry: a dry run must not pay for torch."""
    loaded = "import sys, cnnlens.registry; print('torch' in sys.modules, 'cnnlens.interpret.steps' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", loaded], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_the_clis_analyses_are_the_registrys(capsys):
    options = ["--data", "d", "--model", "m", "--checkpoint", "c", "--out", "o"]
    assert [parser().parse_args(["analyse", name, *options]).analysis for name in ANALYSES] == list(ANALYSES)
    with pytest.raises(SystemExit):
        parser().parse_args(["analyse", "summary", *options])
    assert str(tuple(ANALYSES)).strip("()") in capsys.readouterr().err  # the choices it names


def test_settings_are_config_keys_with_defaults_and_sections_read_what_exists():
    defaults = validate_config({}, SCHEMA)
    for entry in (*ANALYSES.values(), *SECTIONS):
        assert all(key in defaults[part] for part, key in map(setting_path, entry.settings)), entry
    for section in SECTIONS:
        assert set(section.reads) <= set(ANALYSES) | set(WHOLE_RUN_INPUTS), section


def test_report_sections_follow_the_registry_in_reading_order_each_model_in_the_configs_order():
    models, attention = ["se", "plain", "cbam"], ["se", "cbam"]
    expected = []
    for section in SECTIONS:
        if not section.per_model:
            expected.append(section.notebook)
            continue
        shown = [model for model in models if model in attention or not section.attention_only]
        expected += [f"{section.notebook}-{model}" for model in shown]
    assert report_sections(models, attention) == expected
    assert len(expected) > len(SECTIONS)  # some section is per model, and some only for attention models
    assert report_sections(["plain"], []) == [
        s.notebook + ("-plain" if s.per_model else "") for s in SECTIONS if not s.attention_only
    ]


def test_a_sections_title_is_its_text_and_a_models_notebook_names_the_model_and_seed(text_keys):
    for section in SECTIONS:
        title = section_title(section)
        assert title == text(f"section.{section.notebook}") == f"⟨section.{section.notebook}⟩"
        executed = f"{section.notebook}-se-16" if section.per_model else section.notebook
        expected = f"⟨section.per_model title={title} model=se-16 seed=3⟩" if section.per_model else title
        assert executed_title(executed, 3) == expected


def test_a_setting_is_a_visualise_key_or_names_its_config_section():
    assert setting_path("channels") == ("visualise", "channels")
    assert setting_path("compare.alpha") == ("compare", "alpha")
    config = {"visualise": {"channels": 4, "seed": 0}, "compare": {"alpha": 0.05}}
    assert setting_values(["compare.alpha", "channels"], config) == {"alpha": 0.05, "channels": 4}


def test_every_executed_notebook_names_its_section_whatever_the_model_is_called():
    assert all("-" not in section.notebook for section in SECTIONS)
    for section in SECTIONS:
        for executed in (
            (f"{section.notebook}-se-16", f"{section.notebook}-plain") if section.per_model else [section.notebook]
        ):
            assert section_of(executed) is section


def test_no_two_settings_of_a_job_share_a_key():
    """Settings reach a step or notebook by key alone: `images` and `faithfulness.images` would collide."""
    jobs = [analysis.settings for analysis in ANALYSES.values()]
    jobs += [(*section.settings, *EVERY_SECTION_SETTINGS) for section in SECTIONS]
    for settings in jobs:
        keys = [key for _, key in map(setting_path, settings)]
        assert len(keys) == len(set(keys)), settings


def test_a_notebook_of_no_section_is_a_one_line_error():
    with pytest.raises(CnnlensError) as raised:
        section_of("summary")
    assert str(raised.value).startswith("summary ") and str([s.notebook for s in SECTIONS]) in str(raised.value)
