"""Cascading randomisation (Adebayo et al. 2018): the cascade, the similarity measures, the fixed target, which steps
reach a method's layers, the reference of unrelated images, and the verdict read from a curve."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from skimage.metrics import structural_similarity
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret.heatmap_methods import gradcam_heatmap, heatmaps
from cnnlens.interpret.sanity import (
    cascading_randomisation,
    randomisation_steps,
    randomise,
    sanity_verdict,
    spearman_per_image,
    ssim_per_image,
    unrelated_similarity,
)
from cnnlens.models.cnn import Architecture, build_model

from helpers import with_trained_batchnorm

STEP_NAMES = ["fc2", "fc2+fc1", "fc2+fc1+block3", "fc2+fc1+block3+block2", "fc2+fc1+block3+block2+block1"]


def trained_looking(architecture: str | Architecture = "attention") -> nn.Module:
    """Random weights with BatchNorm statistics and affine parameters far from their initial values."""
    torch.manual_seed(0)
    model = build_model(architecture)
    return with_trained_batchnorm(model)


# ---- the cascade and the re-initialisation ----


def test_the_cascade_goes_from_the_classifier_down_with_attention_and_batchnorm_in_their_block():
    assert randomisation_steps(build_model("plain")) == [
        ("fc2", ("fc2",)),
        ("fc1", ("fc1",)),
        ("block3", ("conv3", "bn3")),
        ("block2", ("conv2", "bn2")),
        ("block1", ("conv1", "bn1")),
    ]
    cbam = build_model(Architecture(attention="cbam", blocks=(2,)))
    assert [modules for _, modules in randomisation_steps(cbam)][2:] == [
        ("conv3", "bn3"),
        ("conv2", "bn2", "ca2"),
        ("conv1", "bn1"),
    ]


def test_randomise_reinitialises_exactly_the_named_modules_seeded_and_leaves_the_global_rng_alone():
    model = trained_looking()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    rng = torch.random.get_rng_state()
    randomise(model, ("conv3", "bn3", "ca3"), seed=7)
    assert torch.equal(torch.random.get_rng_state(), rng)
    changed = {name for name, tensor in model.state_dict().items() if not torch.equal(before[name], tensor)}
    assert changed == {
        "conv3.weight",
        "conv3.bias",
        "bn3.weight",
        "bn3.bias",
        "bn3.running_mean",
        "bn3.running_var",
        "ca3.excite.0.weight",
        "ca3.excite.2.weight",
    }
    state = model.state_dict()
    assert torch.equal(state["bn3.weight"], torch.ones(128)) and torch.equal(state["bn3.running_var"], torch.ones(128))
    again = trained_looking()
    randomise(again, ("conv3", "bn3", "ca3"), seed=7)
    assert torch.equal(again.state_dict()["conv3.weight"], state["conv3.weight"])
    other = trained_looking()
    randomise(other, ("conv3", "bn3", "ca3"), seed=8)
    assert not torch.equal(other.state_dict()["conv3.weight"], state["conv3.weight"])


# ---- the similarity measures ----


def test_spearman_per_image_is_scipys_with_ties_and_nan_for_a_flat_map():
    torch.manual_seed(0)
    first = torch.rand(4, 7, 9).round(decimals=1)  # many ties
    second = first + 0.3 * torch.rand(4, 7, 9)
    second[3] = 0.5
    result = spearman_per_image(first, second)
    for index in range(3):
        expected = stats.spearmanr(first[index].flatten(), second[index].flatten()).statistic
        assert result[index].item() == pytest.approx(expected)
    assert torch.isnan(result[3])
    assert spearman_per_image(first, first)[:3].tolist() == pytest.approx([1.0] * 3)


def test_ssim_per_image_is_skimages_with_data_range_one():
    torch.manual_seed(0)
    first, second = torch.rand(3, 12, 16), torch.rand(3, 12, 16)
    second[0] = first[0]
    result = ssim_per_image(first, second)
    for index in range(3):
        expected = structural_similarity(
            first[index].double().numpy(), second[index].double().numpy(), win_size=7, data_range=1.0
        )
        assert result[index].item() == pytest.approx(expected)
    assert result[0].item() == pytest.approx(1.0) and (result[1:] < 0.5).all()


def test_the_reference_pairs_each_image_with_the_next_as_scipy_and_skimage_measure_them_a_flat_map_counting_0():
    torch.manual_seed(0)
    maps = torch.rand(4, 9, 9).round(decimals=1)
    maps[2] = 0.0  # flat: its two pairs have no rank correlation and count as 0
    spearmans, ssims = [], []
    for index in range(4):
        first, second = maps[index].double().numpy(), maps[(index + 1) % 4].double().numpy()
        flat = first.min() == first.max() or second.min() == second.max()
        spearmans.append(0.0 if flat else stats.spearmanr(first.ravel(), second.ravel()).statistic)
        ssims.append(structural_similarity(first, second, win_size=7, data_range=1.0))
    assert spearmans.count(0.0) == 2
    reference = unrelated_similarity({"gradcam": maps, "gaussian": torch.ones(4, 9, 9) * maps[0]}).set_index("method")
    assert reference.loc["gradcam", "spearman"] == pytest.approx(np.mean(spearmans))
    assert reference.loc["gradcam", "ssim"] == pytest.approx(np.mean(ssims))
    assert reference.loc["gaussian", "spearman"] == pytest.approx(1.0)  # the same map for every image
    assert (reference["images"] == 4).all()


def test_the_reference_of_one_image_is_unknown():
    reference = unrelated_similarity({"gradcam": torch.rand(1, 8, 8)})
    assert np.isnan(reference.loc[0, "spearman"]) and np.isnan(reference.loc[0, "ssim"])
    assert reference.loc[0, "images"] == 1


# ---- a cascade run ----


@pytest.fixture(scope="module")
def cascade():
    """A CBAM model with attention in block 2 only (its spatial attention stops there), six images, every method,
    every image in the gallery; the model's state is checked to be untouched."""
    model = trained_looking(Architecture(attention="cbam", blocks=(2,)))
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    torch.manual_seed(1)
    outcome = cascading_randomisation(model, torch.randn(6, 3, 32, 32), seed=3, gallery=6)
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
    return outcome


