import gc

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from cnnlens.errors import CnnlensError
from cnnlens.interpret.channel_maps import normalize_map
from cnnlens.interpret.gradcam import grad_cam, grad_cam_raw
from cnnlens.models.cnn import build_model


def tiny_model(pool: bool = False) -> nn.Sequential:
    """conv -> ReLU -> [max-pool ->] conv -> ReLU -> global average pool -> linear, ReLUs in place."""
    torch.manual_seed(0)
    layers = [nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True)]
    layers += [nn.MaxPool2d(2)] if pool else []
    layers += [nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers, nn.Linear(5, 3))


def hook_count(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) + len(m._backward_pre_hooks)
        for m in model.modules()
    )


def live_tensor_count() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if issubclass(type(obj), torch.Tensor))


@pytest.mark.parametrize("split", [2, 3], ids=["conv-before-inplace-relu", "relu"])
def test_raw_map_matches_a_manual_split_of_the_model(split):
    model = tiny_model()
    x = torch.randn(2, 3, 6, 10)
    target = torch.tensor([0, 2])
    features, head = model[: split + 1], model[split + 1 :]
    expected_maps, expected_weights = [], []
    for image, label in zip(x, target, strict=False):
        activation = features(image[None]).detach().requires_grad_()
        score = head(activation.clone())[0, label]  # clone: the head may start with an in-place ReLU
        (gradient,) = torch.autograd.grad(score, activation)
        weights = gradient.mean((2, 3))[0]
        expected_weights.append(weights)
        expected_maps.append(torch.einsum("c,chw->hw", weights, activation.detach()[0]).clamp_min(0))
    if split == 2:
        assert (features(x) < 0).any()  # so the in-place ReLU would have changed an unprotected record
    raw, weights = grad_cam_raw(model, x, str(split), target)
    torch.testing.assert_close(raw, torch.stack(expected_maps))
    torch.testing.assert_close(weights, torch.stack(expected_weights))
    assert raw.amax() > 0


def test_channel_weights_after_global_average_pooling_are_the_head_weights_over_the_area():
    model = tiny_model()
    x = torch.randn(2, 3, 6, 10)
    _, weights = grad_cam_raw(model, x, "3", target=1)
    torch.testing.assert_close(weights, model.get_parameter("6.weight")[1].detach().expand(2, -1) / (6 * 10))
    _, weights = grad_cam_raw(model, x, "3", target=torch.tensor([2, 0]))
    torch.testing.assert_close(weights, model.get_parameter("6.weight")[[2, 0]].detach() / (6 * 10))


def test_no_target_explains_the_predicted_class_and_an_int_means_every_image():
    model = tiny_model()
    x = torch.randn(4, 3, 6, 10)
    predicted = model(x).argmax(1)
    torch.testing.assert_close(grad_cam(model, x, "2"), grad_cam(model, x, "2", target=predicted))
    torch.testing.assert_close(grad_cam(model, x, "2", target=1), grad_cam(model, x, "2", target=[1, 1, 1, 1]))


def test_maps_are_upsampled_to_non_square_inputs_and_scaled_per_image():
    model = tiny_model(pool=True)
    x = torch.randn(2, 3, 8, 12)
    raw, _ = grad_cam_raw(model, x, "4")
    assert raw.shape == (2, 4, 6)
    cam = grad_cam(model, x, "4")
    assert cam.shape == (2, 8, 12)
    assert not cam.requires_grad and cam.grad_fn is None
    resized = F.interpolate(raw[:, None], size=(8, 12), mode="bilinear", align_corners=False)[:, 0]
    low, high = resized.amin((1, 2), keepdim=True), resized.amax((1, 2), keepdim=True)
    torch.testing.assert_close(cam, (resized - low) / (high - low))  # resized first, then scaled
    assert cam.min() >= 0 and cam.max() <= 1


@pytest.mark.parametrize("name", ["plain", "attention"])
def test_every_map_that_is_not_flat_reaches_exactly_one_and_zero(name):
    # Scaled before resizing, an isolated peak would stop below 1: bilinear samples fall between the layer's cells.
    torch.manual_seed(1)
    model = build_model(name)
    x = torch.randn(6, 3, 32, 32)
    raw, _ = grad_cam_raw(model, x, "conv3")
    not_flat = raw.amax((1, 2)) > raw.amin((1, 2))
    assert not_flat.sum() >= 3
    cam = grad_cam(model, x, "conv3")
    assert torch.equal(cam[not_flat].amax((1, 2)), torch.ones(int(not_flat.sum())))
    assert torch.equal(cam[not_flat].amin((1, 2)), torch.zeros(int(not_flat.sum())))
    assert torch.equal(cam[~not_flat], torch.zeros_like(cam[~not_flat]))


