import pytest
import torch
import torchvision.transforms.functional as TF
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret import deletion_insertion as fa
from cnnlens.interpret.heatmap_methods import heatmaps
from cnnlens.interpret.heatmap_methods import inverted as inverted_maps
from cnnlens.interpret.scoring import default_batch_size, scoring_copy
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


def test_the_pixel_order_puts_the_strongest_first_and_knows_its_tie_groups():
    maps = torch.tensor([[[0.9, 0.1, 0.5], [0.5, 0.5, 0.0]]])  # values 0.9 | 0.5 0.5 0.5 | 0.1 | 0.0
    order = fa.pixel_order(maps)
    by_rank = maps.flatten(1).gather(1, order.ranks.argsort(1))
    assert by_rank.tolist() == [pytest.approx([0.9, 0.5, 0.5, 0.5, 0.1, 0.0])]
    # group ends at 0, 1, 4, 5, 6: a count inside the group of 0.5s lies between 1 and 4
    assert order.lower.tolist() == [[0, 1, 1, 1, 4, 5, 6]]
    assert order.upper.tolist() == [[0, 1, 4, 4, 4, 5, 6]]
    assert order.tied_share.tolist() == [pytest.approx(0.5)]
    distinct = fa.pixel_order(torch.rand(3, 6, 7))
    positions = torch.arange(43).expand(3, 43)
    assert torch.equal(distinct.lower, positions) and torch.equal(distinct.upper, positions)
    assert torch.equal(distinct.ranks.sort(1).values, torch.arange(42).expand(3, 42))  # a permutation per image
    assert torch.equal(fa.pixel_order(torch.zeros(1, 2, 2)).upper[0], torch.tensor([0, 4, 4, 4, 4]))
    with pytest.raises(CnnlensError, match="finite"):
        fa.pixel_order(torch.full((1, 2, 2), float("nan")))


def test_step_counts_are_equal_steps_from_none_to_all_pixels():
    assert fa.step_counts(1024, 16).tolist() == list(range(0, 1025, 64))
    assert fa.step_counts(10, 4).tolist() == [0, 2, 5, 7, 10]
    with pytest.raises(CnnlensError, match="1 step, got 0"):
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


def test_a_step_inside_a_tie_group_is_interpolated_between_the_groups_ends():
    model, images = region_model(), region_images(3)
    maps = torch.zeros(3, HEIGHT, WIDTH)
    maps[:, :2, :2] = 1.0  # 4 strong pixels, then 76 tied ones: steps of 20 pixels all fall in the tie
    curves = fa.deletion_insertion(model, images, maps, steps=4, baseline="mean")
    fills = fa.fill(images, "mean")
    strong = (maps > 0)[:, None]
    with torch.no_grad():
        clean = model(images).softmax(1)[:, 0]
        at_four = model(torch.where(strong, fills, images)).softmax(1)[:, 0]
        revealed_four = model(torch.where(strong, images, fills)).softmax(1)[:, 0]
        filled = model(fills).softmax(1)[:, 0]
    for step, count in enumerate(fa.step_counts(80, 4).tolist()[1:-1], start=1):
        weight = (count - 4) / (80 - 4)
        torch.testing.assert_close(curves.deletion[:, step], at_four + weight * (filled - at_four))
        torch.testing.assert_close(curves.insertion[:, step], revealed_four + weight * (clean - revealed_four))


def test_no_order_among_equal_pixels_changes_a_curve(monkeypatch):
    model, images = region_model(), region_images(4)
    maps = (torch.rand(4, HEIGHT, WIDTH) * 3).floor() / 3  # 4 levels: every pixel ties with many
    first = fa.deletion_insertion(model, images, maps, steps=8, baseline="mean")
    ordered = fa.pixel_order

    def reversed_ties(maps: torch.Tensor) -> fa.PixelOrder:
        """The same groups, each group's pixels in the opposite order."""
        order = ordered(maps)
        flipped = ordered(maps.flip(-1).flip(-2))
        ranks = flipped.ranks.view(-1, HEIGHT, WIDTH).flip(-1).flip(-2).flatten(1)
        assert not torch.equal(ranks, order.ranks)
        return fa.PixelOrder(ranks, order.lower, order.upper, order.tied_share)

    monkeypatch.setattr(fa, "pixel_order", reversed_ties)
    second = fa.deletion_insertion(model, images, maps, steps=8, baseline="mean")
    torch.testing.assert_close(first.deletion, second.deletion)
    torch.testing.assert_close(first.insertion, second.insertion)


def test_twice_the_steps_hold_the_curve_of_the_steps_at_every_other_point():
    model = random_cnn()
    images = torch.randn(3, 3, 32, 32)
    maps = (torch.rand(3, 32, 32) * 5).floor()
    fine = fa.deletion_insertion(model, images, maps, steps=16)
    coarse = fa.deletion_insertion(model, images, maps, steps=8)
    coarsened = fine.coarser(2)
    torch.testing.assert_close(coarsened.fractions, coarse.fractions)
    torch.testing.assert_close(coarsened.deletion, coarse.deletion, rtol=0, atol=1e-6)
    torch.testing.assert_close(coarsened.insertion, coarse.insertion, rtol=0, atol=1e-6)
    with pytest.raises(CnnlensError, match=r"^8 steps .*\b3$"):
        coarse.coarser(3)


