import contextlib
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F

from cnnlens.interpret.hooks import capture
from cnnlens.models import cbam_fused
from cnnlens.models.attention import CBAM, ChannelAttention, SpatialAttention, use_fused_cbam
from cnnlens.models.cnn import Architecture, build_model

from helpers import assert_a_training_step_matches_autograd

TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


def plain_expression(module: torch.nn.Module) -> torch.nn.Module:
    return use_fused_cbam(module, False)


def gradients(output: torch.Tensor, inputs: list[torch.Tensor], grad_output: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.autograd.grad(output, inputs, grad_output))


def with_ties(shape: tuple[int, ...], signed: bool = False) -> torch.Tensor:
    """A ReLU output, as CBAM sees one in the CNN, with equal maxima: a dead channel of an image (all zeros, so
    its spatial maximum is tied everywhere), a position dead in every channel (its channel maximum tied), and
    one value repeated at two positions of a channel as its maximum. ``signed``: mostly negative values, so
    that whole rows and channels have negative maxima, and the dead ones -0.0 (equal to 0.0, whose bits
    order below it)."""
    x = torch.randn(shape) - 3 if signed else torch.randn(shape).relu()
    zero = -0.0 if signed else 0.0
    x[0, 3] = zero
    x[1, :, 2, 2] = zero
    x[2, 5, 0, 0] = x[2, 5, 1, 1] = x[2, 5].max() + 1
    return x.contiguous(memory_format=torch.channels_last).requires_grad_()


def assert_same_values_and_gradients(block: torch.nn.Module, x: torch.Tensor) -> None:
    torch.manual_seed(1)
    grad_output = torch.randn(x.shape)
    inputs = [x, *block.parameters()]
    fused = block(x)
    fused_gradients = gradients(fused, inputs, grad_output)
    reference = plain_expression(block)(x)
    assert (fused.grad_fn.name(), reference.grad_fn.name()) == ("FusedCbamBackward", "MulBackward0")
    torch.testing.assert_close(fused, reference, **TOLERANCE)
    for got, expected in zip(fused_gradients, gradients(reference, inputs, grad_output), strict=True):
        scale = expected.abs().max().item()
        assert scale > 0  # a gradient that is zero everywhere would check nothing
        # rounding relative to the gradient's scale: a sum over images that nearly cancels keeps only that
        torch.testing.assert_close(got, expected, rtol=TOLERANCE["rtol"], atol=TOLERANCE["atol"] * scale)


@pytest.mark.parametrize(
    ("channels", "reduction", "shape", "signed"),
    [(32, 4, (7, 5), False), (16, 2, (8, 8), False), (64, 16, (3, 4), False), (32, 4, (7, 5), True)],
)
def test_a_cbam_block_matches_autograd_with_tied_maxima(channels, reduction, shape, signed):
    """Every maximum's gradient is shared by its ties as amax's is; odd sizes and other bottlenecks than the
    recipe's; the weights' gradients summed over the images; signed values (a block not after a ReLU)."""
    torch.manual_seed(0)
    block = CBAM(channels, reduction=reduction).train()
    assert_same_values_and_gradients(block, with_ties((6, channels, *shape), signed))


@pytest.mark.parametrize("where", ["a channel's first value", "a later value"])
def test_a_nan_spreads_as_in_the_plain_expressions(where):
    """A NaN reaches the channel mean, so every gate and the whole image's output are NaN, as in autograd's."""
    torch.manual_seed(0)
    block = CBAM(16, reduction=4)
    x = with_ties((3, 16, 6, 6)).detach()
    row, column = (0, 0) if where == "a channel's first value" else (3, 2)
    x[1, 4, row, column] = float("nan")
    with torch.no_grad():
        fused, expected = block(x), plain_expression(block)(x)
    assert torch.equal(fused.isnan(), expected.isnan()) and fused[1].isnan().all()


def test_an_empty_batch_gives_an_empty_output():
    block = CBAM(16, reduction=4)
    x = torch.empty(0, 16, 5, 5).contiguous(memory_format=torch.channels_last)
    assert block(x).shape == (0, 16, 5, 5)


