import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from scipy import stats
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret import deletion_insertion as fa
from cnnlens.interpret.channel_maps import activation_heatmaps, normalize_map, upsample
from cnnlens.interpret.deconvnet import deconv_project
from cnnlens.interpret.gradcam import grad_cam
from cnnlens.interpret.hooks import capture
from cnnlens.interpret.spatial_attention import spatial_attention_heatmap, spatial_attention_maps, upsample_attention
from cnnlens.models.cnn import Architecture, CifarCNN, build_model

from helpers import with_trained_batchnorm

HEIGHT, WIDTH = 8, 10


def region_model() -> nn.Sequential:
    """Class 0's logit is the sum of the red channel over the top-left 4x4 patch; class 1's is a constant.

    So the evidence for class 0 lies exactly in that patch, and a faithful map is one that marks it.
    """
    linear = nn.Linear(3 * HEIGHT * WIDTH, 2)
    with torch.no_grad():
        linear.weight.zero_()
        linear.weight[0].view(3, HEIGHT, WIDTH)[0, :4, :4] = 1.0
        linear.bias.copy_(torch.tensor([0.0, 2.0]))
    return nn.Sequential(nn.Flatten(), linear)


def region_images(count: int = 12) -> torch.Tensor:
    torch.manual_seed(0)
    images = torch.randn(count, 3, HEIGHT, WIDTH) * 0.3
    images[:, 0, :4, :4] += 1.0  # class 0 wins on every image
    return images


def patch_map(count: int, inverted: bool = False) -> torch.Tensor:
    torch.manual_seed(1)
    maps = torch.rand(count, HEIGHT, WIDTH) * 0.1
    maps[:, :4, :4] += 1.0
    return 1.1 - maps if inverted else maps


def random_cnn(name: str | Architecture = "plain") -> CifarCNN:
    torch.manual_seed(0)
    model = build_model(name)
    return with_trained_batchnorm(model)


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


# ---- pixel order and steps ----


def test_pixel_ranks_order_each_image_by_its_map_strongest_first():
    maps = torch.rand(4, 6, 7)
    ranks = fa.pixel_ranks(maps, seed=0)
    assert ranks.shape == (4, 42)
    assert torch.equal(ranks.sort(1).values, torch.arange(42).expand(4, 42))  # a permutation per image
    by_rank = maps.flatten(1).gather(1, ranks.argsort(1))  # the map's values in the order of deletion
    assert (by_rank[:, :-1] >= by_rank[:, 1:]).all()


def test_ties_are_broken_at_random_and_reproducibly_by_the_seed():
    maps = torch.zeros(3, 6, 7)
    maps[:, 2:4, 2:4] = 1.0  # 4 strong pixels, 38 tied ones
    first, again, other = fa.pixel_ranks(maps, 0), fa.pixel_ranks(maps, 0), fa.pixel_ranks(maps, 1)
    assert torch.equal(first, again) and not torch.equal(first, other)
    strong = maps.flatten(1) > 0
    assert (first[strong] < 4).all()  # the ties never jump ahead of the strong pixels
    assert not torch.equal(first[0], first[1])  # each image draws its own order
    in_reading_order = torch.arange(42).expand(3, 42)
    assert not torch.equal(first[~strong].view(3, -1).argsort(1), in_reading_order[:, :38])


def test_step_counts_are_equal_steps_from_none_to_all_pixels():
    assert fa.step_counts(1024, 16).tolist() == list(range(0, 1025, 64))
    assert fa.step_counts(10, 4).tolist() == [0, 2, 5, 7, 10]
    with pytest.raises(CnnlensError, match="at least 1 step"):
        fa.step_counts(10, 0)


# ---- the fill ----


def test_the_blur_is_a_gaussian_of_sigma_an_eighth_of_the_image_truncated_at_three_sigma():
    images = torch.randn(2, 3, 32, 48)
    torch.testing.assert_close(fa.blurred(images), TF.gaussian_blur(images, [25, 25], [4.0, 4.0]))
    constant = torch.full((1, 3, 32, 32), 0.7)
    torch.testing.assert_close(fa.blurred(constant), constant)
    small = torch.randn(1, 3, 6, 10)  # sigma 0.75: kernel 2 * ceil(2.25) + 1 = 7 fits a 6-pixel side (at most 11)
    torch.testing.assert_close(fa.blurred(small), TF.gaussian_blur(small, [7, 7], [0.75, 0.75]))
    tiny = torch.randn(1, 3, 3, 3)  # a kernel wider than 2 * 3 - 1 could not reflect: clamped to 5
    torch.testing.assert_close(fa.blurred(tiny), TF.gaussian_blur(tiny, [5, 5], [0.375, 0.375]))


