import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret.hooks import capture
from cnnlens.interpret.spatial_attention import (
    spatial_attention_heatmap,
    spatial_attention_maps,
    spatial_gates,
    upsample_attention,
)
from cnnlens.models.cnn import Architecture, build_model

from helpers import with_trained_batchnorm


def cbam_model(blocks: tuple[int, ...] = (1, 2, 3)) -> nn.Module:
    """A CBAM CNN for 32x48 inputs with random weights, BatchNorm statistics that are not the identity, and spatial
    gates far from 0.5. (The project's CNNs are built for square images: fc1 is replaced to take 4x6 maps.)"""
    torch.manual_seed(0)
    model = build_model(Architecture(attention="cbam", blocks=blocks))
    model.fc1 = nn.Linear(128 * 4 * 6, 512)
    with_trained_batchnorm(model, mean_range=1)
    with torch.no_grad():
        for name, module in model.named_modules():
            if name.endswith("spatial.conv"):
                module.weight.normal_(0, 0.3)
    return model.train()


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def independent_spatial_gates(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The forward pass written out by hand: each CBAM block's spatial sigmoid from its channel-attention output."""
    gates = {}
    x = images
    with torch.no_grad():
        for name, module in model.named_children():
            if name.startswith("ca"):
                x = model.get_submodule(f"{name}.channel")(x)
                pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
                weight = model.get_parameter(f"{name}.spatial.conv.weight")
                gates[name] = torch.sigmoid(F.conv2d(pooled, weight, padding=3))
                x = x * gates[name]
            elif name == "flatten":
                break
            else:
                x = module(x)
    return gates


def test_stored_maps_are_the_gates_the_forward_pass_multiplied_by():
    model = cbam_model()
    x = torch.randn(3, 3, 32, 48)
    maps = spatial_attention_maps(model, x)
    assert list(maps) == ["ca1", "ca2", "ca3"]
    assert [tuple(m.shape) for m in maps.values()] == [(3, 1, 32, 48), (3, 1, 16, 24), (3, 1, 8, 12)]
    expected = independent_spatial_gates(model.eval(), x)
    for block, gate in maps.items():
        torch.testing.assert_close(gate, expected[block])
        assert gate.std() > 0.05  # far from a constant 0.5, so a wrong map could not pass by accident
    # and each block's output is its channel-attention output times exactly that map
    with torch.no_grad(), capture(model, ["ca2.channel", "ca2"]) as outputs:
        model(x)
    torch.testing.assert_close(outputs["ca2"], outputs["ca2.channel"] * maps["ca2"], rtol=0, atol=0)


def test_modes_are_restored_and_no_hooks_are_left():
    model = cbam_model()
    model.get_submodule("ca2").eval()
    spatial_attention_maps(model, torch.randn(2, 3, 32, 48))
    assert model.training and model.get_submodule("ca1").training and not model.get_submodule("ca2").training
    assert hook_count(model) == 0


def test_only_cbam_blocks_have_spatial_gates():
    assert spatial_gates(cbam_model((1, 3))) == {"ca1": "ca1.spatial.gate", "ca3": "ca3.spatial.gate"}
    assert list(spatial_attention_maps(cbam_model((1, 3)), torch.randn(1, 3, 32, 48))) == ["ca1", "ca3"]
    for name in ("plain", "attention"):
        assert spatial_gates(build_model(name)) == {}
        with pytest.raises(CnnlensError, match="attention: cbam"):  # the setting that gives a model CBAM blocks
            spatial_attention_maps(build_model(name), torch.randn(1, 3, 32, 32))


def test_upsampling_is_bilinear_to_the_input_size_and_keeps_the_gate_values():
    gate = torch.rand(2, 1, 8, 12) * 0.5 + 0.25
    resized = upsample_attention(gate, (32, 48))
    expected = F.interpolate(gate, size=(32, 48), mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(resized, expected)
    assert resized.amax() <= gate.amax() and resized.amin() >= gate.amin()  # not rescaled to [0, 1]
    torch.testing.assert_close(upsample_attention(gate[:, 0], (32, 48)), expected)
    with pytest.raises(CnnlensError, match=r"\(N, 1, h, w\)"):
        upsample_attention(torch.rand(2, 3, 8, 8), (32, 32))


def test_the_heatmap_is_the_deepest_block_unless_one_is_named():
    model = cbam_model()
    x = torch.randn(2, 3, 32, 48)
    maps = spatial_attention_maps(model, x)
    torch.testing.assert_close(spatial_attention_heatmap(model, x), upsample_attention(maps["ca3"], (32, 48)))
    torch.testing.assert_close(spatial_attention_heatmap(model, x, "ca1"), maps["ca1"][:, 0])
    with pytest.raises(CnnlensError) as raised:
        spatial_attention_heatmap(model, x, "ca4")
    assert "'ca4'" in str(raised.value) and str(raised.value).endswith(" ca1, ca2, ca3")
