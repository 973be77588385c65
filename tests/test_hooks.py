import pytest
import torch
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret.hooks import capture
from cnnlens.models.cnn import AttentionCNN, PlainCNN
from cnnlens.models.modes import eval_mode


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_captured_activations_equal_a_manual_forward_despite_inplace_relus():
    torch.manual_seed(0)
    model = PlainCNN().eval()
    x = torch.randn(3, 3, 32, 32)
    with capture(model, ["conv1", "bn2", "conv3"]) as outputs:
        model(x)
    with torch.no_grad():
        conv1 = model.conv1(x)
        bn2 = model.bn2(model.conv2(model.pool1(model.relu1(model.bn1(conv1)))))
        conv3 = model.conv3(model.pool2(model.relu2(bn2.clone())))
    torch.testing.assert_close(outputs["conv1"], conv1)
    # bn2 is followed by an in-place ReLU: without a clone the capture would hold rectified values.
    torch.testing.assert_close(outputs["bn2"], bn2)
    assert (outputs["bn2"] < 0).any()
    torch.testing.assert_close(outputs["conv3"], conv3)


def test_attention_gate_capture_is_the_channel_weights():
    model = AttentionCNN().eval()
    x = torch.randn(2, 3, 32, 32)
    with capture(model, ["relu1", "ca1.gate"]) as outputs:
        model(x)
    expected = model.ca1.gate(model.ca1.excite(outputs["relu1"].mean((2, 3))))
    torch.testing.assert_close(outputs["ca1.gate"], expected)
    assert outputs["ca1.gate"].shape == (2, 32)


def test_hooks_are_removed_after_the_block_and_after_an_exception():
    model = PlainCNN()
    with capture(model, ["conv1", "conv2"]):
        assert hook_count(model) == 2
    assert hook_count(model) == 0
    with pytest.raises(RuntimeError), capture(model, ["conv1"]):
        model(torch.randn(1, 1, 32, 32))  # wrong channel count
    assert hook_count(model) == 0


def test_unknown_layer_lists_the_available_ones():
    with pytest.raises(CnnlensError) as raised, capture(PlainCNN(), ["conv9"]):
        pass
    assert "['conv9']" in str(raised.value) and " conv1, bn1, relu1, pool1, conv2," in str(raised.value)


def test_eval_mode_restores_each_modules_own_flag():
    model = PlainCNN().train()
    model.dropout.eval()
    with eval_mode(model):
        assert not any(m.training for m in model.modules())
    assert model.training and model.conv1.training and not model.dropout.training


def test_non_square_input_keeps_height_and_width():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2))
    with capture(model, ["0", "2"]) as outputs:
        model(torch.randn(1, 3, 12, 20))
    assert outputs["0"].shape == (1, 4, 12, 20) and outputs["2"].shape == (1, 4, 6, 10)


def test_keep_graph_records_tensors_in_the_graph_whose_gradient_matches_a_manual_one():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    )
    x = torch.randn(2, 3, 5, 7)
    with capture(model, ["0"], keep_graph=True) as outputs:
        logits = model(x)
    assert hook_count(model) == 0
    conv = outputs["0"]
    assert conv.requires_grad and (conv < 0).any()  # the in-place ReLU after the conv left the record alone
    torch.testing.assert_close(logits, model(x))  # the clone handed downstream changes no value
    (gradient,) = torch.autograd.grad(logits[:, 1].sum(), conv)
    # d logit_1 / d conv = fc.weight[1, c] / (H * W) where the ReLU passes, else 0.
    expected = (conv > 0) * model[4].weight[1][None, :, None, None] / (5 * 7)
    torch.testing.assert_close(gradient, expected)
    with torch.no_grad():
        torch.testing.assert_close(conv, model[0](x))
    assert all(p.grad is None for p in model.parameters())


def test_default_capture_is_detached_even_with_gradients_on():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True))
    with capture(model, ["0"]) as outputs:
        model(torch.randn(1, 3, 5, 5))
    assert not outputs["0"].requires_grad and outputs["0"].grad_fn is None
