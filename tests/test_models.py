import pytest
import torch

from cnnlens.errors import CnnlensError
from cnnlens.models.attention import ChannelAttention, SpatialAttention
from cnnlens.models.cnn import (
    Architecture,
    AttentionCNN,
    PlainCNN,
    attention_gates,
    build_model,
    count_parameters,
)


def conv_params(cin: int, cout: int) -> int:
    return cin * cout * 9 + cout


def expected_plain_parameters() -> int:
    convs = conv_params(3, 32) + conv_params(32, 64) + conv_params(64, 128)
    batch_norms = 2 * (32 + 64 + 128)
    head = (128 * 4 * 4 * 512 + 512) + (512 * 10 + 10)
    return convs + batch_norms + head


def test_plain_cnn_has_the_recipes_parameter_count_and_output_shape():
    model = PlainCNN()
    assert count_parameters(model) == expected_plain_parameters() == 1_147_914
    assert model(torch.randn(5, 3, 32, 32)).shape == (5, 10)


def test_attention_cnn_adds_two_bias_free_linears_per_block():
    extra = sum(2 * channels * (channels // 16) for channels in (32, 64, 128))
    assert count_parameters(AttentionCNN()) == expected_plain_parameters() + extra


def test_layers_are_addressable_by_the_names_students_use():
    names = dict(AttentionCNN().named_modules())
    for name in ["conv1", "bn2", "relu3", "pool1", "ca2", "ca3.gate", "fc1", "fc2"]:
        assert name in names
    assert isinstance(names["conv3"], torch.nn.Conv2d) and names["conv3"].out_channels == 128
    assert "ca1" not in dict(PlainCNN().named_modules())


def test_attention_sits_after_relu_and_before_pool():
    order = [name for name, _ in AttentionCNN().named_children()]
    assert order[:5] == ["conv1", "bn1", "relu1", "ca1", "pool1"]


def test_channel_attention_scales_each_channel_by_its_gate():
    module = ChannelAttention(32)
    x = torch.randn(2, 32, 8, 8)
    weights = module.gate(module.excite(x.mean((2, 3))))
    torch.testing.assert_close(module(x), x * weights[:, :, None, None])
    assert ((weights > 0) & (weights < 1)).all()


def test_gates_found_per_attention_module():
    assert attention_gates(AttentionCNN()) == {"ca1": "ca1.gate", "ca2": "ca2.gate", "ca3": "ca3.gate"}
    assert attention_gates(PlainCNN()) == {}


def test_other_image_sizes_change_the_head():
    assert build_model("plain", image_size=64)(torch.randn(1, 3, 64, 64)).shape == (1, 10)


def test_unknown_model_names_the_choices():
    with pytest.raises(CnnlensError) as raised:
        build_model("resnet")
    assert all(name in str(raised.value) for name in ("'resnet'", "attention", "plain"))


def test_cbam_adds_a_shared_mlp_and_a_7x7_spatial_conv_per_block():
    cbam = build_model(Architecture(attention="cbam", blocks=(2, 3), reduction=8))
    extra = sum(2 * c * (c // 8) + 2 * 7 * 7 for c in (64, 128))
    assert count_parameters(cbam) == expected_plain_parameters() + extra
    assert cbam(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert attention_gates(cbam) == {"ca2": "ca2.channel.gate", "ca3": "ca3.channel.gate"}


def test_cbam_channel_attention_sums_average_and_max_descriptors():
    module = ChannelAttention(16, reduction=4, use_max=True)
    x = torch.randn(3, 16, 5, 7)
    scores = module.excite(x.mean((2, 3))) + module.excite(x.amax((2, 3)))
    torch.testing.assert_close(module(x), x * torch.sigmoid(scores)[:, :, None, None])


def test_spatial_attention_scales_every_channel_by_one_map_from_mean_and_max():
    module = SpatialAttention()
    x = torch.randn(2, 8, 6, 10)
    pooled = torch.cat((x.mean(1, keepdim=True), x.amax(1, keepdim=True)), 1)
    weights = torch.sigmoid(torch.nn.functional.conv2d(pooled, module.conv.weight, padding=3))
    assert weights.shape == (2, 1, 6, 10)  # one map per image, H and W kept
    torch.testing.assert_close(module(x), x * weights)
    assert module.conv.weight.shape == (1, 2, 7, 7)


def test_attention_can_be_limited_to_some_blocks():
    model = build_model(Architecture(attention="se", blocks=(3,)))
    assert list(attention_gates(model)) == ["ca3"]
    assert [name for name, _ in model.named_children()][:4] == ["conv1", "bn1", "relu1", "pool1"]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"attention": "transformer"}, "unknown attention type 'transformer'"), ({"blocks": (0, 4)}, "must be among")],
)
def test_bad_architecture_is_explained(options, message):
    with pytest.raises(CnnlensError, match=message):
        Architecture(**options)


def test_the_output_layer_has_one_unit_per_class():
    for classes in (2, 11, 100):
        assert build_model("attention", num_classes=classes)(torch.randn(2, 3, 32, 32)).shape == (2, classes)