@pytest.mark.parametrize(
    "case",
    [
        *("float64", "contiguous", "autocast", "hook on a part", "pre-hook on a part", "backward hook on a part"),
        *("float64 weights", "global hook", "switched off", "not on the CPU", "3x3"),
    ],
)
def test_the_block_runs_its_parts_where_the_compiled_loops_do_not_apply(case):
    """The loops take float32 channels_last CPU tensors outside autocast, float32 weights and a 7x7 spatial
    convolution, while no hook listens to a part."""
    block = CBAM(16, reduction=4)
    x = torch.randn(2, 16, 5, 5).contiguous(memory_format=torch.channels_last)
    assert block.fused and cbam_fused.applies(block, x)
    with contextlib.ExitStack() as stack:
        if case == "float64":
            x = x.double()
        elif case == "contiguous":
            x = x.contiguous()
        elif case == "autocast":
            stack.enter_context(torch.autocast("cpu", dtype=torch.bfloat16))
        elif case == "hook on a part":
            block.spatial.gate.register_forward_hook(lambda *_: None)
        elif case == "pre-hook on a part":
            block.channel.excite.register_forward_pre_hook(lambda *_: None)
        elif case == "backward hook on a part":
            block.channel.register_full_backward_hook(lambda *_: None)
        elif case == "float64 weights":
            block.spatial.double()
        elif case == "global hook":
            stack.callback(torch.nn.modules.module.register_module_forward_hook(lambda *_: None).remove)
        elif case == "switched off":
            use_fused_cbam(block, False)
        elif case == "3x3":
            block.spatial = SpatialAttention(kernel_size=3)
        else:
            x = x.to("meta")
        assert not (block.fused and cbam_fused.applies(block, x))


def test_without_numba_the_loader_warns_and_the_block_runs_its_parts(monkeypatch):
    monkeypatch.setitem(sys.modules, "cnnlens.models.cbam_kernels", None)  # what importing a missing numba raises
    with pytest.warns(UserWarning, match="numba"):
        assert cbam_fused._compiled.__wrapped__() is None
    monkeypatch.setattr(cbam_fused, "_compiled", lambda: None)
    block = CBAM(16, reduction=4)
    x = torch.randn(2, 16, 5, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    assert block(x).grad_fn.name() == "MulBackward0"


def test_torch_compile_on_the_cpu_leaves_the_loops_to_run_as_they_are():
    """``compile: true`` on a CPU: the compiler stops at the loops instead of tracing into numba and giving up."""
    torch.manual_seed(0)
    block = CBAM(16, reduction=4)
    x = with_ties((3, 16, 6, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled = torch.compile(block, backend="eager")(x)  # the tracing alone, no C++ compiler needed
    assert compiled.grad_fn.name() == "FusedCbamBackward"
    torch.testing.assert_close(compiled, block(x), rtol=0, atol=0)


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


def test_a_training_step_of_the_cbam_cnn_matches_autograd():
    """The engine's CPU step: channels_last batches, every block through the compiled loops."""
    torch.manual_seed(0)
    model = build_model(Architecture(attention="cbam")).to(memory_format=torch.channels_last).train()
    images = torch.randn(8, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    nodes = []
    model.ca1.register_forward_hook(lambda _block, _inputs, output: nodes.append(output.grad_fn.name()))
    assert_a_training_step_matches_autograd(model, images, plain_expression)
    assert nodes == ["FusedCbamBackward", "MulBackward0"]  # the step compared, then the reference


@pytest.mark.parametrize("mode", ["inference", "no grad", "grad"])
def test_evaluation_gives_the_plain_values(mode):
    """Inference (the faithfulness scoring) and Grad-CAM's eval-mode pass with gradients."""
    torch.manual_seed(0)
    model = build_model(Architecture(attention="cbam")).to(memory_format=torch.channels_last).eval()
    grad = mode == "grad"
    images = torch.randn(4, 3, 32, 32).contiguous(memory_format=torch.channels_last).requires_grad_(grad)
    reference = plain_expression(build_model(Architecture(attention="cbam")).eval())
    reference.load_state_dict(model.state_dict())
    context = torch.inference_mode() if mode == "inference" else torch.set_grad_enabled(grad)
    with context:
        fused, expected = model(images), reference(images)
    torch.testing.assert_close(fused, expected, rtol=1e-5, atol=1e-6)
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
    x = with_ties((3, 16, 6, 6))
    grad_output = torch.randn(3, 16, 6, 6)
    inputs = [x, block.channel.excite[2].weight]
    fused = gradients(block(x), inputs, grad_output)
    for got, expected in zip(fused, gradients(plain_expression(block)(x), inputs, grad_output), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
