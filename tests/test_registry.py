"""The registry of analyses and sections: what the workflow, the CLI and the report derive from it."""

import inspect

import pytest

from cnnlens.config import validate_config
from cnnlens.errors import CnnlensError
from cnnlens.interpret.steps import STEPS
from cnnlens.registry import (
    ANALYSES,
    EVERY_SECTION_SETTINGS,
    SECTIONS,
    WHOLE_RUN_INPUTS,
    executed_title,
    report_sections,
    section_of,
    setting_path,
    setting_values,
)

from helpers import SCHEMA


def test_every_analysis_has_a_step_that_takes_exactly_its_settings():
    assert set(STEPS) == set(ANALYSES)
    for name, analysis in ANALYSES.items():
        step, _ = STEPS[name]
        keywords = [
            parameter.name
            for parameter in inspect.signature(step).parameters.values()
            if parameter.kind is parameter.KEYWORD_ONLY and parameter.default is parameter.empty
        ]
        assert keywords == [key for _, key in map(setting_path, analysis.settings)], name


def test_settings_are_config_keys_with_defaults_and_sections_read_what_exists():
    defaults = validate_config({}, SCHEMA)
    for entry in (*ANALYSES.values(), *SECTIONS):
        assert all(key in defaults[part] for part, key in map(setting_path, entry.settings)), entry
    for section in SECTIONS:
        assert set(section.reads) <= set(ANALYSES) | set(WHOLE_RUN_INPUTS), section


def test_report_sections_in_reading_order_with_their_titles():
    titles = [executed_title(name, 3) for name in report_sections(["plain", "se"], ["se"])]
    assert titles == [
        "Comparison",
        "Training",
        "Feature maps: plain CNN (seed 3)",
        "Feature maps: se CNN (seed 3)",
        "Channel attention: se CNN (seed 3)",
        "Grad-CAM and deconvnet: plain CNN (seed 3)",
        "Grad-CAM and deconvnet: se CNN (seed 3)",
        "VGG16 and the trained CNNs by depth",
        "How faithful are the heatmaps?",
    ]
    assert report_sections(["plain"], []) == [
        "comparison",
        "training",
        "feature_maps-plain",
        "explain-plain",
        "depth",
        "faithfulness",
    ]


def test_a_setting_is_a_visualise_key_or_names_its_config_section():
    assert setting_path("channels") == ("visualise", "channels")
    assert setting_path("compare.alpha") == ("compare", "alpha")
    config = {"visualise": {"channels": 4, "seed": 0}, "compare": {"alpha": 0.05}}
    assert setting_values(["compare.alpha", "channels"], config) == {"alpha": 0.05, "channels": 4}


def test_every_executed_notebook_names_its_section_whatever_the_model_is_called():
    assert all("-" not in section.notebook for section in SECTIONS)
    executed = report_sections(["plain", "se-16"], ["se-16"])
    assert [section_of(name).notebook for name in executed] == [
        "comparison",
        "training",
        "feature_maps",
        "feature_maps",
        "attention",
        "explain",
        "explain",
        "depth",
        "faithfulness",
    ]


def test_no_two_settings_of_a_job_share_a_key():
    """Settings reach a step or notebook by key alone: `images` and `faithfulness.images` would collide."""
    jobs = [analysis.settings for analysis in ANALYSES.values()]
    jobs += [(*section.settings, *EVERY_SECTION_SETTINGS) for section in SECTIONS]
    for settings in jobs:
        keys = [key for _, key in map(setting_path, settings)]
        assert len(keys) == len(set(keys)), settings


def test_a_notebook_of_no_section_is_a_one_line_error():
    with pytest.raises(CnnlensError, match="summary is not a report section's notebook: name one of"):
        section_of("summary")
