"""The attention section's data: values worked out by hand on small inputs."""

import numpy as np
import pytest
import torch

from cnnlens.views.attention import (
    SWITCHED_OFF,
    SWITCHED_ON,
    attention_layers,
    attention_summary,
    class_channel_means,
    class_spatial_maps,
    class_spread,
    images_per_class,
    spatial_maps,
    weight_arrays,
)
from cnnlens.views.feature_maps import feature_layers

from helpers import activations_artifact


def test_attention_and_feature_layers_split_an_artifacts_layers_by_shape():
    layers = {"conv1": torch.ones(2, 4, 3, 3), "ca1": torch.full((2, 4), 0.25, dtype=torch.float16)}
    stored = activations_artifact(layers=layers)
    assert list(feature_layers(stored)) == ["conv1"]
    weights = attention_layers(stored)
    assert list(weights) == ["ca1"] and weights["ca1"].dtype == np.float32
    np.testing.assert_array_equal(weights["ca1"], np.full((2, 4), 0.25))
    assert weight_arrays({"ca2": torch.ones(1, 2, dtype=torch.float16)})["ca2"].dtype == np.float32


def test_attention_summary_measures_spread_between_channels_and_over_images():
    # channel 0 always 0, channel 1 alternates 0.5 and 1.0 over images
    weights = {"ca1": np.array([[0.0, 0.5], [0.0, 1.0]]), "ca2": np.full((3, 4), 0.5)}
    summary = attention_summary(weights)
    first = summary.iloc[0]
    assert list(summary["module"]) == ["ca1", "ca2"] and first["channels"] == 2
    assert first["mean"] == pytest.approx(0.375)
    assert first["std"] == pytest.approx(np.std([0.0, 0.5, 0.0, 1.0], ddof=1))
    assert first["channel_mean_std"] == pytest.approx(np.std([0.0, 0.75], ddof=1))
    assert first["image_std_mean"] == pytest.approx(np.mean([0.0, np.std([0.5, 1.0], ddof=1)]))
    assert first["off_percent"] == pytest.approx(50)  # the two zeros
    assert first["on_percent"] == pytest.approx(25)  # the single 1.0
    uniform = summary.iloc[1]
    assert uniform["mean"] == 0.5
    assert (uniform[["std", "channel_mean_std", "image_std_mean", "off_percent", "on_percent"]] == 0).all()


def test_attention_summary_thresholds_are_strict():
    summary = attention_summary({"ca1": np.array([[SWITCHED_OFF, SWITCHED_ON]] * 2)})
    assert summary.loc[0, "off_percent"] == 0 and summary.loc[0, "on_percent"] == 0


def test_class_channel_means_name_classes_and_put_the_most_class_dependent_channel_first():
    weights = np.array(
        [
            [0.5, 0.1, 0.3],  # cat
            [0.5, 0.3, 0.3],  # cat
            [0.5, 0.9, 0.4],  # dog
        ]
    )
    means = class_channel_means(weights, np.array([0, 0, 1]), ["cat", "dog", "ship"])
    assert list(means.index) == ["cat", "dog"]  # ship has no image
    assert list(means.columns) == [1, 2, 0]  # spread 0.5, 0.07, 0 across classes
    np.testing.assert_allclose(means.loc["cat"], [0.2, 0.3, 0.5])
    np.testing.assert_allclose(means.loc["dog"], [0.9, 0.4, 0.5])
    np.testing.assert_allclose(class_spread(means), [np.std([0.2, 0.9], ddof=1), np.std([0.3, 0.4], ddof=1), 0])


def test_class_channel_means_keep_channel_order_between_equal_spreads():
    # 20 channels: the even ones differ between the two classes by the same amount, the odd ones not at all
    cat, dog = np.tile([0.25, 0.5], 10), np.tile([0.75, 0.5], 10)
    means = class_channel_means(np.stack([cat, dog]), np.array([0, 1]), ["cat", "dog"])
    assert list(means.columns) == list(range(0, 20, 2)) + list(range(1, 20, 2))


def test_spatial_maps_are_the_cbam_layers_by_block_and_none_for_se():
    spatial = torch.tensor([[[0.25, 0.5], [0.75, 1.0]]], dtype=torch.float16)
    stored = activations_artifact(
        layers={"conv2": torch.ones(1, 4, 2, 2), "ca2": torch.ones(1, 4), "ca2.spatial": spatial}
    )
    maps = spatial_maps(stored)
    assert list(maps) == ["ca2"] and maps["ca2"].dtype == np.float32
    np.testing.assert_array_equal(maps["ca2"], [[[0.25, 0.5], [0.75, 1.0]]])
    assert spatial_maps(activations_artifact(layers={"ca2": torch.ones(1, 4)})) == {}


def test_class_spatial_maps_leave_out_classes_without_images():
    means = torch.arange(3 * 2 * 2, dtype=torch.float32).reshape(3, 2, 2)  # cat, dog, ship
    classes, maps = class_spatial_maps({"ca3": means}, torch.tensor([0, 2, 2]), ["cat", "dog", "ship"])
    assert classes == ["cat", "ship"]
    np.testing.assert_array_equal(maps["ca3"], means[[0, 2]].numpy())


def test_images_per_class_count_classes_without_images_as_zero():
    assert images_per_class(np.array([0, 0, 1, 1]), 2) == (2, 2)
    assert images_per_class(np.array([0, 0, 0, 1]), 3) == (0, 3)
