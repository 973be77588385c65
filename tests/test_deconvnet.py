from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret.deconvnet import (
    deconv_layers,
    deconv_project,
    fold_batchnorm,
    project_to_pixels,
)
from cnnlens.interpret.hooks import capture
from cnnlens.models.attention import CBAM, ChannelAttention
from cnnlens.models.cnn import Architecture, build_model

from helpers import with_trained_batchnorm


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def one_layer(attention: nn.Module | None = None) -> nn.Sequential:
    layers = OrderedDict(conv=nn.Conv2d(3, 4, 3, padding=1), relu=nn.ReLU(inplace=True))
    if attention is not None:
        layers["ca"] = attention
    layers["pool"] = nn.MaxPool2d(2)
    return nn.Sequential(layers)


def one_hot_at(activation: torch.Tensor) -> torch.Tensor:
    """Keep only each image's global maximum, found with plain Python loops (independent of the module)."""
    seed = torch.zeros_like(activation)
    for n in range(activation.shape[0]):
        best, where = None, None
        for c in range(activation.shape[1]):
            for y in range(activation.shape[2]):
                for x in range(activation.shape[3]):
                    value = activation[n, c, y, x].item()
                    if best is None or value > best:
                        best, where = value, (c, y, x)
        seed[n, where[0], where[1], where[2]] = best
    return seed


@pytest.fixture(scope="module")
def vgg16_features() -> nn.Sequential:
    torch.manual_seed(0)
    return torchvision.models.vgg16(weights=None).features.eval()


def test_folded_conv_equals_conv_then_batchnorm_in_eval_mode():
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(3, 5, 3, stride=2, padding=1), with_trained_batchnorm(nn.BatchNorm2d(5)).eval()
    x = torch.randn(2, 3, 9, 13)
    pair = nn.Sequential(conv, bn)
    before = {key: value.clone() for key, value in pair.state_dict().items()}
    folded = fold_batchnorm(conv, bn)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), bn(conv(x)))
    for key, value in pair.state_dict().items():
        torch.testing.assert_close(value, before[key])
    assert folded is not conv


def test_single_layer_projection_equals_a_hand_computed_deconvnet():
    torch.manual_seed(1)
    stack = one_layer()
    x = torch.randn(2, 3, 8, 12)
    result = deconv_project(stack, x, "pool")
    with torch.no_grad():
        rectified = F.relu(stack.conv(x))
        pooled, switches = F.max_pool2d(rectified, 2, return_indices=True)
        seed = one_hot_at(pooled)
        unpooled = F.max_unpool2d(seed, switches, 2, output_size=rectified.shape[-2:])
        expected = F.conv_transpose2d(F.relu(unpooled), stack.conv.weight, padding=1)
    assert result.projection.shape == (2, 3, 8, 12)
    torch.testing.assert_close(result.projection, expected)
    kept = seed.flatten(1).argmax(1)
    assert result.channel.tolist() == (kept // 24).tolist()
    assert result.position.tolist() == [[int(i % 24) // 6, int(i % 24) % 6] for i in kept]


def test_two_blocks_rectify_the_signal_after_each_transposed_conv():
    torch.manual_seed(9)
    stack = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(3, 4, 3, padding=1),
            relu1=nn.ReLU(inplace=True),
            pool1=nn.MaxPool2d(2),
            conv2=nn.Conv2d(4, 6, 3, padding=1),
            relu2=nn.ReLU(inplace=True),
            pool2=nn.MaxPool2d(2),
        )
    )
    x = torch.randn(2, 3, 8, 12)
    result = deconv_project(stack, x, "pool2")
    with torch.no_grad():
        first = F.relu(stack.conv1(x))
        pooled1, switches1 = F.max_pool2d(first, 2, return_indices=True)
        second = F.relu(stack.conv2(pooled1))
        pooled2, switches2 = F.max_pool2d(second, 2, return_indices=True)
        signal = F.max_unpool2d(one_hot_at(pooled2), switches2, 2, output_size=(4, 6))
        signal = F.conv_transpose2d(F.relu(signal), stack.conv2.weight, padding=1)
        assert (signal < 0).any()  # so that the ReLU on the way back matters
        signal = F.max_unpool2d(signal, switches1, 2, output_size=(8, 12))
        expected = F.conv_transpose2d(F.relu(signal), stack.conv1.weight, padding=1)
    torch.testing.assert_close(result.projection, expected)


def test_batchnorm_is_folded_into_the_transposed_conv():
    torch.manual_seed(2)
    stack = with_trained_batchnorm(nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 4, 3, padding=1), bn=nn.BatchNorm2d(4))))
    x = torch.randn(1, 3, 6, 10)
    result = deconv_project(stack, x, "bn")
    with torch.no_grad():
        seed = one_hot_at(stack.eval().bn(stack.conv(x)))
        scale = stack.bn.weight / torch.sqrt(stack.bn.running_var + stack.bn.eps)
        expected = F.conv_transpose2d(seed * scale[None, :, None, None], stack.conv.weight, padding=1)
    torch.testing.assert_close(result.projection, expected)