def test_every_method_is_compared_at_every_step_and_grad_cam_also_with_the_class_repredicted(cascade):
    steps = cascade.steps
    fixed = steps[steps["target"] == "fixed"]
    assert len(fixed) == 6 * 5
    assert set(fixed["method"]) == {"channels", "gradcam", "deconvnet", "spatial_attention", "random", "gaussian"}
    repredicted = steps[steps["target"] == "repredicted"]
    assert list(repredicted["method"]) == ["gradcam"] * 5 and list(repredicted["step"]) == [1, 2, 3, 4, 5]
    assert len(steps) == 35
    for _, curve in steps.groupby(["method", "target"]):
        assert list(curve["randomised"]) == STEP_NAMES and list(curve["step"]) == [1, 2, 3, 4, 5]
    assert (steps["images"] == 6).all()
    assert steps["spearman"].between(-1, 1).all() and steps["ssim"].between(-1, 1).all()


def test_uses_is_false_exactly_before_the_first_layer_a_method_reads_where_its_maps_cannot_change(cascade):
    fixed = cascade.steps[cascade.steps["target"] == "fixed"]
    uses = {method: list(curve["uses"]) for method, curve in fixed.groupby("method")}
    assert uses == {
        "gradcam": [True] * 5,  # the gradient of the output: every layer
        "channels": [False, False, True, True, True],  # conv3's output: block 3 and below
        "deconvnet": [False, False, True, True, True],
        "spatial_attention": [False, False, False, True, True],  # ca2's spatial gate: block 2 and below
        "random": [False] * 5,
        "gaussian": [False] * 5,
    }
    for method, curve in fixed.groupby("method"):
        unused = curve[~curve["uses"]]
        assert (unused["spearman"] == 1.0).all() and (unused["ssim"] == 1.0).all(), method  # the very same maps
        used = curve[curve["uses"]]
        if len(used):  # the first layer it reads does change it
            assert used["spearman"].iloc[0] < 0.999, method
    repredicted = cascade.steps[cascade.steps["target"] == "repredicted"]
    assert repredicted["uses"].all()


