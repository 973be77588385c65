"""The feature-map section's data: values worked out by hand on small inputs."""

import numpy as np
import torch

from cnnlens.interpret.channel_maps import pca_rgb
from cnnlens.views.feature_maps import overlay_heatmaps, pca_column, selected_channels, shared_first_channels


def test_shared_first_channels_stop_at_the_narrowest_layer():
    maps = {"conv1": torch.zeros(1, 8, 2, 2), "conv2": torch.zeros(1, 5, 2, 2)}
    assert shared_first_channels(maps, 6) == [0, 1, 2, 3, 4]
    assert shared_first_channels(maps, 3) == [0, 1, 2]


def test_selected_channels_are_chosen_per_image():
    output = torch.zeros(2, 3, 2, 2)
    output[0, 2] = 5.0
    output[1, 0] = 5.0
    assert selected_channels(output, "top", 1) == [[2], [0]]
    assert selected_channels(output, "last", 2) == [[1, 2], [1, 2]]


def test_pca_column_stacks_each_images_picture_of_all_or_the_selected_channels():
    output = torch.randn(2, 5, 3, 4, generator=torch.Generator().manual_seed(0))
    rgb, ratio = pca_column(output)
    assert rgb.shape == (2, 3, 4, 3) and ratio.shape == (2, 3)
    expected_rgb, expected_ratio = pca_rgb(output[1])
    np.testing.assert_allclose(rgb[1], expected_rgb.numpy())
    np.testing.assert_allclose(ratio[1], expected_ratio.numpy())
    _, chosen = pca_column(output, "first", 2)
    np.testing.assert_allclose(chosen[0], pca_rgb(output[0], [0, 1])[1].numpy())
    assert chosen[0, 2] == 0  # two channels leave the third component empty


def test_overlay_heatmaps_pick_the_strongest_channels_scaled_and_upsampled():
    output = torch.zeros(1, 4, 2, 2)
    output[0, 3] = torch.tensor([[0.0, 2.0], [2.0, 4.0]])
    output[0, 1] = 1.0
    [(channels, maps)] = overlay_heatmaps(output, (4, 6), 2)
    assert channels == [3, 1]
    assert maps.shape == (2, 4, 6)
    assert maps[0].min() == 0 and maps[0].max() == 1  # min-max scaled before upsampling
    assert maps[0, 0, 0] == 0 and maps[0, -1, -1] == 1  # corners keep their values, rows and columns in place
    np.testing.assert_array_equal(maps[1], 0)  # a flat map scales to zeros
