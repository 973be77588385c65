"""The sanity checks in words, on constructed curves: each model's verdict from its own rows, and which sentence
each outcome gets with which numbers (texts rendered as their keys and fields)."""

import re

import pandas as pd
import pytest

from cnnlens.reporting.sanity_verdict import sanity_paragraphs, sanity_sentence, sanity_verdicts

from helpers import texts_said

STEP_NAMES = ["fc2", "fc2+fc1", "fc2+fc1+block3", "fc2+fc1+block3+block2", "fc2+fc1+block3+block2+block1"]
USES = {
    "gradcam": [True] * 5,
    "channels": [False, False, True, True, True],
    "deconvnet": [False, False, True, True, True],
    "spatial_attention": [False, False, False, True, True],
    "random": [False] * 5,
    "gaussian": [False] * 5,
}


def curves(model: str, spearman: dict[str, list[float]], flat: int = 0, images: int = 20) -> list[dict]:
    """A model's pooled sanity rows (fixed target), one per method and step; ``flat`` maps at the last step."""
    return [
        {
            "model": model,
            "method": method,
            "target": "fixed",
            "step": step,
            "randomised": STEP_NAMES[step - 1],
            "uses": USES[method][step - 1],
            "spearman": value,
            "ssim": value,
            "flat_maps": flat if step == 5 else 0,
            "images": images,
        }
        for method, values in spearman.items()
        for step, value in enumerate(values, start=1)
    ]


def references(model: str, spearman: dict[str, float]) -> list[dict]:
    return [{"model": model, "method": method, "spearman": value, "ssim": 0.0} for method, value in spearman.items()]


def said(sentence: str) -> dict[str, dict[str, str]]:
    """The texts of a sentence rendered under ``text_keys``, by key (each key once here)."""
    return dict(texts_said(sentence))


def listed(field: str) -> list[str]:
    """The items of a field built by ``listing`` (its separators are texts of their own: ``fc2#3fc1``)."""
    return re.split(r"#\d+", field)


def test_each_models_verdict_reads_its_own_curves_and_reference():
    steps = pd.DataFrame(
        curves("plain", {"deconvnet": [1, 1, 0.8, 0.75, 0.7], "random": [1] * 5})
        + curves("se", {"deconvnet": [1, 1, 0.6, 0.4, 0.3], "random": [1] * 5})
        + curves("cbam", {"deconvnet": [1, 1, 0.9, 0.8, 0.7], "random": [1] * 5})
    )
    reference = pd.DataFrame(
        references("se", {"deconvnet": 0.1, "random": 0.0})  # in another order than the steps
        + references("plain", {"deconvnet": 0.2, "random": 0.0})
        + references("cbam", {"deconvnet": 0.6, "random": 0.0})
    )
    verdicts = sanity_verdicts(steps, reference, 0.5)
    assert list(verdicts.columns[:2]) == ["model", "method"]
    assert list(zip(verdicts["model"], verdicts["method"], verdicts["outcome"], strict=True)) == [
        ("plain", "deconvnet", "fails"),
        ("plain", "random", "ignores_model"),
        ("se", "deconvnet", "passes"),
        ("se", "random", "ignores_model"),
        ("cbam", "deconvnet", "inconclusive"),
        ("cbam", "random", "ignores_model"),
    ]
    deconvnet = verdicts[verdicts["method"] == "deconvnet"].set_index("model")
    assert deconvnet["reference"].to_dict() == {"plain": 0.2, "se": 0.1, "cbam": 0.6}
    assert deconvnet["end_spearman"].to_dict() == {"plain": 0.7, "se": 0.3, "cbam": 0.7}
    assert deconvnet.loc["se", "drops_at"] == 4 and (verdicts["threshold"] == 0.5).all()


def verdict_and_steps(
    method: str, spearman: list[float], reference: float, threshold: float = 0.5, flat: int = 0
) -> tuple[pd.Series, pd.DataFrame]:
    steps = pd.DataFrame(curves("se", {method: spearman}, flat=flat, images=24))
    verdicts = sanity_verdicts(steps, pd.DataFrame(references("se", {method: reference})), threshold)
    return verdicts.iloc[0], steps


