"""The project's explanations against independent implementations: pytorch-grad-cam, Captum, and a plain loop.

The libraries are test-only dependencies (the ``test`` extra); their tests are skipped where they are absent.
Every model here has random weights, BatchNorm statistics and affine parameters far from their initial values,
a non-square 32x48 input, and a batch whose images are explained for different classes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
from torch import nn

from cnnlens.interpret import deletion_insertion as fa
from cnnlens.interpret.deconvnet import deconv_project
from cnnlens.interpret.gradcam import grad_cam
from cnnlens.models.cnn import Architecture, CifarCNN, build_model

from helpers import with_trained_batchnorm

HEIGHT, WIDTH = 32, 48
# Captum announces its ReLU hooks and that it made the input require grad, on every call.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Setting backward hooks on ReLU:UserWarning", "ignore:Input Tensor 0 did not already require:UserWarning"
)
ARCHITECTURES: dict[str, str | Architecture] = {
    "plain": "plain",
    "se": "attention",
    "cbam": Architecture(attention="cbam"),
}


def project_model(name: str) -> CifarCNN:
    """The project's CNN for 32x48 inputs: its fc1 takes the 4x6 maps that pool3 gives for that size."""
    torch.manual_seed(0)
    model = build_model(ARCHITECTURES[name])
    model.fc1 = nn.Linear(128 * (HEIGHT // 8) * (WIDTH // 8), 512)
    with_trained_batchnorm(model)
    with torch.no_grad():
        for module_name, module in model.named_modules():
            if module_name.endswith(("excite.0", "excite.2", "spatial.conv")):
                module.weight.normal_(0, 0.5)  # gates that vary, so treating them alike matters
    return model.eval()


def images(count: int = 4) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(count, 3, HEIGHT, WIDTH)


@pytest.mark.parametrize("layer", ["conv2", "conv3"])
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_grad_cam_equals_pytorch_grad_cam(name, layer):
    pytorch_grad_cam = pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model, x = project_model(name), images()
    targets = [3, 7, 0, 9]
    ours = grad_cam(model, x, layer, targets)
    with pytorch_grad_cam.GradCAM(model=model, target_layers=[getattr(model, layer)]) as cam:
        theirs = torch.from_numpy(cam(input_tensor=x, targets=[ClassifierOutputTarget(t) for t in targets]))
    assert theirs.shape == ours.shape == (4, HEIGHT, WIDTH)
    assert (ours.amax((1, 2)) == 1).sum() >= 2  # real maps, not only flat ones that agree trivially
    assert (ours - theirs).abs().max() <= 1e-4


@contextmanager
def frozen_attention_gates(model: nn.Module) -> Iterator[None]:
    """Let every attention gate (the ``gate`` sigmoids) pass its value but no gradient: the deconvnet's convention.

    cnnlens' deconvnet multiplies the signal by the gate the forward pass used and does not differentiate through
    it; Captum differentiates through everything, so the gates are detached in the forward pass it runs.
    """
    handles = [
        module.register_forward_hook(lambda _module, _inputs, output: output.detach())
        for name, module in model.named_modules()
        if name.endswith("gate")
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@pytest.mark.parametrize("layer", ["conv2", "pool3"])
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_deconvnet_equals_captums_neuron_deconvolution(name, layer):
    pytest.importorskip("captum")
    from captum.attr import NeuronDeconvolution

    model, x = project_model(name), images(3)
    ours = deconv_project(model, x, layer)
    deconvolution = NeuronDeconvolution(model, getattr(model, layer))
    for index in range(len(x)):
        neuron = (int(ours.channel[index]), *map(int, ours.position[index]))  # this image's strongest activation
        with frozen_attention_gates(model):
            attribution = deconvolution.attribute(x[index : index + 1], neuron_selector=neuron)
        theirs = attribution[0] * ours.activation[index]
        scale = ours.projection[index].abs().max()
        assert scale > 0
        assert (ours.projection[index] - theirs).abs().max() <= 1e-4 * scale


def test_without_frozen_gates_captum_differs_on_attention_models():
    """The setup above matters: differentiating through the gates gives another projection."""
    pytest.importorskip("captum")
    from captum.attr import NeuronDeconvolution

    model, x = project_model("cbam"), images(1)
    ours = deconv_project(model, x, "pool3")
    neuron = (int(ours.channel[0]), *map(int, ours.position[0]))
    attribution = NeuronDeconvolution(model, model.pool3).attribute(x, neuron_selector=neuron)
    theirs = attribution[0] * ours.activation[0]
    assert (ours.projection[0] - theirs).abs().max() > 1e-2 * ours.projection[0].abs().max()


@pytest.mark.parametrize("baseline", fa.BASELINES)
def test_batched_deletion_and_insertion_equal_a_plain_per_image_loop(baseline):
    """The oracle reads the groups of equal values from the map itself: at a count ``c``, whose next pixel has the
    value ``v``, the whole groups above ``v`` and the groups down to ``v`` are deleted, and ``c`` is interpolated
    between those two counts."""
    model = project_model("se")
    x = images(3)
    maps = (torch.rand(3, HEIGHT, WIDTH) * 4).floor()  # 4 levels: many ties
    steps = 4
    curves = fa.deletion_insertion(model, x, maps, steps=steps, baseline=baseline, batch_size=5)

    fills = fa.fill(x, baseline)
    pixels = HEIGHT * WIDTH
    for index in range(3):
        with torch.no_grad():
            predicted = model(x[index : index + 1]).argmax(1).item()
        assert curves.classes[index] == predicted

        def probability(chosen: torch.Tensor, deleting: bool, image: int = index, label: int = predicted) -> float:
            kept = (
                torch.where(chosen, fills[image], x[image]) if deleting else torch.where(chosen, x[image], fills[image])
            )
            with torch.no_grad():
                return model(kept[None]).softmax(1)[0, label].item()

        values = maps[index].flatten().sort(descending=True).values
        for step in range(steps + 1):
            count = step * pixels // steps
            if count in (0, pixels):
                ends = [
                    (count, maps[index] > maps[index].max())
                    if count == 0
                    else (count, maps[index] >= maps[index].min())
                ]
            else:
                level = values[count]
                ends = [
                    (int((maps[index] > level).sum()), maps[index] > level),
                    (int((maps[index] >= level).sum()), maps[index] >= level),
                ]
            for deleting, curve in ((True, curves.deletion), (False, curves.insertion)):
                (low, below), (high, above) = ends[0], ends[-1]
                at_low, at_high = probability(below, deleting), probability(above, deleting)
                weight = (count - low) / (high - low) if high > low else 0.0
                expected = at_low + weight * (at_high - at_low)
                assert curve[index, step].item() == pytest.approx(expected, abs=1e-6)
    assert curves.deletion[:, 0].sub(curves.deletion[:, -1]).abs().min() > 1e-4  # the curves do move
