import pytest
import torch

from cnnlens.errors import CnnlensError
from cnnlens.interpret.depth_stats import SUMMARY_COLUMNS, sparsity, spatial_concentration, summarize


def test_sparsity_counts_zeros_per_image():
    activations = torch.ones(3, 2, 4, 4)
    activations[1, :, :2] = 0.0  # half zeros
    activations[2] = 0.0  # all zeros
    torch.testing.assert_close(sparsity(activations), torch.tensor([0.0, 0.5, 1.0]))


def test_sparsity_threshold_counts_values_at_or_below_it():
    activations = torch.tensor([-2.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2, 2)
    torch.testing.assert_close(sparsity(activations), torch.tensor([3 / 8]))
    torch.testing.assert_close(sparsity(activations, threshold=1.0), torch.tensor([5 / 8]))


def test_spatial_concentration_uniform_gives_top_fraction():
    uniform = torch.ones(2, 3, 8, 8)  # 64 positions: 6.4 of them make the top 10 %
    torch.testing.assert_close(spatial_concentration(uniform), torch.tensor([0.1, 0.1]))
    torch.testing.assert_close(spatial_concentration(uniform, top_fraction=0.25), torch.tensor([0.25, 0.25]))


def test_spatial_concentration_one_hot_gives_one():
    hot = torch.zeros(1, 4, 5, 5)
    hot[0, 2, 3, 1] = 7.0
    torch.testing.assert_close(spatial_concentration(hot), torch.tensor([1.0]))


def test_spatial_concentration_sums_channels_and_ignores_negative_values():
    activations = torch.zeros(1, 2, 2, 5)  # 10 positions: the top 10 % is exactly one position
    activations[0, 0, 0, 0] = 3.0
    activations[0, 1, 0, 0] = 3.0  # position (0, 0) holds 6 of the 10 units of mass
    activations[0, 0, 1, :4] = 1.0
    activations[0, 1, 1, 4] = -50.0  # negative values carry no mass
    torch.testing.assert_close(spatial_concentration(activations), torch.tensor([0.6]))
    torch.testing.assert_close(spatial_concentration(activations, top_fraction=0.5), torch.tensor([1.0]))


def test_spatial_concentration_without_mass_is_top_fraction_not_nan():
    silent = -torch.ones(2, 3, 4, 4)
    torch.testing.assert_close(spatial_concentration(silent, top_fraction=0.2), torch.tensor([0.2, 0.2]))


def test_spatial_concentration_rejects_a_bad_fraction():
    with pytest.raises(CnnlensError, match="top_fraction"):
        spatial_concentration(torch.ones(1, 1, 4, 4), top_fraction=0.0)


def test_summarize_gives_one_row_per_layer_with_measured_values():
    shallow = torch.ones(2, 3, 8, 8)
    shallow[1, :, :4] = 0.0  # image 0: no zeros; image 1: half zeros, mass spread over 32 positions
    deep = torch.zeros(2, 5, 4, 5)
    deep[:, 0, 0, 0] = 1.0  # one hot position of 20 in each image
    table = summarize({"conv1": shallow, "conv3": deep})
    assert list(table.columns) == SUMMARY_COLUMNS
    assert table["layer"].tolist() == ["conv1", "conv3"]
    assert table[["channels", "height", "width"]].values.tolist() == [[3, 8, 8], [5, 4, 5]]
    assert table["sparsity_mean"].tolist() == pytest.approx([0.25, 1 - 1 / 100])
    assert table["sparsity_std"].tolist() == pytest.approx([0.25, 0.0])
    assert table["concentration_mean"].tolist() == pytest.approx([(0.1 + 0.2) / 2, 1.0])
    assert table["concentration_std"].tolist() == pytest.approx([0.05, 0.0])


def test_summarize_rejects_non_spatial_outputs():
    with pytest.raises(CnnlensError, match="ca1"):
        summarize({"ca1": torch.rand(4, 32)})