def test_every_model_based_method_changes_once_the_whole_model_is_randomised(cascade):
    last = cascade.steps[(cascade.steps["step"] == 5) & (cascade.steps["target"] == "fixed")].set_index("method")
    for method in ("channels", "gradcam", "deconvnet", "spatial_attention"):
        assert last.loc[method, "spearman"] < 0.9, method


def test_the_reference_is_the_unrelated_similarity_of_the_trained_models_maps(cascade):
    original = {method: maps[0] for method, maps in cascade.gallery.items()}  # every image is in the gallery
    expected = unrelated_similarity(original)
    pd.testing.assert_frame_equal(cascade.reference, expected)
    assert set(expected["method"]) == set(cascade.steps["method"])


def test_after_randomisation_grad_cam_explains_the_trained_models_class_and_repredicted_rows_the_new_one():
    """Randomised by hand step by step (each step's seed is ``seed + step``): the fixed maps are Grad-CAM of the
    trained model's predicted class, the repredicted ones of the randomised model's own."""
    model = trained_looking("plain").eval()
    torch.manual_seed(2)
    images = torch.randn(8, 3, 32, 32)
    result = cascading_randomisation(model, images, ["gradcam"], seed=5, gallery=8)
    with torch.no_grad():
        predicted = model(images).argmax(1)
    original = gradcam_heatmap(model, images, target=predicted)
    torch.testing.assert_close(result.gallery["gradcam"][0], original)
    by_hand = copy.deepcopy(model)
    rows = result.steps.set_index(["target", "step"])
    changed_predictions = 0
    for step, (_, modules) in enumerate(randomisation_steps(by_hand), start=1):
        randomise(by_hand, modules, 5 + step)
        fixed = gradcam_heatmap(by_hand, images, target=predicted)
        own = gradcam_heatmap(by_hand, images)
        with torch.no_grad():
            now = by_hand(images).argmax(1)
        torch.testing.assert_close(result.gallery["gradcam"][step], fixed)
        assert rows.loc[("fixed", step), "spearman"] == pytest.approx(
            torch.nan_to_num(spearman_per_image(original, fixed), nan=0.0).mean().item()
        )
        assert rows.loc[("repredicted", step), "spearman"] == pytest.approx(
            torch.nan_to_num(spearman_per_image(original, own), nan=0.0).mean().item()
        )
        same = now == predicted
        torch.testing.assert_close(own[same], fixed[same])  # the same class, the same map
        differs = (own - fixed).abs().flatten(1).amax(1) > 1e-3
        assert differs[~same].all()  # another class, another map
        changed_predictions += int((~same).sum())
    assert changed_predictions > 0  # the randomised model does predict other classes here
    fixed_rows, repredicted_rows = rows.loc["fixed"], rows.loc["repredicted"]
    assert not np.allclose(fixed_rows["spearman"], repredicted_rows["spearman"])


def test_images_smaller_than_the_ssim_window_are_refused():
    with pytest.raises(CnnlensError, match=r"7 pixels .*SSIM"):  # the window that needs them
        cascading_randomisation(build_model("plain"), torch.randn(1, 3, 6, 32))


def test_the_gallery_holds_the_first_images_maps_at_every_step():
    torch.manual_seed(0)
    model = build_model("plain").eval()
    images = torch.randn(5, 3, 32, 32)
    result = cascading_randomisation(model, images, ["gradcam", "random"], gallery=2)
    steps = len(randomisation_steps(model))
    assert result.gallery_steps == ["original", *dict.fromkeys(result.steps["randomised"])]
    assert len(result.gallery_steps) == steps + 1
    assert result.gallery["gradcam"].shape == (steps + 1, 2, 32, 32)
    torch.testing.assert_close(result.gallery["gradcam"][0], heatmaps(model, images[:2], ["gradcam"])["gradcam"])
    assert not torch.equal(result.gallery["gradcam"][0], result.gallery["gradcam"][-1])  # the weights changed
    assert cascading_randomisation(model, images, ["random"]).gallery == {}


