"""What figures and captions share: the words for numbers, lists, runs and images."""

import base64
import warnings

import pytest

from cnnlens.plots import style


@pytest.mark.parametrize(
    ("number", "words"),
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (13, "13th"), (21, "21st"),
     (90, "90th"), (99, "99th"), (99.5, "99.5th"), (101, "101st"), (111, "111th")],
)  # fmt: skip
def test_ordinal_follows_english_suffixes(number, words):
    assert style.ordinal(number) == words


@pytest.mark.parametrize(
    ("quantile", "words"),
    [(0.01, "1st"), (0.1, "10th"), (0.29, "29th"), (0.57, "57th"), (0.99, "99th"), (0.995, "99.5th")],
)
def test_percentile_names_a_quantile_without_rounding_noise(quantile, words):
    assert style.percentile(quantile) == words


def test_lists_runs_and_images_read_as_running_text(text_keys):
    assert style.listing(["conv1", "conv2", 3]) == "conv1⟨style.list_separator⟩conv2⟨style.list_separator⟩3"
    assert style.run_name("plain", 2) == "⟨style.run model=plain seed=2⟩"
    assert style.run_names([("plain", 0), ("se", 1)]) == (
        "⟨style.run_short model=plain seed=0⟩⟨style.list_separator⟩⟨style.run_short model=se seed=1⟩"
    )
    assert style.image_names([3, 10]) == "⟨style.image index=3⟩⟨style.list_separator⟩⟨style.image index=10⟩"
    assert style.count_range(2, 2) == "2" and style.count_range(1, 3) == "⟨style.range low=1 high=3⟩"
    assert style.line_style("--") == "⟨style.line_dashed⟩" and style.line_style(":") == "⟨style.line_dotted⟩"


def test_image_labels_name_index_true_and_predicted_class(text_keys):
    labels = style.image_labels([7, 9], [0, 1], [1, 1], ["cat", "dog"])
    assert labels == [
        "⟨style.image_label index=7 true=cat predicted=dog⟩",
        "⟨style.image_label index=9 true=dog predicted=dog⟩",
    ]


def test_layer_kinds_say_what_each_output_is(text_keys):
    assert style.layer_kinds(["conv1", "relu2"]) == (
        "⟨style.layer_kind layer=conv1 kind=⟨style.layer_conv⟩⟩⟨style.clause_separator⟩"
        "⟨style.layer_kind layer=relu2 kind=⟨style.layer_relu⟩⟩"
    )


@pytest.mark.parametrize(
    ("layer", "described"),
    [("conv2", "⟨style.layer_conv⟩"), ("bn1", "⟨style.layer_bn⟩"), ("relu3", "⟨style.layer_relu⟩"),
     ("pool1", "⟨style.layer_pool⟩"), ("ca2", "⟨style.layer_ca⟩"), ("fc1", "⟨style.layer_other layer=fc1⟩")],
    ids=["conv", "bn", "relu", "pool", "ca", "other"],
)  # fmt: skip
def test_layers_are_described_for_captions_by_their_kind(text_keys, layer, described):
    assert style.describe_layer(layer) == described


def test_the_report_style_makes_a_missing_glyph_an_error_not_a_box(tmp_path):
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    from cnnlens.texts import set_language, text

    try:
        with warnings.catch_warnings(), mpl.rc_context():  # the report style's settings end with the test
            style.use_report_style("zh")
            assert text("header.verdict_title") == "结论" and plt.rcParams["figure.dpi"] == style.CSS_DPI
            figure, axes = plt.subplots()
            axes.set_title("卷积 conv1")  # in the CJK font: drawn
            figure.savefig(tmp_path / "drawn.png")
            axes.set_title("\U0001d11e")  # a musical symbol that no bundled font has: a box
            with pytest.raises(UserWarning, match=r"^Glyph \d+ "):
                figure.savefig(tmp_path / "boxed.png")
            plt.close(figure)
    finally:
        set_language("en")
        style.use_fonts("en")


@pytest.mark.parametrize(
    ("count", "sizes"),
    [(0, []), (1, [1]), (3, [3]), (4, [2, 2]), (7, [3, 2, 2]), (10, [3, 3, 2, 2]), (20, [3] * 6 + [2])],
)
def test_a_grid_of_images_is_cut_into_the_fewest_even_parts_of_at_most_three_rows(count, sizes):
    parts = style.figure_parts(count)
    assert [part.stop - part.start for part in parts] == sizes
    assert [index for part in parts for index in range(count)[part]] == list(range(count))  # each image once


def test_a_parts_caption_says_how_many_images_follow_and_a_later_part_names_its_own(text_keys):
    indices = [3, 10, 21, 30, 44, 52]
    assert style.part_caption("⟨c⟩", slice(0, 4), indices) == "⟨style.first_part caption=⟨c⟩ rest=2⟩"  # 4 of 6
    assert style.part_caption("⟨c⟩", slice(4, 6), indices) == (
        "⟨style.next_part images=⟨style.image index=44⟩⟨style.list_separator⟩⟨style.image index=52⟩⟩"
    )
    assert style.part_caption("⟨c⟩", slice(0, 6), indices) == "⟨c⟩"  # the whole grid in one figure


def test_the_smallest_text_is_of_what_is_drawn_and_the_notebooks_png_carries_it():
    import matplotlib.pyplot as plt

    figure, (shown, hidden) = plt.subplots(1, 2, figsize=(4, 2))
    shown.set_title("title", fontsize=9)
    shown.tick_params(labelsize=7.5)
    hidden.set_xticks([0, 1], ["a", "b"], fontsize=3)
    hidden.axis("off")  # its tick labels are not drawn
    shown.text(0.5, 0.5, " ", fontsize=2)  # nor is blank text
    png, metadata = style.retina_png(figure)
    assert metadata[style.SMALLEST_TEXT_KEY] == 7.5
    width = int.from_bytes(base64.b64decode(png)[16:20], "big")  # the PNG header's width, in pixels
    assert metadata["width"] == width // 2  # shown at half its pixels: retina
    plt.close(figure)
