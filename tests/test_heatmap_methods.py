"""The heatmap methods: the project's own maps, scaled to [0, 1], the baselines, and what each method reads."""

import pytest
import torch
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret import heatmap_methods as methods
from cnnlens.interpret.channel_maps import activation_heatmaps, normalize_map, upsample
from cnnlens.interpret.deconvnet import deconv_project
from cnnlens.interpret.gradcam import grad_cam
from cnnlens.interpret.hooks import capture
from cnnlens.interpret.spatial_attention import spatial_attention_heatmap, spatial_attention_maps, upsample_attention
from cnnlens.models.cnn import Architecture, CifarCNN, build_model

from helpers import with_trained_batchnorm


def random_cnn(name: str | Architecture = "plain") -> CifarCNN:
    torch.manual_seed(0)
    model = build_model(name)
    return with_trained_batchnorm(model)


def test_the_channel_heatmap_is_the_mean_of_the_sources_three_channel_maps():
    model = random_cnn("attention")
    images = torch.randn(4, 3, 32, 32)
    maps = methods.channel_heatmap(model, images)
    activation = _conv3(model, images)
    for index in range(len(images)):
        _, channel_maps = activation_heatmaps(activation[index], k=3)
        expected = normalize_map(upsample(channel_maps.mean(0), (32, 32)))
        torch.testing.assert_close(maps[index], expected)


def _conv3(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad(), capture(model.eval(), ["conv3"]) as outputs:
        model(images)
    return outputs["conv3"]


def test_each_method_is_the_projects_own_map_scaled_to_unit_range():
    model = random_cnn(Architecture(attention="cbam"))
    images = torch.randn(3, 3, 32, 32)
    maps = methods.heatmaps(model, images, seed=5)
    assert list(maps) == ["channels", "gradcam", "deconvnet", "spatial_attention", "random", "gaussian"]
    torch.testing.assert_close(maps["gradcam"], grad_cam(model, images, "conv3"))
    deconv = deconv_project(model, images, "conv3").projection.abs().sum(1)
    torch.testing.assert_close(maps["deconvnet"], normalize_map(deconv))
    torch.testing.assert_close(maps["spatial_attention"], normalize_map(spatial_attention_heatmap(model, images)))
    for name, method_maps in maps.items():
        assert method_maps.shape == (3, 32, 32), name
        assert torch.equal(method_maps.amax((1, 2)), torch.ones(3)), name
        assert torch.equal(method_maps.amin((1, 2)), torch.zeros(3)), name


def test_the_baselines_are_seeded_noise_and_a_centred_gaussian():
    assert torch.equal(methods.random_heatmap(2, (5, 6), seed=3), methods.random_heatmap(2, (5, 6), seed=3))
    assert not torch.equal(methods.random_heatmap(2, (5, 6), seed=3), methods.random_heatmap(2, (5, 6), seed=4))
    bump = methods.gaussian_heatmap(2, (9, 13))
    assert torch.equal(bump[0], bump[1]) and bump[0, 4, 6] == 1.0 and bump[0, 0, 0] == 0.0
    # sigma is a quarter of each side (9 / 4 and 13 / 4); min-max scaling maps the corners to 0
    side = torch.exp(torch.tensor(-0.5 * (1 / 3.25) ** 2))  # one column off the centre, sigma 13/4
    corner = torch.exp(torch.tensor(-0.5 * (4 / 2.25) ** 2 - 0.5 * (6 / 3.25) ** 2))
    torch.testing.assert_close(bump[0, 4, 7], (side - corner) / (1 - corner))


def test_methods_follow_the_model():
    assert methods.available_methods(build_model("plain")) == ("channels", "gradcam", "deconvnet", "random", "gaussian")
    assert "spatial_attention" in methods.available_methods(build_model(Architecture(attention="cbam")))
    model = build_model("attention")
    with pytest.raises(CnnlensError) as raised:
        methods.heatmaps(model, torch.randn(1, 3, 32, 32), ["gradcam", "spatial_attention"])
    message = str(raised.value)
    assert "['spatial_attention']" in message and message.endswith(", ".join(methods.available_methods(model)))


def test_a_map_flat_at_its_own_resolution_stays_zeros_at_the_inputs():
    model = random_cnn(Architecture(attention="cbam"))
    model.fc1 = nn.Linear(128 * 3 * 5, 512)  # for 31x45 inputs, whose ca3 maps are 3x5
    with torch.no_grad():
        model.get_parameter("ca3.spatial.conv.weight").zero_()  # ca3's gate: 0.5 everywhere
    images = torch.randn(2, 3, 31, 45)
    gate = spatial_attention_maps(model, images)["ca3"]
    assert torch.equal(gate, torch.full_like(gate, 0.5))
    resized = upsample_attention(gate, (31, 45))
    assert (resized.amax((1, 2)) > resized.amin((1, 2))).any()  # rounding that scaling would blow up to 0..1
    assert torch.equal(methods.attention_heatmap(model, images), torch.zeros(2, 31, 45))


def test_grad_cam_explains_the_given_classes_or_each_images_prediction():
    model = random_cnn()
    images = torch.randn(4, 3, 32, 32)
    targets = torch.tensor([1, 2, 3, 4])
    maps = methods.heatmaps(model, images, ["gradcam"], targets=targets, batch_size=3)["gradcam"]
    torch.testing.assert_close(maps, grad_cam(model, images, "conv3", targets))
    predicted = methods.heatmaps(model, images, ["gradcam"])["gradcam"]
    torch.testing.assert_close(predicted, grad_cam(model, images, "conv3"))
    assert not torch.equal(maps, predicted)
    with pytest.raises(CnnlensError, match=r"4 images .*3 target classes"):
        methods.heatmaps(model, images, ["gradcam"], targets=targets[:3])


def test_an_inverted_map_ranks_its_pixels_in_reverse():
    maps = torch.rand(2, 5, 6)
    flipped = methods.inverted(maps)
    assert torch.equal(flipped.flatten(1).argsort(1), maps.flatten(1).argsort(1, descending=True))
    assert flipped.amin() >= 0 and flipped.amax() <= 1


def test_each_method_reads_the_layers_up_to_the_one_it_explains():
    plain = build_model("plain")
    children = [name for name, _ in plain.named_children()]
    assert methods.layers_used("gradcam", plain) == tuple(children)  # the gradient comes from the output
    up_to_conv3 = tuple(children[: children.index("conv3") + 1])
    assert methods.layers_used("channels", plain) == methods.layers_used("deconvnet", plain) == up_to_conv3
    assert "fc1" not in up_to_conv3 and "bn3" not in up_to_conv3
    assert methods.layers_used("random", plain) == methods.layers_used("gaussian", plain) == ()
    cbam = build_model(Architecture(attention="cbam", blocks=(2,)))
    names = [name for name, _ in cbam.named_children()]
    assert methods.layers_used("spatial_attention", cbam) == tuple(names[: names.index("ca2") + 1])
