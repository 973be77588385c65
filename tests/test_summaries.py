"""What the notebooks show beside their figures: values worked out by hand on small inputs."""

import numpy as np
import pandas as pd
import pytest
import torch

from cnnlens.artifacts import Activations, DepthStatistics
from cnnlens.errors import CnnlensError
from cnnlens.interpret.channel_maps import pca_rgb
from cnnlens.reporting import summaries
from cnnlens.reporting.comparison import TrainedRun

from helpers import faithfulness_artifact


def activations(model: str = "plain", layers: dict | None = None, indices=(7, 3), predictions=(1, 0)) -> Activations:
    count = len(indices)
    return Activations(
        model=model,
        seed=2,
        image_indices=torch.tensor(indices),
        images=torch.arange(count * 3 * 2 * 4, dtype=torch.uint8).reshape(count, 3, 2, 4),
        labels=torch.tensor([0, 1][:count]),
        classes=["cat", "dog"],
        logits=torch.zeros(count, 2),
        predictions=torch.tensor(predictions),
        layers=layers or {},
    )


def trained(model: str, seed: int, confusion: list[list[int]] | None = None) -> TrainedRun:
    history = pd.DataFrame({"epoch": [1, 2], "test_accuracy": [0.5, 0.6]})
    matrix = pd.DataFrame(confusion or [[1, 0], [0, 1]], index=["cat", "dog"], columns=["cat", "dog"])
    return TrainedRun({"model": model, "seed": seed}, history, matrix)


def test_distinct_sorts_and_in_order_keeps_first_appearance():
    assert summaries.distinct([10, 3, 7, 3]) == [3, 7, 10]
    assert summaries.in_order(["relu2", "relu1", "relu2"]) == ["relu2", "relu1"]


def test_chunks_cover_every_item_once_with_a_short_last_chunk():
    assert summaries.chunks(7, 3) == [slice(0, 3), slice(3, 6), slice(6, 9)]
    assert summaries.chunks(0, 3) == []


def test_image_array_moves_channels_last_without_swapping_height_and_width():
    images = torch.arange(2 * 3 * 2 * 4).reshape(2, 3, 2, 4)
    array = summaries.image_array(images)
    assert array.shape == (2, 2, 4, 3)
    assert array[1, 0, 3, 2] == images[1, 2, 0, 3]


def test_label_names_follow_the_labels():
    assert summaries.label_names(torch.tensor([1, 0, 1]), ["cat", "dog"]) == ["dog", "cat", "dog"]


def test_check_same_images_stops_on_different_images_only():
    summaries.check_same_images(torch.tensor([1, 2]), torch.tensor([1, 2]), "a.pt", "b.pt")
    with pytest.raises(CnnlensError, match=r"a\.pt and b\.pt hold different test images"):
        summaries.check_same_images(torch.tensor([1, 2]), torch.tensor([2, 1]), "a.pt", "b.pt")


def test_attention_and_feature_layers_split_an_artifacts_layers_by_shape():
    layers = {"conv1": torch.ones(2, 4, 3, 3), "ca1": torch.full((2, 4), 0.25, dtype=torch.float16)}
    stored = activations(layers=layers)
    assert list(summaries.feature_layers(stored)) == ["conv1"]
    weights = summaries.attention_layers(stored)
    assert list(weights) == ["ca1"] and weights["ca1"].dtype == np.float32
    np.testing.assert_array_equal(weights["ca1"], np.full((2, 4), 0.25))
    assert summaries.weight_arrays({"ca2": torch.ones(1, 2, dtype=torch.float16)})["ca2"].dtype == np.float32


def test_attention_summary_measures_spread_between_channels_and_over_images():
    # channel 0 always 0, channel 1 alternates 0.5 and 1.0 over images
    weights = {"ca1": np.array([[0.0, 0.5], [0.0, 1.0]]), "ca2": np.full((3, 4), 0.5)}
    summary = summaries.attention_summary(weights)
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
    summary = summaries.attention_summary({"ca1": np.array([[summaries.SWITCHED_OFF, summaries.SWITCHED_ON]] * 2)})
    assert summary.loc[0, "off_percent"] == 0 and summary.loc[0, "on_percent"] == 0