def test_the_score_is_insertion_minus_deletion_auc():
    fractions = torch.tensor([0.0, 0.5, 1.0])
    curves = fa.Curves(fractions, torch.tensor([[1.0, 0.2, 0.0]]), torch.tensor([[0.0, 0.8, 1.0]]), torch.zeros(1))
    torch.testing.assert_close(curves.score, torch.tensor([0.65 - 0.35]))


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
    with pytest.raises(CnnlensError) as raised:
        fa.deletion_insertion(model, images, torch.rand(2, 8, 9))
    assert "(N, H, W) = (2, 8, 10)" in str(raised.value) and "(2, 8, 9)" in str(raised.value)  # wanted, given
    with pytest.raises(CnnlensError, match="finite"):
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
    with pytest.raises(CnnlensError, match=r"\[0, 1\]"):
        fa.average_drop_increase(model, images, maps * 2)


def test_masking_away_counter_evidence_is_an_increase_in_confidence():
    model, images = region_model(), region_images()
    images[:, 0, 0, 0] = -2.0  # one pixel of the patch speaks against class 0, which still wins
    maps = torch.ones(len(images), HEIGHT, WIDTH)
    maps[:, 0, 0] = 0.0  # the map leaves exactly that pixel out
    drop, increase = fa.average_drop_increase(model, images, maps)
    assert increase.all() and torch.equal(drop, torch.zeros(len(images)))


# ---- the whole evaluation ----


def test_evaluation_scores_every_method_and_its_controls_and_leaves_the_model_as_it_was():
    model = random_cnn("attention").train()
    model.get_submodule("ca2").eval()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    images = torch.randn(6, 3, 32, 32)
    evaluation = fa.evaluate_faithfulness(model, images, steps=4, seed=2)
    maps = heatmaps(model, images, seed=2)
    assert list(evaluation.scores) == list(maps) == ["channels", "gradcam", "deconvnet", "random", "gaussian"]
    for name, scores in evaluation.scores.items():
        single = fa.deletion_insertion(model, images, maps[name], steps=4)
        torch.testing.assert_close(scores.curves.deletion, single.deletion)
        torch.testing.assert_close(scores.curves.insertion, single.insertion)
        assert scores.increase.dtype == torch.bool and scores.average_drop.shape == (6,)
        torch.testing.assert_close(scores.tied_share, fa.pixel_order(maps[name]).tied_share)
    assert list(evaluation.inverted) == ["channels", "gradcam", "deconvnet"]  # the baselines have no inversion
    inverted = fa.deletion_insertion(model, images, inverted_maps(maps["gradcam"]), steps=4)
    torch.testing.assert_close(evaluation.inverted["gradcam"].deletion, inverted.deletion)
    assert evaluation.knob_settings == {"fill": ("mean", 4), "steps": ("blur", 8)}
    other_fill = fa.deletion_insertion(model, images, maps["gradcam"], steps=4, baseline="mean")
    torch.testing.assert_close(evaluation.knobs["fill"]["gradcam"].insertion, other_fill.insertion)
    assert evaluation.knobs["steps"]["gradcam"].deletion.shape == (6, 9)
    alone = fa.evaluate_faithfulness(model, images, steps=4, seed=2, controls=False)
    assert alone.inverted == {} and alone.knobs == {}
    torch.testing.assert_close(alone.scores["channels"].curves.deletion, evaluation.scores["channels"].curves.deletion)
    given = fa.evaluate_faithfulness(model, images, steps=4, maps={"mine": torch.rand(6, 32, 32)}, controls=False)
    assert list(given.scores) == ["mine"] and given.scores["mine"].curves.deletion.shape == (6, 5)
    assert (
        model.training
        and model.get_submodule("ca1").training
        and not model.get_submodule("ca2").training
        and hook_count(model) == 0
    )
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
    assert any(isinstance(module, nn.BatchNorm2d) for module in model.modules())  # folding happened on a copy


def test_the_scoring_copy_computes_what_the_model_does_without_batchnorm():
    model = random_cnn(Architecture(attention="cbam"))
    copy = scoring_copy(model)
    assert not any(isinstance(module, nn.BatchNorm2d) for module in copy.modules())
    assert any(isinstance(module, nn.BatchNorm2d) for module in model.modules())
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(copy(images), model.eval()(images), rtol=1e-5, atol=1e-5)


def test_batches_are_small_on_the_cpu_and_large_on_an_accelerator():
    assert default_batch_size(torch.device("cpu")) == 64
    assert default_batch_size(torch.device("cuda", 0)) == 1024
    with pytest.raises(CnnlensError, match=r"batch size .*1, got 0"):
        fa.deletion_insertion(region_model(), region_images(2), patch_map(2), batch_size=0)