def test_a_map_flat_at_the_layer_stays_zeros_after_resizing():
    # A constant map picks up rounding noise when resized, which min-max scaling would turn into a full 0..1 map.
    model = tiny_model(pool=True)
    with torch.no_grad():
        model.get_parameter("0.weight").zero_()
        model.get_parameter("0.bias").fill_(3.7)  # every channel of the pooled output (layer "2", 15x22) is constant
        model.get_parameter("3.weight").abs_()  # and positive weights after it make the evidence positive everywhere
        model.get_parameter("7.weight").abs_()
    x = torch.randn(2, 3, 31, 45)
    raw, _ = grad_cam_raw(model, x, "2", target=0)
    assert (raw > 0).all() and torch.equal(raw.amax((1, 2)), raw.amin((1, 2)))
    resized = F.interpolate(raw[:, None], size=(31, 45), mode="bilinear", align_corners=False)
    assert (resized.amax((2, 3)) > resized.amin((2, 3))).any()  # the rounding wobble the guard is for
    assert torch.equal(grad_cam(model, x, "2", target=0), torch.zeros(2, 31, 45))


def test_flat_maps_give_zeros_not_nan():
    constant = torch.full((1, 12, 20), 0.3)
    ramp = torch.arange(240.0).reshape(1, 12, 20)
    scaled = normalize_map(torch.cat([torch.zeros(1, 12, 20), constant, ramp]))
    assert torch.equal(scaled[:2], torch.zeros(2, 12, 20))
    torch.testing.assert_close(scaled[2], ramp[0] / 239)
    model = tiny_model()
    nn.init.zeros_(model.get_parameter("6.weight"))  # no class evidence anywhere
    cam = grad_cam(model, torch.randn(2, 3, 6, 10), "3")
    assert torch.equal(cam, torch.zeros(2, 6, 10))


def test_mode_is_restored_and_no_hooks_or_parameter_gradients_are_left():
    model = tiny_model().train()
    model[1].eval()
    x = torch.randn(2, 3, 6, 10)
    with torch.no_grad():  # Grad-CAM turns gradients on for itself
        inside_no_grad = grad_cam(model, x, "2")
    torch.testing.assert_close(inside_no_grad, grad_cam(model, x, "2"))
    assert model.training and model[0].training and not model[1].training
    assert hook_count(model) == 0
    assert all(p.grad is None for p in model.parameters())


def test_hooks_are_removed_and_mode_restored_after_an_exception():
    model = tiny_model().train()
    with pytest.raises(RuntimeError):
        grad_cam(model, torch.randn(2, 1, 6, 10), "2")  # wrong channel count
    assert hook_count(model) == 0 and model.training
    with pytest.raises(CnnlensError, match=r"0\.\.2, got \[3, 3\]"):  # the classes there are, and those asked for
        grad_cam(model, torch.randn(2, 3, 6, 10), "2", target=3)
    assert hook_count(model) == 0 and model.training


@pytest.mark.parametrize(
    ("layer", "target", "message"),
    [
        ("9", None, r"\['9'\] are not in the model"),
        ("6", None, r"needs a layer with \(N, C, H, W\) output; '6' gives \(2, 3\)"),
        ("2", [0, 1, 2], r"one class or one per image \(2\), got \(3,\)"),
        ("2", 0.5, "must be class indices"),
        ("2", -1, r"must lie in 0..2, got \[-1, -1\]"),
    ],
)
def test_bad_layers_and_targets_raise_a_cnnlens_error(layer, target, message):
    with pytest.raises(CnnlensError, match=message):
        grad_cam(tiny_model(), torch.randn(2, 3, 6, 10), layer, target)


def test_repeated_calls_leave_no_hooks_and_no_tensors_behind():
    model = tiny_model()
    x = torch.randn(2, 3, 6, 10)
    grad_cam(model, x, "2")  # warm-up: lazily created objects are not a leak
    before = live_tensor_count()
    for _ in range(50):
        grad_cam(model, x, "2")
        assert hook_count(model) == 0
    assert live_tensor_count() <= before
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("name", ["plain", "attention"])
def test_project_models_give_one_input_sized_map_per_image(name):
    torch.manual_seed(0)
    model = build_model(name).train()
    cam = grad_cam(model, torch.randn(2, 3, 32, 32), "conv3")
    assert cam.shape == (2, 32, 32)
    assert torch.isfinite(cam).all() and cam.amin() >= 0 and cam.amax() <= 1
    assert model.training and hook_count(model) == 0
    assert all(p.grad is None for p in model.parameters())
