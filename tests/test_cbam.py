import pytest
import torch
import torch.nn.functional as F

from cnnlens.interpret.hooks import capture
from cnnlens.models.attention import CBAM, CbamChannelAttention, ChannelAttention, SpatialAttention, use_fused_cbam
from cnnlens.models.cnn import Architecture, build_model

from helpers import assert_a_training_step_matches_autograd

TOLERANCES = {torch.float64: {"rtol": 1e-12, "atol": 1e-12}, torch.float32: {"rtol": 1e-5, "atol": 1e-6}}


def plain_expression(module: torch.nn.Module) -> torch.nn.Module:
    return use_fused_cbam(module, False)


def gradients(output: torch.Tensor, inputs: list[torch.Tensor], grad_output: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.autograd.grad(output, inputs, grad_output))


def with_ties(shape: tuple[int, ...], dtype: torch.dtype, memory_format: torch.memory_format) -> torch.Tensor:
    """A ReLU output, as CBAM sees one, with equal maxima: a dead channel of an image (all zeros, so its
    spatial maximum is tied everywhere), a position dead in every channel (its channel maximum tied), and
    one value repeated at two positions of a channel as its maximum."""
    x = torch.randn(shape, dtype=dtype).relu()
    x[0, 3] = 0
    x[1, :, 2, 2] = 0
    x[2, 5, 0, 0] = x[2, 5, 1, 1] = x[2, 5].max() + 1
    return x.contiguous(memory_format=memory_format).requires_grad_()


def assert_same_values_and_gradients(module: torch.nn.Module, x: torch.Tensor, names: tuple[str, str]) -> None:
    torch.manual_seed(1)
    grad_output = torch.randn(x.shape, dtype=x.dtype)
    inputs = [x, *module.parameters()]
    fused = module(x)
    fused_gradients = gradients(fused, inputs, grad_output)
    reference = plain_expression(module)(x)
    assert (fused.grad_fn.name(), reference.grad_fn.name()) == names
    torch.testing.assert_close(fused, reference, **TOLERANCES[x.dtype])
    for got, expected in zip(fused_gradients, gradients(reference, inputs, grad_output), strict=True):
        torch.testing.assert_close(got, expected, **TOLERANCES[x.dtype])


@pytest.mark.parametrize("memory_format", [torch.channels_last, torch.contiguous_format])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_each_gate_matches_autograd_with_tied_maxima(dtype, memory_format):
    torch.manual_seed(0)
    x = with_ties((6, 32, 7, 5), dtype, memory_format)
    channel = CbamChannelAttention(32, reduction=4).to(dtype).train()
    assert_same_values_and_gradients(channel, x, ("CbamChannelBackward", "MulBackward0"))
    spatial = SpatialAttention().to(dtype).train()
    assert_same_values_and_gradients(spatial, x, ("CbamSpatialBackward", "MulBackward0"))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_a_cbam_block_matches_autograd(dtype):
    torch.manual_seed(0)
    block = CBAM(32, reduction=4).to(dtype).train()
    x = with_ties((6, 32, 8, 8), dtype, torch.channels_last)
    assert_same_values_and_gradients(block, x, ("CbamSpatialBackward", "MulBackward0"))


