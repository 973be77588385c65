import numpy as np
import pytest
import torch
from scipy import stats
from skimage.metrics import structural_similarity
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret.deletion_insertion import heatmaps
from cnnlens.interpret.sanity import (
    SPEARMAN_THRESHOLD,
    cascading_randomisation,
    randomisation_steps,
    randomise,
    spearman_per_image,
    ssim_per_image,
)
from cnnlens.models.cnn import Architecture, build_model

from helpers import with_trained_batchnorm


def trained_looking(architecture: str | Architecture = "attention") -> nn.Module:
    """Random weights with BatchNorm statistics and affine parameters far from their initial values."""
    torch.manual_seed(0)
    model = build_model(architecture)
    return with_trained_batchnorm(model)


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


@pytest.fixture(scope="module")
def result():
    model = trained_looking(Architecture(attention="cbam"))
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    torch.manual_seed(1)
    outcome = cascading_randomisation(model, torch.randn(6, 3, 32, 32), seed=3)
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
    return outcome


def test_every_method_is_compared_at_every_step(result):
    steps = result.steps
    assert len(steps) == 6 * 5
    assert list(steps["randomised"].unique()) == [
        "fc2",
        "fc2+fc1",
        "fc2+fc1+block3",
        "fc2+fc1+block3+block2",
        "fc2+fc1+block3+block2+block1",
    ]
    assert set(steps["method"]) == {"channels", "gradcam", "deconvnet", "spatial_attention", "random", "gaussian"}
    assert (steps["images"] == 6).all()
    assert steps["spearman"].between(-1, 1).all() and steps["ssim"].between(-1, 1).all()


def test_maps_that_do_not_use_the_head_survive_its_randomisation_and_grad_cam_does_not(result):
    first = result.steps[result.steps["step"] == 1].set_index("method")
    for method in ("channels", "deconvnet", "spatial_attention", "random", "gaussian"):
        assert first.loc[method, "spearman"] == pytest.approx(1.0) and first.loc[method, "ssim"] == pytest.approx(1.0)
    assert first.loc["gradcam", "spearman"] < 0.9  # it explains the class the randomised head now predicts
    last = result.steps[result.steps["step"] == 5].set_index("method")
    for method in ("channels", "gradcam", "deconvnet", "spatial_attention"):
        assert last.loc[method, "spearman"] < 0.9, method


def test_the_verdict_fails_a_method_whose_maps_keep_their_order_at_full_randomisation(result):
    verdict = result.verdict.set_index("method")
    last = result.steps[result.steps["step"] == 5].set_index("method")
    assert (verdict["threshold"] == SPEARMAN_THRESHOLD).all()
    assert verdict["spearman"].to_dict() == last["spearman"].to_dict()
    assert verdict.loc["random", "fails"] and verdict.loc["gaussian", "fails"]  # they ignore the model
    assert (verdict["fails"] == (verdict["spearman"] >= SPEARMAN_THRESHOLD)).all()


def test_the_threshold_decides_the_verdict():
    model = trained_looking("plain")
    images = torch.randn(2, 3, 32, 32)
    lenient = cascading_randomisation(model, images, ["gradcam", "random"], threshold=1.01)
    strict = cascading_randomisation(model, images, ["gradcam", "random"], threshold=-1.01)
    assert not lenient.verdict["fails"].any() and strict.verdict["fails"].all()
    assert np.allclose(lenient.steps["spearman"], strict.steps["spearman"])


def test_images_smaller_than_the_ssim_window_are_refused():
    with pytest.raises(CnnlensError, match="at least 7 pixels a side"):
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