def test_attention_backward_multiplies_by_the_recorded_channel_weights():
    torch.manual_seed(3)
    stack = one_layer(ChannelAttention(4, reduction=2))
    x = torch.randn(2, 3, 8, 8)
    result = deconv_project(stack, x, "pool")
    with torch.no_grad():
        rectified = F.relu(stack.conv(x))
        weights = torch.sigmoid(stack.ca.excite(rectified.mean((2, 3))))[:, :, None, None]
        pooled, switches = F.max_pool2d(rectified * weights, 2, return_indices=True)
        unpooled = F.max_unpool2d(one_hot_at(pooled), switches, 2, output_size=(8, 8))
        expected = F.conv_transpose2d(F.relu(unpooled * weights), stack.conv.weight, padding=1)
    torch.testing.assert_close(result.projection, expected)


def test_cbam_backward_multiplies_by_the_spatial_then_the_channel_gate():
    torch.manual_seed(3)
    stack = one_layer(CBAM(4, reduction=2))
    x = torch.randn(2, 3, 8, 10)
    result = deconv_project(stack, x, "pool")
    with torch.no_grad():
        rectified = F.relu(stack.conv(x))
        excite = stack.ca.channel.excite
        channel = torch.sigmoid(excite(rectified.mean((2, 3))) + excite(rectified.amax((2, 3))))[:, :, None, None]
        gated = rectified * channel
        descriptors = torch.cat((gated.mean(1, keepdim=True), gated.amax(1, keepdim=True)), 1)
        spatial = torch.sigmoid(stack.ca.spatial.conv(descriptors))
        pooled, switches = F.max_pool2d(gated * spatial, 2, return_indices=True)
        unpooled = F.max_unpool2d(one_hot_at(pooled), switches, 2, output_size=(8, 10))
        expected = F.conv_transpose2d(F.relu(unpooled * spatial * channel), stack.conv.weight, padding=1)
    torch.testing.assert_close(result.projection, expected)
    assert hook_count(stack) == 0


CBAM_MODEL = Architecture(attention="cbam")


@pytest.mark.parametrize("name", ["plain", "attention", CBAM_MODEL])
def test_only_the_strongest_activation_is_projected(name):
    torch.manual_seed(4)
    model = with_trained_batchnorm(build_model(name))
    x = torch.randn(2, 3, 32, 32)
    result = deconv_project(model, x, "pool2")
    rows = torch.arange(2)
    seed = torch.zeros(2, 64, 8, 8)
    seed[rows, result.channel, result.position[:, 0], result.position[:, 1]] = 1.0
    unit = project_to_pixels(model, x, "pool2", seed)
    torch.testing.assert_close(result.projection, result.activation[:, None, None, None] * unit)
    torch.testing.assert_close(project_to_pixels(model, x, "pool2", 3 * seed), 3 * unit)
    with pytest.raises(CnnlensError) as raised:
        project_to_pixels(model, x, "pool2", seed[:, :, :4, :4])
    assert all(part in str(raised.value) for part in ("(2, 64, 4, 4)", "'pool2'", "(2, 64, 8, 8)"))
    with capture(model.eval(), ["pool2"]) as outputs:
        model(x)
    torch.testing.assert_close(result.activation, outputs["pool2"].amax((1, 2, 3)))
    assert result.projection.abs().sum() > 0