def test_the_plain_expression_is_the_original_one():
    """The reference the fused paths are compared with: mean and max descriptors through the MLP separately,
    the spatial gate over the concatenated channel mean and max."""
    torch.manual_seed(0)
    block = plain_expression(CBAM(16, reduction=4))
    x = torch.randn(3, 16, 5, 7)
    channel, spatial = block.channel, block.spatial
    scores = channel.excite(x.mean((2, 3))) + channel.excite(x.amax((2, 3)))
    gated = x * torch.sigmoid(scores)[:, :, None, None]
    pooled = torch.cat((gated.mean(1, keepdim=True), gated.amax(1, keepdim=True)), 1)
    expected = gated * torch.sigmoid(F.conv2d(pooled, spatial.conv.weight, padding=3))
    torch.testing.assert_close(block(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize("memory_format", [torch.channels_last, torch.contiguous_format])
def test_a_training_step_of_the_cbam_cnn_matches_autograd(memory_format):
    torch.manual_seed(0)
    model = build_model(Architecture(attention="cbam")).to(memory_format=memory_format).train()
    images = torch.randn(8, 3, 32, 32).contiguous(memory_format=memory_format)
    assert_a_training_step_matches_autograd(model, images, plain_expression)


@pytest.mark.parametrize("grad", [False, True])
def test_evaluation_gives_the_plain_values(grad):
    """Inference (the faithfulness scoring) and Grad-CAM's eval-mode pass with gradients."""
    torch.manual_seed(0)
    model = build_model(Architecture(attention="cbam")).to(memory_format=torch.channels_last).eval()
    images = torch.randn(4, 3, 32, 32).contiguous(memory_format=torch.channels_last).requires_grad_(grad)
    with torch.set_grad_enabled(grad):
        fused = model(images)
        reference = plain_expression(build_model(Architecture(attention="cbam")).eval())
        reference.load_state_dict(model.state_dict())
        expected = reference(images)
    torch.testing.assert_close(fused, expected, rtol=1e-5, atol=1e-6)
    assert (fused.grad_fn is None) is not grad
    if grad:
        (got,) = torch.autograd.grad(fused[:, 3].sum(), images)
        (wanted,) = torch.autograd.grad(expected[:, 3].sum(), images)
        torch.testing.assert_close(got, wanted, rtol=1e-4, atol=1e-6)


def test_parameters_hooks_and_types_are_those_of_before():
    """Checkpoints load (same keys and shapes), the gates are captured with the values the block multiplied by,
    and the channel attention is still a ChannelAttention (attention_gates, use_fused_backward)."""
    torch.manual_seed(0)
    model = build_model(Architecture(attention="cbam", blocks=(1, 2, 3))).train()
    shapes = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items() if name.startswith("ca")}
    assert shapes == {
        f"ca{block}.{name}": shape
        for block, channels in ((1, 32), (2, 64), (3, 128))
        for name, shape in (
            ("channel.excite.0.weight", (channels // 16, channels)),
            ("channel.excite.2.weight", (channels, channels // 16)),
            ("spatial.conv.weight", (1, 2, 7, 7)),
        )
    }
    assert isinstance(model.ca1.channel, ChannelAttention) and model.ca1.channel.use_max
    images = torch.randn(4, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    layers = ["relu2", "ca2.channel.gate", "ca2.channel", "ca2.spatial.gate", "ca2"]
    with capture(model, layers) as outputs:
        model(images)
    channel, spatial = model.ca2.channel, model.ca2.spatial
    relu = outputs["relu2"]
    gates = torch.sigmoid(channel.excite(relu.mean((2, 3))) + channel.excite(relu.amax((2, 3))))
    torch.testing.assert_close(outputs["ca2.channel.gate"], gates.detach())
    torch.testing.assert_close(outputs["ca2.channel"], relu * gates.detach()[:, :, None, None], rtol=0, atol=0)
    gated = outputs["ca2.channel"]
    pooled = torch.cat((gated.mean(1, keepdim=True), gated.amax(1, keepdim=True)), 1)
    expected = torch.sigmoid(F.conv2d(pooled, spatial.conv.weight, padding=3)).detach()
    torch.testing.assert_close(outputs["ca2.spatial.gate"], expected)
    torch.testing.assert_close(outputs["ca2"], gated * outputs["ca2.spatial.gate"], rtol=0, atol=0)


def test_frozen_parts_still_pass_the_gradient_to_the_input():
    torch.manual_seed(0)
    block = CBAM(16, reduction=4).train()
    block.channel.excite[0].requires_grad_(False)
    block.spatial.conv.requires_grad_(False)
    x = with_ties((3, 16, 6, 6), torch.float32, torch.channels_last)
    grad_output = torch.randn(3, 16, 6, 6)
    inputs = [x, block.channel.excite[2].weight]
    fused = gradients(block(x), inputs, grad_output)
    for got, expected in zip(fused, gradients(plain_expression(block)(x), inputs, grad_output), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_bf16_autocast_trains_through_the_fused_path():
    torch.manual_seed(0)
    block = CBAM(16, reduction=4).train()
    x = torch.randn(3, 16, 6, 6).relu().contiguous(memory_format=torch.channels_last).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused = block(x)
        assert fused.grad_fn.name() == "CbamSpatialBackward"
        reference = plain_expression(CBAM(16, reduction=4))
        reference.load_state_dict(block.state_dict())
        expected = reference(x)
    grad_output = torch.randn_like(fused)
    inputs = [x, *block.parameters()]
    for got, wanted in zip(
        gradients(fused, inputs, grad_output),
        gradients(expected, [x, *reference.parameters()], grad_output),
        strict=True,
    ):
        torch.testing.assert_close(got.float(), wanted.float(), rtol=2e-2, atol=2e-2)
