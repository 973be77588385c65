"""The registry of analyses and sections: what the workflow, the CLI and the report derive from it."""

import inspect

from cnnlens.interpret.steps import STEPS
from cnnlens.registry import ANALYSES, SECTIONS, WHOLE_RUN_INPUTS, report_sections

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
        assert keywords == list(analysis.settings), name


def test_settings_are_visualise_keys_and_sections_read_what_exists():
    visualise = SCHEMA.read_text().split("  visualise:")[1].split("\n  vgg:")[0]
    for entry in [*ANALYSES.values(), *SECTIONS]:
        assert all(f"      {key}:" in visualise for key in entry.settings), entry
    for section in SECTIONS:
        assert set(section.reads) <= set(ANALYSES) | set(WHOLE_RUN_INPUTS), section


def test_report_sections_in_reading_order():
    titles = [title for title, _ in report_sections(["plain", "se"], ["se"], 3)]
    assert titles == [
        "Comparison",
        "Training",
        "Feature maps: plain CNN (seed 3)",
        "Feature maps: se CNN (seed 3)",
        "Channel attention: se CNN (seed 3)",
        "Grad-CAM and deconvnet: plain CNN (seed 3)",
        "Grad-CAM and deconvnet: se CNN (seed 3)",
        "VGG16 and the trained CNNs by depth",
    ]
    assert [name for _, name in report_sections(["plain"], [], 0)] == [
        "comparison",
        "training",
        "feature_maps-plain",
        "explain-plain",
        "depth",
    ]