def test_class_channel_means_name_classes_and_put_the_most_class_dependent_channel_first():
    weights = np.array(
        [
            [0.5, 0.1, 0.3],  # cat
            [0.5, 0.3, 0.3],  # cat
            [0.5, 0.9, 0.4],  # dog
        ]
    )
    means = summaries.class_channel_means(weights, np.array([0, 0, 1]), ["cat", "dog", "ship"])
    assert list(means.index) == ["cat", "dog"]  # ship has no image
    assert list(means.columns) == [1, 2, 0]  # spread 0.5, 0.07, 0 across classes
    np.testing.assert_allclose(means.loc["cat"], [0.2, 0.3, 0.5])
    np.testing.assert_allclose(means.loc["dog"], [0.9, 0.4, 0.5])
    np.testing.assert_allclose(
        summaries.class_spread(means), [np.std([0.2, 0.9], ddof=1), np.std([0.3, 0.4], ddof=1), 0]
    )


def test_class_channel_means_keep_channel_order_between_equal_spreads():
    # 20 channels: the even ones differ between the two classes by the same amount, the odd ones not at all
    cat, dog = np.tile([0.25, 0.5], 10), np.tile([0.75, 0.5], 10)
    means = summaries.class_channel_means(np.stack([cat, dog]), np.array([0, 1]), ["cat", "dog"])
    assert list(means.columns) == list(range(0, 20, 2)) + list(range(1, 20, 2))


def test_spatial_maps_are_the_cbam_layers_by_block_and_none_for_se():
    spatial = torch.tensor([[[0.25, 0.5], [0.75, 1.0]]], dtype=torch.float16)
    stored = activations(layers={"conv2": torch.ones(1, 4, 2, 2), "ca2": torch.ones(1, 4), "ca2.spatial": spatial})
    maps = summaries.spatial_maps(stored)
    assert list(maps) == ["ca2"] and maps["ca2"].dtype == np.float32
    np.testing.assert_array_equal(maps["ca2"], [[[0.25, 0.5], [0.75, 1.0]]])
    assert summaries.spatial_maps(activations(layers={"ca2": torch.ones(1, 4)})) == {}


def test_class_spatial_maps_leave_out_classes_without_images():
    means = torch.arange(3 * 2 * 2, dtype=torch.float32).reshape(3, 2, 2)  # cat, dog, ship
    classes, maps = summaries.class_spatial_maps({"ca3": means}, torch.tensor([0, 2, 2]), ["cat", "dog", "ship"])
    assert classes == ["cat", "ship"]
    np.testing.assert_array_equal(maps["ca3"], means[[0, 2]].numpy())


def test_images_per_class_count_classes_without_images_as_zero():
    assert summaries.images_per_class(np.array([0, 0, 1, 1]), 2) == (2, 2)
    assert summaries.images_per_class(np.array([0, 0, 0, 1]), 3) == (0, 3)


def test_run_ids_and_histories_are_keyed_by_variant_and_seed():
    runs = [trained("plain", 0), trained("attention", 1)]
    assert summaries.run_ids(runs) == [("plain", 0), ("attention", 1)]
    histories = summaries.histories_by_run(runs)
    assert list(histories) == [("plain", 0), ("attention", 1)] and histories[("attention", 1)] is runs[1].history


def test_per_class_accuracies_are_row_recalls_per_variant():
    confusions = {
        "plain": trained("plain", 0, [[3, 1], [0, 2]]).confusion,
        "se": trained("se", 0, [[0, 4], [1, 1]]).confusion,
    }
    accuracy = summaries.per_class_accuracies(confusions)
    assert list(accuracy.index) == ["cat", "dog"] and list(accuracy.columns) == ["plain", "se"]
    np.testing.assert_allclose(accuracy.to_numpy(), [[0.75, 0.0], [1.0, 0.5]])


