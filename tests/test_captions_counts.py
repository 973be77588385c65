"""Every text that counts something agrees with its count ("1 step", "2 steps") and every class name after an
article takes the right one ("an airplane", "a bird"); Chinese words the same fields with neither."""

import string

import pandas as pd
import pytest

from cnnlens.plots import channel_weights, curves, feature_maps
from cnnlens.texts import CIFAR10_CLASS_NAMES, class_names, table, text

# (key, field, the English phrase with the count 1, with the count 2, the Chinese phrase with the count 2); the
# phrases hold some of the words around the field, so that they match only where the field is filled as expected.
COUNTED = [
    ("curves.iteration_losses_caption", "epochs", "; 1 epoch, batch", "; 2 epochs, batch", "；2 轮，"),
    ("feature_maps.run", "images", "for 1 test image.", "for 2 test images.", "2 张测试图像在"),
    ("feature_maps.mode_first", "n", "the first 1 channel", "the first 2 channels", "前 2 个通道"),
    ("feature_maps.mode_last", "n", "the last 1 channel", "the last 2 channels", "后 2 个通道"),
    (
        "feature_maps.mode_top",
        "n",
        "the 1 most active channel (highest mean)",
        "the 2 most active channels (highest mean)",
        "（均值最高）的 2 个通道",
    ),
    ("feature_maps.pca_chosen_title", "count", "PCA of 1 chosen channel,", "PCA of 2 chosen channels,", "2 个选定通道"),
    ("feature_maps.pca_chosen_caption", "count", "to 1 channel of each", "to 2 channels of each", "每层的 2 个通道"),
    ("channel_weights.run", "images", ", 1 test image.", ", 2 test images.", "，2 张测试图像。"),
    ("channel_weights.distribution_title", "images", ": 1 image ×", ": 2 images ×", "：2 张图像 ×"),
    (
        "channel_weights.distributions_caption",
        "images",
        "the 1 test image. Top",
        "the 2 test images. Top",
        "2 张测试图像上",
    ),
    (
        "channel_weights.class_caption",
        "per_class",
        "(1 test image per class)",
        "(2 test images per class)",
        "每类 2 张",
    ),
    ("channel_weights.class_spatial_caption", "per_class", "; 1 test image per", "; 2 test images per", "每类 2 张"),
    ("explain.zfnet_title", "count", "top 1 test image per", "top 2 test images per", "最强的 2 张测试图像"),
    ("explain.zfnet_caption", "images", "the 1 image of the", "the 2 images of the", "最大的 2 张图像"),
    ("depth.table_paragraph", "images", "(1 image)", "(2 images)", "（2 张图像）"),
    ("faithfulness.curves_caption", "steps", "in 1 equal step (", "in 2 equal steps (", "分 2 个等步"),
    ("faithfulness.curves_caption", "images", "the 1 scored test image of", "the 2 scored test images of", "2 张评分"),
    ("faithfulness.score_paragraph", "images", "the 1 scored test image of", "the 2 scored test images of", "2 张评分"),
    ("faithfulness.score_paragraph", "steps", "and 1 step:", "and 2 steps:", "分 2 步："),
    (
        "faithfulness.tests_paragraph",
        "images",
        "same 1 test image with",
        "same 2 test images with",
        "同样 2 张测试图像",
    ),
    ("faithfulness.knob_paragraph", "steps", "(X, 1 step)", "(X, 2 steps)", "（X，2 步）"),
    ("faithfulness.removal_caption", "images", "the 1 scored test image of", "the 2 scored test images of", "2 张评分"),
    ("faithfulness.removal_paragraph", "images", "the 1 scored test image (", "the 2 scored test images (", "2 张评分"),
    ("faithfulness.removal_paragraph", "tests", "over all 1 row;", "over all 2 rows;", "全部 2 行"),
    ("faithfulness.removal_verdict", "total", "X of 1 condition and", "X of 2 conditions and", "在 2 种条件中"),
    (
        "faithfulness.sanity_paragraph",
        "images",
        "first 1 scored test image are",
        "first 2 scored test images are",
        "前 2 张",
    ),
    (
        "faithfulness.sanity_curves_caption",
        "images",
        "first 1 scored test image before",
        "first 2 scored test images before",
        "前 2 张",
    ),
    ("faithfulness.sanity_passes", "images", "X of the 1 map flat", "X of the 2 maps flat", "2 张图中 X 张平坦"),
    ("comparison.verdict_noise", "pairs", "(1 pair of seeds,", "(2 pairs of seeds,", "共 2 对种子"),
    ("header.accuracy_lead", "epochs", "after 1 epoch, mean", "after 2 epochs, mean", "训练 2 轮后"),
    ("banner.quick_run", "epochs", "Quick run: 1 epoch instead", "Quick run: 2 epochs instead", "只训练了 2 轮，"),
]