@pytest.mark.parametrize(
    ("method", "spearman", "reference", "outcome"),
    [
        ("gradcam", [0.7, 0.6, 0.4, 0.3, 0.2345], 0.1234, "passes"),
        ("gradcam", [0.9, 0.8, 0.7, 0.6, 0.5678], 0.1234, "fails"),
        ("gradcam", [0.9, 0.8, 0.7, 0.6, 0.5678], 0.6543, "inconclusive"),
        ("random", [1.0] * 5, 0.0, "ignores_model"),
    ],
)
def test_the_sentence_is_the_outcomes_with_the_methods_numbers(text_keys, method, spearman, reference, outcome):
    verdict, steps = verdict_and_steps(method, spearman, reference, threshold=0.45, flat=3)
    assert verdict["outcome"] == outcome
    texts = said(sanity_sentence(verdict, steps))
    fields = texts[f"faithfulness.sanity_{outcome}"]
    assert fields["method"] == f"#{list(texts).index(f'faithfulness.subject_{method}')}"
    assert fields["end"] == f"{spearman[-1]:.2f}" and fields["reference"] == f"{reference:.2f}"
    assert fields["threshold"] == "0.45" and fields["flat"] == "3" and fields["images"] == "24"
    assert "faithfulness.sanity_unused" not in texts  # Grad-CAM reads every layer, the random map none
    assert [key for key in texts if key.startswith("faithfulness.sanity_")] == [f"faithfulness.sanity_{outcome}"]


@pytest.mark.parametrize(
    ("method", "outcome", "spearman", "reference", "unused", "first"),
    [
        ("deconvnet", "fails", [1.0, 1.0, 0.9, 0.8, 0.7], 0.1, ["fc2", "fc1"], "block3"),
        ("channels", "passes", [1.0, 1.0, 0.6, 0.4, 0.3], 0.1, ["fc2", "fc1"], "block3"),
        ("spatial_attention", "inconclusive", [1.0, 1.0, 0.97, 0.8, 0.75], 0.7, ["fc2", "fc1", "block3"], "block2"),
    ],
)
def test_a_method_blind_to_the_top_layers_is_told_which_it_never_reads_and_where_it_first_changes(
    text_keys, method, outcome, spearman, reference, unused, first
):
    verdict, steps = verdict_and_steps(method, spearman, reference)
    assert verdict["outcome"] == outcome
    texts = said(sanity_sentence(verdict, steps))
    fields = texts["faithfulness.sanity_unused"]
    assert listed(fields["layers"]) == unused and fields["first"] == first
    assert fields["spearman"] == f"{min(spearman[: len(unused)]):.2f}"
    assert list(texts).index(f"faithfulness.sanity_{outcome}") < list(texts).index("faithfulness.sanity_unused")


def test_the_paragraphs_give_each_model_its_name_and_a_sentence_per_method_in_order(text_keys):
    steps = pd.DataFrame(
        curves("plain", {"gradcam": [0.4] * 5, "deconvnet": [1, 1, 0.8, 0.75, 0.7], "gaussian": [1] * 5}, images=20)
        + curves("se", {"gradcam": [0.9] * 5, "deconvnet": [1, 1, 0.3, 0.2, 0.1], "gaussian": [1] * 5}, images=30)
    )
    reference = pd.DataFrame(
        references("plain", {"gradcam": 0.1, "deconvnet": 0.1, "gaussian": 1.0})
        + references("se", {"gradcam": 0.1, "deconvnet": 0.1, "gaussian": 1.0})
    )
    plain, se = sanity_paragraphs(sanity_verdicts(steps, reference, 0.5), steps)
    for paragraph, model, outcomes, images in (
        (plain, "plain", ["passes", "fails", "ignores_model"], "20"),
        (se, "se", ["fails", "passes", "ignores_model"], "30"),
    ):
        texts = texts_said(paragraph)
        assert texts[0] == ("faithfulness.sanity_model", {"model": model})
        verdicts = [(key, fields) for key, fields in texts if key.removeprefix("faithfulness.sanity_") in outcomes]
        assert [key for key, _ in verdicts] == [f"faithfulness.sanity_{outcome}" for outcome in outcomes]
        assert all(fields["model"] == model and fields["images"] == images for _, fields in verdicts)
        methods = [
            key.removeprefix("faithfulness.subject_") for key, _ in texts if key.startswith("faithfulness.subject_")
        ]
        assert methods == ["gradcam", "deconvnet", "gaussian"]
    assert dict(texts_said(plain))["faithfulness.sanity_fails"]["end"] == "0.70"
    assert dict(texts_said(se))["faithfulness.sanity_passes"]["end"] == "0.10"