# ---- the verdict, read from constructed curves ----


def curve(method: str, spearman: list[float], uses: list[bool], target: str = "fixed", flat: int = 0) -> list[dict]:
    """One method's rows of a sanity table, one per step (1, 2, ...)."""
    return [
        {
            "method": method,
            "target": target,
            "step": step,
            "randomised": STEP_NAMES[step - 1],
            "uses": used,
            "spearman": value,
            "ssim": value,
            "flat_maps": flat if step == len(spearman) else 0,
            "images": 10,
        }
        for step, (value, used) in enumerate(zip(spearman, uses, strict=True), start=1)
    ]


HEAD_UNUSED = [False, False, True, True, True]  # the activation heatmap and the deconvnet
EVERY_STEP = [True] * 5  # Grad-CAM


def verdict_of(rows: list[dict], references: dict[str, float], threshold: float = 0.5) -> pd.DataFrame:
    reference = pd.DataFrame({"method": list(references), "spearman": list(references.values())})
    return sanity_verdict(pd.DataFrame(rows), reference, threshold).set_index("method")


def test_a_method_whose_maps_stop_changing_after_the_layers_it_uses_fails():
    rows = curve("deconvnet", [1.0, 1.0, 0.8, 0.75, 0.7], HEAD_UNUSED)
    verdict = verdict_of(rows, {"deconvnet": 0.1}).loc["deconvnet"]
    assert verdict["outcome"] == "fails"
    assert verdict["first_used"] == 3 and verdict["drops_at"] == 0
    assert verdict["unused_spearman"] == 1.0 and verdict["first_spearman"] == 0.8 and verdict["end_spearman"] == 0.7


def test_a_method_that_falls_below_the_threshold_passes_where_it_falls():
    rows = curve("channels", [1.0, 1.0, 0.7, 0.3, 0.2], HEAD_UNUSED, flat=2)
    rows += curve("gradcam", [0.8, 0.6, 0.4, 0.2, 0.1], EVERY_STEP)
    verdict = verdict_of(rows, {"channels": 0.1, "gradcam": 0.2})
    channels, gradcam = verdict.loc["channels"], verdict.loc["gradcam"]
    assert channels["outcome"] == "passes" and gradcam["outcome"] == "passes"
    assert channels["first_used"] == 3 and channels["drops_at"] == 4 and channels["unused_spearman"] == 1.0
    assert channels["first_spearman"] == 0.7 and channels["end_spearman"] == 0.2 and channels["flat_maps"] == 2
    assert gradcam["first_used"] == 1 and gradcam["drops_at"] == 3 and np.isnan(gradcam["unused_spearman"])
    assert gradcam["first_spearman"] == 0.8 and gradcam["reference"] == 0.2


def test_the_verdict_reads_the_end_of_the_curve_not_a_dip_before_it():
    rows = curve("gradcam", [0.9, 0.3, 0.6, 0.6, 0.55], EVERY_STEP)  # below at step 2, back above at the end
    verdict = verdict_of(rows, {"gradcam": 0.1}).loc["gradcam"]
    assert verdict["outcome"] == "fails" and verdict["drops_at"] == 2


def test_a_drop_at_a_step_the_method_does_not_read_is_not_where_it_drops():
    rows = curve("channels", [0.4, 0.4, 0.45, 0.3, 0.2], HEAD_UNUSED)  # flat maps pull the unused steps down
    verdict = verdict_of(rows, {"channels": 0.1}).loc["channels"]
    assert verdict["drops_at"] == 3 and verdict["unused_spearman"] == 0.4 and verdict["outcome"] == "passes"