def test_the_mean_fill_is_each_images_mean_colour():
    images = torch.randn(2, 3, 4, 5)
    filled = fa.fill(images, "mean")
    assert torch.allclose(filled, images.mean((2, 3))[:, :, None, None].expand_as(images))
    with pytest.raises(CnnlensError, match="unknown baseline 'zeros'"):
        fa.fill(images, "zeros")


# ---- deletion and insertion ----


def test_curves_start_and_end_at_the_clean_and_the_filled_image():
    model, images = region_model(), region_images()
    curves = fa.deletion_insertion(model, images, patch_map(len(images)), steps=5, baseline="mean")
    probabilities = model(images).softmax(1)
    filled = model(fa.fill(images, "mean")).softmax(1)
    assert torch.equal(curves.classes, torch.zeros(len(images), dtype=torch.long))
    torch.testing.assert_close(curves.fractions, torch.tensor([0, 0.2, 0.4, 0.6, 0.8, 1.0]))
    assert curves.deletion.shape == curves.insertion.shape == (len(images), 6)
    torch.testing.assert_close(curves.deletion[:, 0], probabilities[:, 0].detach())
    torch.testing.assert_close(curves.insertion[:, -1], probabilities[:, 0].detach())
    torch.testing.assert_close(curves.deletion[:, -1], filled[:, 0].detach())
    torch.testing.assert_close(curves.insertion[:, 0], filled[:, 0].detach())