def test_explicit_channel_picks_the_strongest_position_in_that_channel():
    torch.manual_seed(5)
    model = with_trained_batchnorm(build_model("plain")).eval()
    x = torch.randn(3, 3, 32, 32)
    with capture(model, ["relu2"]) as outputs:
        model(x)
    activation = outputs["relu2"]
    strongest = activation.flatten(1).argmax(1) // (16 * 16)
    channel = int((strongest[0] + 1) % 64)  # not the globally strongest one for image 0
    result = deconv_project(model, x, "relu2", channel=channel)
    assert result.channel.tolist() == [channel] * 3
    for n in range(3):
        y, x_ = result.position[n].tolist()
        assert activation[n, channel, y, x_] == activation[n, channel].max()
    torch.testing.assert_close(result.activation, activation[:, channel].amax((1, 2)))
    with pytest.raises(CnnlensError) as raised:
        deconv_project(model, x, "relu2", channel=64)
    assert all(part in str(raised.value) for part in ("channel 64", "'relu2'", "0 to 63"))


def test_model_is_untouched_flags_restored_and_no_hooks_left():
    torch.manual_seed(7)
    model = with_trained_batchnorm(build_model("attention")).train()
    model.dropout.eval()
    flags = {name: module.training for name, module in model.named_modules()}
    state = {key: value.clone() for key, value in model.state_dict().items()}
    x = torch.randn(2, 3, 32, 32)
    x_before = x.clone()
    deconv_project(model, x, "pool3")
    with pytest.raises(CnnlensError):
        deconv_project(model, x, "fc1")
    assert hook_count(model) == 0
    assert {name: module.training for name, module in model.named_modules()} == flags
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state[key])
    torch.testing.assert_close(x, x_before)


def test_cnn_projections_have_the_input_shape():
    torch.manual_seed(8)
    for name in ("plain", "attention", CBAM_MODEL):
        model = build_model(name)
        for layer in ("conv1", "bn1", "relu1" if name == "plain" else "ca1", "pool3"):
            result = deconv_project(model, torch.randn(2, 3, 32, 32), layer)
            assert result.projection.shape == (2, 3, 32, 32)
            assert torch.isfinite(result.projection).all()


def test_vgg16_features_on_a_non_square_input_stay_inside_the_receptive_field(vgg16_features):
    x = torch.randn(1, 3, 64, 96)
    deep = deconv_project(vgg16_features, x, "30")
    assert deep.projection.shape == (1, 3, 64, 96)
    assert deep.projection.abs().sum() > 0
    assert 0 <= deep.position[0, 0] < 2 and 0 <= deep.position[0, 1] < 3
    # "4" is the first pool: a unit at (y, x) sees rows 2y-2..2y+3 and columns 2x-2..2x+3.
    shallow = deconv_project(vgg16_features, x, "4")
    y, x_ = shallow.position[0].tolist()
    rows, cols = torch.nonzero(shallow.projection[0].abs().sum(0), as_tuple=True)
    assert len(rows) > 0
    assert rows.min() >= 2 * y - 2 and rows.max() <= 2 * y + 3
    assert cols.min() >= 2 * x_ - 2 and cols.max() <= 2 * x_ + 3
    assert deconv_layers(vgg16_features) == [str(i) for i in range(31)]


def test_a_layer_outside_the_conv_trunk_lists_the_valid_ones():
    model = build_model("plain")
    valid = "conv1, bn1, relu1, pool1, conv2, bn2, relu2, pool2, conv3, bn3, relu3, pool3"
    with pytest.raises(CnnlensError) as raised:
        deconv_project(model, torch.randn(1, 3, 32, 32), "fc1")
    assert "'fc1'" in str(raised.value) and str(raised.value).endswith(f" {valid}")
    assert hook_count(model) == 0