def test_shared_first_channels_stop_at_the_narrowest_layer():
    maps = {"conv1": torch.zeros(1, 8, 2, 2), "conv2": torch.zeros(1, 5, 2, 2)}
    assert summaries.shared_first_channels(maps, 6) == [0, 1, 2, 3, 4]
    assert summaries.shared_first_channels(maps, 3) == [0, 1, 2]


def test_selected_channels_are_chosen_per_image():
    output = torch.zeros(2, 3, 2, 2)
    output[0, 2] = 5.0
    output[1, 0] = 5.0
    assert summaries.selected_channels(output, "top", 1) == [[2], [0]]
    assert summaries.selected_channels(output, "last", 2) == [[1, 2], [1, 2]]


def test_pca_column_stacks_each_images_picture_of_all_or_the_selected_channels():
    output = torch.randn(2, 5, 3, 4, generator=torch.Generator().manual_seed(0))
    rgb, ratio = summaries.pca_column(output)
    assert rgb.shape == (2, 3, 4, 3) and ratio.shape == (2, 3)
    expected_rgb, expected_ratio = pca_rgb(output[1])
    np.testing.assert_allclose(rgb[1], expected_rgb.numpy())
    np.testing.assert_allclose(ratio[1], expected_ratio.numpy())
    _, chosen = summaries.pca_column(output, "first", 2)
    np.testing.assert_allclose(chosen[0], pca_rgb(output[0], [0, 1])[1].numpy())
    assert chosen[0, 2] == 0  # two channels leave the third component empty


def test_overlay_heatmaps_pick_the_strongest_channels_scaled_and_upsampled():
    output = torch.zeros(1, 4, 2, 2)
    output[0, 3] = torch.tensor([[0.0, 2.0], [2.0, 4.0]])
    output[0, 1] = 1.0
    [(channels, maps)] = summaries.overlay_heatmaps(output, (4, 6), 2)
    assert channels == [3, 1]
    assert maps.shape == (2, 4, 6)
    assert maps[0].min() == 0 and maps[0].max() == 1  # min-max scaled before upsampling
    assert maps[0, 0, 0] == 0 and maps[0, -1, -1] == 1  # corners keep their values, rows and columns in place
    np.testing.assert_array_equal(maps[1], 0)  # a flat map scales to zeros


def test_first_of_classes_takes_the_first_row_of_each_class_in_order_of_appearance():
    labels = torch.tensor([2, 2, 0, 1, 0, 3])
    assert summaries.first_of_classes(labels, 3) == [0, 2, 3]
    assert summaries.first_of_classes(labels, 10) == [0, 2, 3, 5]


def test_models_at_image_find_the_image_in_each_model_and_average_its_channels():
    conv = torch.arange(2 * 2 * 1 * 2, dtype=torch.float32).reshape(2, 2, 1, 2)
    plain = activations("plain", {"conv1": conv, "ca1": torch.ones(2, 2)}, indices=(7, 3), predictions=(1, 0))
    other = activations("se", {"conv1": 10 * conv}, indices=(3, 7), predictions=(1, 1))
    views = summaries.models_at_image([plain, other], 3)
    assert [(view.model, view.seed, view.predicted) for view in views] == [("plain", 2, "cat"), ("se", 2, "dog")]
    assert list(views[0].maps) == ["conv1"]  # attention weights have no map
    np.testing.assert_allclose(views[0].maps["conv1"], [[5.0, 6.0]])  # image 3 is row 1 of plain: mean of 4..7
    np.testing.assert_allclose(views[1].maps["conv1"], [[10.0, 20.0]])  # and row 0 of se: 10 x mean of 0..3