def test_auc_is_the_trapezoid_rule_over_the_fraction_of_pixels():
    fractions = torch.tensor([0.0, 0.25, 0.5, 1.0])
    curve = torch.tensor([[1.0, 0.5, 0.25, 0.0], [0.0, 0.0, 1.0, 1.0]])
    curves = fa.Curves(fractions, curve, curve.flip(1), torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(curves.deletion_auc, torch.tensor([0.1875 + 0.09375 + 0.0625, 0.125 + 0.5]))
    torch.testing.assert_close(curves.insertion_auc, torch.tensor([0.03125 + 0.09375 + 0.375, 0.25 + 0.125 + 0.0]))


def test_a_map_of_the_evidence_deletes_faster_and_inserts_faster_than_its_inverse():
    model, images = region_model(), region_images()
    good = fa.deletion_insertion(model, images, patch_map(len(images)), steps=8, baseline="mean")
    bad = fa.deletion_insertion(model, images, patch_map(len(images), inverted=True), steps=8, baseline="mean")
    assert (good.deletion_auc < bad.deletion_auc).all()
    assert (good.insertion_auc > bad.insertion_auc).all()
    # the patch is 16 of 80 pixels: after 20 % of the good order it is gone, the curve is flat from there on
    torch.testing.assert_close(good.deletion[:, 2:], good.deletion[:, -1:].expand(-1, 7))


def test_results_do_not_depend_on_the_batch_size():
    model = random_cnn()
    images = torch.randn(5, 3, 32, 32)
    maps = torch.rand(5, 32, 32)
    small = fa.deletion_insertion(model, images, maps, steps=4, batch_size=3)
    large = fa.deletion_insertion(model, images, maps, steps=4, batch_size=1000)
    torch.testing.assert_close(small.deletion, large.deletion, rtol=0, atol=1e-6)
    torch.testing.assert_close(small.insertion, large.insertion, rtol=0, atol=1e-6)
    one_step = fa.deletion_insertion(model, images, maps, steps=1)
    torch.testing.assert_close(one_step.deletion, large.deletion[:, [0, -1]], rtol=0, atol=1e-6)


def test_maps_of_the_wrong_shape_are_refused():
    model, images = region_model(), region_images(2)
    with pytest.raises(CnnlensError, match=r"heatmaps must be \(N, H, W\) = \(2, 8, 10\)"):
        fa.deletion_insertion(model, images, torch.rand(2, 8, 9))
    with pytest.raises(CnnlensError, match="must be finite"):
        fa.deletion_insertion(model, images, torch.full((2, 8, 10), float("nan")))


# ---- Average Drop and Increase in Confidence ----


def test_average_drop_and_increase_follow_torch_cams_formulas():
    model, images = region_model(), region_images()
    maps = torch.rand(len(images), HEIGHT, WIDTH)
    maps[:3] = 1.0  # unmasked: no drop, no increase (torch-cam's increase is strict)
    maps[3:5, :4, :4] = 2.0 / 3  # the patch dimmed: a drop; the rest dimmed too, only the patch counts here
    maps[5:7] = 0.0  # everything masked: the class falls to its prior
    drop, increase = fa.average_drop_increase(model, images, maps)
    with torch.no_grad():
        p = model(images).softmax(1)[:, 0]
        masked = model(images * maps[:, None]).softmax(1)[:, 0]
    torch.testing.assert_close(drop, torch.relu(p - masked) / (p + 1e-7))
    assert torch.equal(increase, p < masked)
    assert torch.equal(drop[:3], torch.zeros(3)) and not increase[:3].any()
    assert (drop[3:7] > 0).all()
    with pytest.raises(CnnlensError, match=r"scale them to \[0, 1\]"):
        fa.average_drop_increase(model, images, maps * 2)


def test_masking_away_counter_evidence_is_an_increase_in_confidence():
    model, images = region_model(), region_images()
    images[:, 0, 0, 0] = -2.0  # one pixel of the patch speaks against class 0, which still wins
    maps = torch.ones(len(images), HEIGHT, WIDTH)
    maps[:, 0, 0] = 0.0  # the map leaves exactly that pixel out
    drop, increase = fa.average_drop_increase(model, images, maps)
    assert increase.all() and torch.equal(drop, torch.zeros(len(images)))


# ---- the methods ----


def test_the_channel_heatmap_is_the_mean_of_the_sources_three_channel_maps():
    model = random_cnn("attention")
    images = torch.randn(4, 3, 32, 32)
    maps = fa.channel_heatmap(model, images)
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
    maps = fa.heatmaps(model, images, seed=5)
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
    assert torch.equal(fa.random_heatmap(2, (5, 6), seed=3), fa.random_heatmap(2, (5, 6), seed=3))
    assert not torch.equal(fa.random_heatmap(2, (5, 6), seed=3), fa.random_heatmap(2, (5, 6), seed=4))
    bump = fa.gaussian_heatmap(2, (9, 13))
    assert torch.equal(bump[0], bump[1]) and bump[0, 4, 6] == 1.0 and bump[0, 0, 0] == 0.0
    # sigma is a quarter of each side (9 / 4 and 13 / 4); min-max scaling maps the corners to 0
    side = torch.exp(torch.tensor(-0.5 * (1 / 3.25) ** 2))  # one column off the centre, sigma 13/4
    corner = torch.exp(torch.tensor(-0.5 * (4 / 2.25) ** 2 - 0.5 * (6 / 3.25) ** 2))
    torch.testing.assert_close(bump[0, 4, 7], (side - corner) / (1 - corner))


def test_methods_follow_the_model():
    assert fa.available_methods(build_model("plain")) == ("channels", "gradcam", "deconvnet", "random", "gaussian")
    assert "spatial_attention" in fa.available_methods(build_model(Architecture(attention="cbam")))
    with pytest.raises(CnnlensError, match=r"\['spatial_attention'\] do not apply"):
        fa.heatmaps(build_model("attention"), torch.randn(1, 3, 32, 32), ["gradcam", "spatial_attention"])


# ---- the whole evaluation ----


def test_evaluation_scores_every_method_and_leaves_the_model_as_it_was():
    model = random_cnn("attention").train()
    model.get_submodule("ca2").eval()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    images = torch.randn(6, 3, 32, 32)
    results = fa.evaluate_faithfulness(model, images, steps=4, seed=2)
    assert list(results) == ["channels", "gradcam", "deconvnet", "random", "gaussian"]
    for name, scores in results.items():
        assert scores.method == name and scores.deletion_auc.shape == scores.insertion_auc.shape == (6,)
        assert scores.curves.deletion.shape == (6, 5) and scores.increase.dtype == torch.bool
        single = fa.deletion_insertion(model, images, fa.heatmaps(model, images, [name], seed=2)[name], steps=4, seed=2)
        torch.testing.assert_close(scores.curves.deletion, single.deletion)
        torch.testing.assert_close(scores.curves.insertion, single.insertion)
    given = fa.evaluate_faithfulness(model, images, steps=4, seed=2, maps={"mine": torch.rand(6, 32, 32)})
    assert list(given) == ["mine"] and given["mine"].curves.deletion.shape == (6, 5)
    assert (
        model.training
        and model.get_submodule("ca1").training
        and not model.get_submodule("ca2").training
        and hook_count(model) == 0
    )
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
    assert any(isinstance(module, nn.BatchNorm2d) for module in model.modules())  # folding happened on a copy
    table = fa.faithfulness_table(results)
    assert list(table["method"]) == list(results)
    gradcam = results["gradcam"]
    assert table.loc[1, "deletion_auc"] == pytest.approx(gradcam.deletion_auc.mean().item())
    assert table.loc[1, "insertion_auc"] == pytest.approx(gradcam.insertion_auc.mean().item())
    assert table.loc[1, "average_drop"] == pytest.approx(gradcam.average_drop.mean().item())
    assert table.loc[1, "increase_in_confidence"] == pytest.approx(gradcam.increase.float().mean().item())
    assert table.loc[1, "images"] == len(gradcam.deletion_auc)


def test_the_scoring_copy_computes_what_the_model_does_without_batchnorm():
    model = random_cnn(Architecture(attention="cbam"))
    copy = fa.scoring_copy(model)
    assert not any(isinstance(module, nn.BatchNorm2d) for module in copy.modules())
    assert any(isinstance(module, nn.BatchNorm2d) for module in model.modules())
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(copy(images), model.eval()(images), rtol=1e-5, atol=1e-5)


def scores(method: str, deletion: list[float]) -> fa.MethodScores:
    values = torch.tensor(deletion)
    curves = fa.Curves(torch.tensor([0.0, 1.0]), values[:, None].expand(-1, 2), values[:, None].expand(-1, 2), values)
    return fa.MethodScores(method, curves, values, 1 - values, values, values > 0.5)


def test_the_paired_comparison_is_a_wilcoxon_test_per_pair_with_holms_adjustment():
    a = [0.1, 0.2, 0.15, 0.3, 0.25, 0.05, 0.12, 0.22]
    b = [0.3, 0.35, 0.2, 0.5, 0.45, 0.25, 0.3, 0.4]
    c = [0.11, 0.18, 0.18, 0.315, 0.245, 0.075, 0.132, 0.18]  # a - c: distinct sizes, mostly negative
    results = {"a": scores("a", a), "b": scores("b", b), "c": scores("c", c)}
    table = fa.paired_comparison(results)
    assert list(zip(table["method_a"], table["method_b"], strict=True)) == [("a", "b"), ("a", "c"), ("b", "c")]
    for row in table.itertuples():
        first, second = results[row.method_a].deletion_auc, results[row.method_b].deletion_auc
        expected = stats.wilcoxon((first - second).double().numpy())
        assert row.p_value == pytest.approx(expected.pvalue) and row.statistic == pytest.approx(expected.statistic)
        assert row.median_difference == pytest.approx(np.median((first - second).double().numpy()))
    ordered = sorted(table["p_value"])
    holm = sorted(table["p_holm"])
    assert holm[0] == pytest.approx(min(1, 3 * ordered[0]))
    assert holm[1] == pytest.approx(max(holm[0], min(1, 2 * ordered[1])))
    assert holm[2] == pytest.approx(max(holm[1], ordered[2]))
    assert list(table["favours"]) == ["a", "a", "c"]  # lower deletion AUC is better
    insertion = fa.paired_comparison(results, "insertion_auc")  # 1 - deletion here: higher is better
    assert list(insertion["favours"]) == ["a", "a", "c"]
    # The ranks decide, not the median: five small wins for a, four large ones for b.
    split = {"a": scores("a", [0.49] * 5 + [1.0] * 4), "b": scores("b", [0.5] * 5 + [0.5, 0.4, 0.3, 0.2])}
    row = fa.paired_comparison(split).iloc[0]
    assert row.median_difference == pytest.approx(-0.01) and row.signed_ranks == pytest.approx(30 - 15)
    assert row.favours == "b"
    same = fa.paired_comparison({"a": scores("a", a), "a2": scores("a2", a)})
    assert same.loc[0, "p_value"] == 1.0 and same.loc[0, "favours"] == ""
    with pytest.raises(CnnlensError, match="unknown metric 'accuracy'"):
        fa.paired_comparison(results, "accuracy")


def test_batches_are_small_on_the_cpu_and_large_on_an_accelerator():
    assert fa.default_batch_size(torch.device("cpu")) == 64
    assert fa.default_batch_size(torch.device("cuda", 0)) == 1024
    with pytest.raises(CnnlensError, match="batch size must be at least 1, got 0"):
        fa.deletion_insertion(region_model(), region_images(2), patch_map(2), batch_size=0)


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
    assert torch.equal(fa.attention_heatmap(model, images), torch.zeros(2, 31, 45))