def test_maps_at_the_threshold_fail_and_just_below_pass():
    at = verdict_of(curve("gradcam", [0.9, 0.8, 0.7, 0.6, 0.5], EVERY_STEP), {"gradcam": 0.1}).loc["gradcam"]
    assert at["outcome"] == "fails" and at["drops_at"] == 0
    below = verdict_of(curve("gradcam", [0.9, 0.8, 0.7, 0.6, 0.4999], EVERY_STEP), {"gradcam": 0.1})
    assert below.loc["gradcam", "outcome"] == "passes" and below.loc["gradcam", "drops_at"] == 5


def test_a_reference_at_the_threshold_makes_the_verdict_inconclusive():
    rows = curve("channels", [1.0, 1.0, 0.9, 0.8, 0.7], HEAD_UNUSED)  # would fail against a low reference
    assert verdict_of(rows, {"channels": 0.5}).loc["channels", "outcome"] == "inconclusive"
    assert verdict_of(rows, {"channels": 0.7}).loc["channels", "outcome"] == "inconclusive"
    assert verdict_of(rows, {"channels": 0.4999}).loc["channels", "outcome"] == "fails"
    assert verdict_of(rows, {"channels": 0.7}).loc["channels", "reference"] == 0.7
    falls = curve("channels", [1.0, 1.0, 0.9, 0.8, 0.3], HEAD_UNUSED)  # below the threshold: a change, whatever
    assert verdict_of(falls, {"channels": 0.7}).loc["channels", "outcome"] == "passes"  # unrelated maps share


def test_a_baseline_ignores_the_model_whatever_its_reference():
    rows = curve("random", [1.0] * 5, [False] * 5) + curve("gaussian", [1.0] * 5, [False] * 5)
    verdict = verdict_of(rows, {"random": 0.0, "gaussian": 1.0})
    assert list(verdict["outcome"]) == ["ignores_model", "ignores_model"]
    assert (verdict["first_used"] == 0).all() and (verdict["drops_at"] == 0).all()
    assert verdict["first_spearman"].isna().all() and (verdict["end_spearman"] == 1.0).all()


def test_the_threshold_is_the_argument():
    rows = curve("deconvnet", [1.0, 1.0, 0.8, 0.75, 0.7], HEAD_UNUSED)
    lenient = verdict_of(rows, {"deconvnet": 0.1}, threshold=0.5).loc["deconvnet"]
    strict = verdict_of(rows, {"deconvnet": 0.1}, threshold=0.72).loc["deconvnet"]
    assert (lenient["outcome"], lenient["drops_at"], lenient["threshold"]) == ("fails", 0, 0.5)
    assert (strict["outcome"], strict["drops_at"], strict["threshold"]) == ("passes", 5, 0.72)
    assert verdict_of(rows, {"deconvnet": 0.3}, threshold=0.25).loc["deconvnet", "outcome"] == "inconclusive"


def test_the_verdict_reads_the_fixed_target_only():
    rows = curve("gradcam", [0.6, 0.5, 0.4, 0.3, 0.2], EVERY_STEP)
    rows += curve("gradcam", [0.9, 0.9, 0.9, 0.9, 0.9], EVERY_STEP, target="repredicted", flat=7)
    verdict = verdict_of(rows, {"gradcam": 0.1})
    assert len(verdict) == 1
    gradcam = verdict.loc["gradcam"]
    assert gradcam["outcome"] == "passes" and gradcam["end_spearman"] == 0.2 and gradcam["flat_maps"] == 0


def test_one_row_per_method_in_the_tables_order():
    rows = curve("gradcam", [0.2] * 5, EVERY_STEP) + curve("random", [1.0] * 5, [False] * 5)
    rows += curve("channels", [1.0, 1.0, 0.2, 0.2, 0.2], HEAD_UNUSED)
    verdict = sanity_verdict(
        pd.DataFrame(rows), pd.DataFrame({"method": ["random", "channels", "gradcam"], "spearman": 0.0}), 0.5
    )
    assert list(verdict["method"]) == ["gradcam", "random", "channels"]
    assert list(verdict["outcome"]) == ["passes", "ignores_model", "passes"]
