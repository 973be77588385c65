import pytest
import torch

from cnnlens.interpret.hooks import capture
from cnnlens.models.attention import ChannelAttention
from cnnlens.models.cnn import build_model, use_fused_backward

from helpers import assert_a_training_step_matches_autograd


def plain_expression(model: torch.nn.Module) -> torch.nn.Module:
    return use_fused_backward(model, False)


def gradients(output: torch.Tensor, inputs: list[torch.Tensor], grad_output: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.autograd.grad(output, inputs, grad_output))


@pytest.mark.parametrize("memory_format", [torch.channels_last, torch.contiguous_format])
def test_values_and_gradients_match_autograd(memory_format):
    torch.manual_seed(0)
    module = ChannelAttention(32, reduction=4).train()
    x = torch.randn(6, 32, 7, 5).contiguous(memory_format=memory_format).requires_grad_()
    grad_output = torch.randn(6, 32, 7, 5)
    inputs = [x, *module.parameters()]

    fused = module(x)
    reference = plain_expression(module)(x)

    assert fused.grad_fn.name() == "SqueezeExciteBackward" and reference.grad_fn.name() == "MulBackward0"
    torch.testing.assert_close(fused, reference, rtol=0, atol=0)
    expected_gradients = gradients(reference, inputs, grad_output)
    for got, expected in zip(gradients(fused, inputs, grad_output), expected_gradients, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_a_training_step_of_the_attention_cnn_matches_autograd():
    torch.manual_seed(0)
    model = build_model("attention").train()
    assert_a_training_step_matches_autograd(model, torch.randn(8, 3, 32, 32), plain_expression)


def test_evaluation_and_cbam_take_the_plain_path():
    x = torch.randn(2, 32, 4, 4, requires_grad=True)
    assert ChannelAttention(32).eval()(x).grad_fn.name() == "MulBackward0"
    assert ChannelAttention(32, use_max=True).train()(x).grad_fn.name() == "MulBackward0"
    with torch.no_grad():
        assert ChannelAttention(32).train()(x).grad_fn is None


def test_the_gates_are_still_captured_in_training():
    torch.manual_seed(0)
    model = build_model("attention").train()
    images = torch.randn(4, 3, 32, 32)
    with capture(model, ["relu1", "ca1.gate"]) as outputs:
        model(images)
    module = model.ca1
    expected = module.gate(module.excite(outputs["relu1"].mean((2, 3))))
    torch.testing.assert_close(outputs["ca1.gate"], expected.detach())


def test_bf16_autocast_trains_through_the_fused_path():
    torch.manual_seed(0)
    module = ChannelAttention(16, reduction=4).train()
    x = torch.randn(3, 16, 4, 4, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused = module(x)
        reference = plain_expression(module)(x)
    grad_output = torch.randn_like(fused)
    for got, expected in zip(
        gradients(fused, [x, *module.parameters()], grad_output),
        gradients(reference, [x, *module.parameters()], grad_output),
        strict=True,
    ):
        torch.testing.assert_close(got.float(), expected.float(), rtol=2e-2, atol=2e-2)


def test_a_frozen_excitation_still_passes_the_gradient_to_its_input():
    torch.manual_seed(0)
    module = ChannelAttention(16, reduction=4).train()
    module.excite[0].requires_grad_(False)
    x = torch.randn(3, 16, 4, 4, requires_grad=True)
    grad_output = torch.randn(3, 16, 4, 4)
    inputs = [x, module.excite[2].weight]
    fused = gradients(module(x), inputs, grad_output)
    for got, expected in zip(fused, gradients(plain_expression(module)(x), inputs, grad_output), strict=False):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