def test_depth_table_stacks_models_and_table_runs_lists_them_once():
    def stored(model, seed):
        return DepthStatistics(model, seed, {"layer": ["relu1", "relu2"], "sparsity_mean": [0.1, 0.2]})

    table = summaries.depth_table([stored("plain", 0), stored("se", 1)])
    assert list(table["model"]) == ["plain", "plain", "se", "se"]
    assert list(table["sparsity_mean"]) == [0.1, 0.2, 0.1, 0.2]
    assert list(table.index) == [0, 1, 2, 3]
    assert summaries.table_runs(table) == [("plain", 0), ("se", 1)]


# Faithfulness


def test_the_runs_scores_are_each_runs_means_with_its_model_and_seed():
    runs = [
        faithfulness_artifact("plain", 0),
        faithfulness_artifact("se", 1, {"gradcam": [0.1, 0.3]}, {"gradcam": [0.5, 0.9]}),
    ]
    scores = summaries.run_scores(runs)
    assert list(zip(scores["model"], scores["seed"], scores["method"], strict=True)) == [
        ("plain", 0, "gradcam"),
        ("plain", 0, "random"),
        ("se", 1, "gradcam"),
    ]
    assert list(scores["deletion_auc"]) == pytest.approx([0.3, 0.5, 0.2])  # each row holds its own run's means
    se = scores.iloc[2]
    assert (se["insertion_auc"], se["score"], se["inverted_score"]) == pytest.approx((0.7, 0.5, -0.5))
    assert np.isnan(scores.iloc[1]["inverted_score"])  # the random map has no inversion
    assert (se["average_drop"], se["increase_in_confidence"], se["tied_share"]) == pytest.approx((0.1, 0.5, 0.25))
    assert list(scores.columns) == ["model", "seed", "method", *summaries.MEASURES]


def test_over_seeds_gives_the_mean_and_sample_std_per_model_and_method():
    runs = [
        faithfulness_artifact("se", 0, {"gradcam": [0.2, 0.4], "random": [0.5, 0.5]}),
        faithfulness_artifact("se", 1, {"gradcam": [0.4, 0.6], "random": [0.5, 0.7]}),
        faithfulness_artifact("plain", 0, {"gradcam": [0.1, 0.1], "random": [0.5, 0.5]}),
    ]
    table = summaries.over_seeds(summaries.run_scores(runs))
    assert list(zip(table["model"], table["method"], strict=True)) == [
        ("se", "gradcam"),
        ("se", "random"),
        ("plain", "gradcam"),
        ("plain", "random"),
    ]
    se_gradcam = table.iloc[0]
    assert se_gradcam["deletion_auc_mean"] == pytest.approx(0.4)  # seed means 0.3 and 0.5
    assert se_gradcam["deletion_auc_std"] == pytest.approx(np.std([0.3, 0.5], ddof=1))
    assert se_gradcam["insertion_auc_mean"] == pytest.approx(0.6)
    assert se_gradcam["score_mean"] == pytest.approx(0.2)
    assert se_gradcam["seeds"] == 2
    assert table.iloc[2]["seeds"] == 1 and np.isnan(table.iloc[2]["deletion_auc_std"])


def test_mean_curves_average_the_runs_curves_over_seeds():
    runs = [
        faithfulness_artifact("se", 0, {"gradcam": [0.2, 0.4]}),
        faithfulness_artifact("se", 1, {"gradcam": [0.4, 0.6]}),
    ]
    curves = summaries.mean_curves(runs)
    deletion = curves[curves["curve"] == "deletion"]
    assert list(deletion["fraction"]) == [0.0, 0.5, 1.0]
    np.testing.assert_allclose(deletion["probability"], [1.0, 0.5, 0.4])  # the last points: 0.3 and 0.5
    insertion = curves[curves["curve"] == "insertion"]
    np.testing.assert_allclose(insertion["probability"], [0.0, 0.5, 0.6])