def rendered(key: str, **values: object) -> str:
    """The text ``key`` with ``values``, and every other field of it filled with X."""
    template = table("en")[key]
    fields = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    return text(key, **(dict.fromkeys(fields, "X") | values))


IDS = [f"{key}:{field}" for key, field, *_ in COUNTED]


@pytest.mark.parametrize(("key", "field", "one", "two", "_chinese"), COUNTED, ids=IDS)
def test_a_count_agrees_with_its_noun(key, field, one, two, _chinese):
    assert one in rendered(key, **{field: 1})
    assert two in rendered(key, **{field: 2})


@pytest.mark.parametrize(("key", "field", "_one", "_two", "phrase"), COUNTED, ids=IDS)
def test_chinese_counts_in_its_own_words(chinese, key, field, _one, _two, phrase):
    words = rendered(key, **{field: 2})
    assert phrase in words
    assert "(s)" not in words and "count" not in words


def test_the_feature_map_caption_puts_the_right_article_before_the_true_class():
    def caption(true: str) -> str:
        return feature_maps.feature_maps_caption(7, true, "dog", "plain", 1, [0, 1, 2], ["conv1"])

    assert caption("airplane").startswith("Test image #7, an airplane that the plain CNN (seed 1) classifies as dog")
    assert caption("bird").startswith("Test image #7, a bird that the plain CNN (seed 1) classifies as dog")
    assert caption("Owl").startswith("Test image #7, an Owl that")  # an ImageFolder set's own folder name


def test_the_chinese_feature_map_caption_has_no_article(chinese):
    airplane = class_names(CIFAR10_CLASS_NAMES)[0]
    caption = feature_maps.feature_maps_caption(7, airplane, "狗", "plain", 1, [0, 1, 2], ["conv1"])
    assert caption.startswith("测试图像 #7，真实类别为“飞机”，")


@pytest.mark.parametrize(
    ("epochs", "phrase"), [([1], "; 1 epoch, batch"), ([2], "; 2 epochs, batch"), ([1, 2], "; 1, 2 epochs, batch")]
)
def test_the_training_loss_caption_counts_the_epochs_of_every_run(epochs, phrase):
    assert phrase in curves.iteration_losses_caption([("plain", 0)], epochs, [64])


def test_the_feature_map_texts_count_images_and_channels():
    assert "for 1 test image. Each" in feature_maps.run_paragraph("plain", 0, ["conv1"], 1, 1, 1)
    assert "for 2 test images. Each" in feature_maps.run_paragraph("plain", 0, ["conv1"], 2, 2, 2)
    assert feature_maps.channel_grid_title("conv2", "first", 1) == "conv2: the first 1 channel"
    assert feature_maps.channel_grid_title("conv2", "first", 2) == "conv2: the first 2 channels"
    assert feature_maps.pca_title(1) == "PCA of 1 chosen channel, per layer and selection"


@pytest.mark.parametrize(
    ("per_class", "phrase"),
    [((1, 1), "(1 test image per class)"), ((2, 2), "(2 test images per class)"), ((1, 3), "(1 to 3 test images")],
)
def test_the_class_heatmap_caption_counts_the_images_per_class(per_class, phrase):
    means = pd.DataFrame([[0.1, 0.2], [0.3, 0.4]])
    caption = channel_weights.class_heatmap_caption("ca3", "se", 0, per_class, means, pd.Series([0.1, 0.2]))
    assert phrase in caption