def test_representative_runs_take_the_seed_or_each_models_first_run():
    runs = [faithfulness_artifact("se", 1), faithfulness_artifact("se", 0), faithfulness_artifact("plain", 0)]
    assert [(run.model, run.seed) for run in summaries.representative_runs(runs, 0)] == [("se", 0), ("plain", 0)]
    assert [(run.model, run.seed) for run in summaries.representative_runs(runs, None)] == [("se", 1), ("plain", 0)]
    with pytest.raises(CnnlensError, match="no faithfulness file of seed 1 for plain"):
        summaries.representative_runs(runs, 1)


def test_run_tables_stack_a_table_of_every_run_with_its_model_and_seed():
    runs = [
        faithfulness_artifact("se", 3),
        faithfulness_artifact("plain", 0, {"gradcam": [0.1, 0.2], "gaussian": [0.3, 0.3]}),
    ]
    removal = summaries.run_tables(runs, "removal")
    assert list(removal.columns[:4]) == ["model", "seed", "site", "criterion"]
    assert list(zip(removal["model"], removal["seed"], strict=True)) == [("se", 3)] * 4 + [("plain", 0)] * 4
    assert len(summaries.run_tables(runs, "sanity")) == 4 + 4


def test_removal_over_seeds_averages_each_condition():
    first, second = faithfulness_artifact("se", 0), faithfulness_artifact("se", 1)
    second.removal["accuracy"] = [0.5, 0.5, 0.5, 0.5]
    table = summaries.removal_over_seeds(summaries.run_tables([first, second], "removal"))
    assert list(table["ranking"]) == ["reference", "highest", "lowest", "random"]
    np.testing.assert_allclose(table["accuracy"], [0.75, 0.25, 0.75, 0.5])
    np.testing.assert_allclose(table["true_class_probability"], [0.9, 0.2, 0.8, 0.5])
    keys = ["model", "site", "criterion", "ranking", "fraction", "removed", "channels"]
    assert list(table.columns) == [*keys, "accuracy", "true_class_probability"]


def test_sanity_over_seeds_averages_the_similarities_and_adds_up_the_flat_maps():
    first, second = faithfulness_artifact("se", 0), faithfulness_artifact("se", 1)
    second.sanity["spearman"] = [value - 0.2 for value in second.sanity["spearman"]]
    second.sanity["flat_maps"] = [1] * len(second.sanity["flat_maps"])
    second.sanity_reference["spearman"] = [0.3] * len(second.sanity_reference["spearman"])
    steps, reference = summaries.sanity_over_seeds([first, second])
    gradcam = steps[steps["method"] == "gradcam"]
    np.testing.assert_allclose(gradcam["spearman"], [0.5, 0.1])  # 0.6 and 0.4, then 0.2 and 0.0
    assert list(gradcam["flat_maps"]) == [1, 1] and list(gradcam["images"]) == [4, 4]
    assert list(gradcam["uses"]) == [True, True]
    np.testing.assert_allclose(reference["spearman"], [0.2, 0.2])


def test_gallery_maps_keep_the_methods_that_use_the_model():
    run = faithfulness_artifact(deletion={"gradcam": [0.1, 0.2], "random": [0.5, 0.5], "gaussian": [0.4, 0.4]})
    maps = summaries.gallery_maps(run)
    assert list(maps) == ["gradcam"]
    np.testing.assert_array_equal(maps["gradcam"], run.gallery["gradcam"].numpy())


def test_faithfulness_setup_is_what_every_run_measured():
    runs = [faithfulness_artifact("se", 1), faithfulness_artifact("plain", 0)]
    setup = summaries.faithfulness_setup(runs)
    assert (setup.models, setup.seeds, setup.images, setup.steps) == (["se", "plain"], [0, 1], 2, 2)
    assert (setup.baseline, setup.size, setup.sanity_images) == ("blur", (8, 8), 2)
    runs[1].baseline = "mean"
    with pytest.raises(CnnlensError, match="made with different settings"):
        summaries.faithfulness_setup(runs)
