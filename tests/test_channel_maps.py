import pytest
import torch

from cnnlens.errors import CnnlensError
from cnnlens.interpret.channel_maps import activation_heatmaps, normalize_map, pca_rgb, select_channels, upsample


def channel_valued(values: list[float], size: int = 4) -> torch.Tensor:
    """A (C, size, size) map whose channel c is filled with values[c]."""
    return torch.tensor(values, dtype=torch.float32)[:, None, None].expand(-1, size, size).clone()


def test_first_and_last_take_the_right_ends_of_the_channel_axis():
    # 5 channels on a 3x7 grid: indexing the wrong axis would give spatial indices or the wrong length
    activations = torch.arange(5.0)[:, None, None].expand(5, 3, 7)
    assert select_channels(activations, "first", 2) == [0, 1]
    assert select_channels(activations, "last", 2) == [3, 4]
    assert select_channels(activations, "last", 1) == [4]


def test_top_orders_channels_by_mean_strongest_first():
    activations = channel_valued([0.5, 3.0, -1.0, 2.0, 0.0])
    assert select_channels(activations, "top", 3) == [1, 3, 0]


def test_top_uses_the_mean_not_the_peak():
    activations = torch.zeros(2, 4, 4)
    activations[0, 0, 0] = 10.0  # mean 0.625, highest peak
    activations[1] = 1.0  # mean 1.0
    assert select_channels(activations, "top", 1) == [1]


@pytest.mark.parametrize(("mode", "expected"), [("first", [0, 1, 2]), ("last", [0, 1, 2]), ("top", [2, 1, 0])])
def test_asking_for_more_channels_than_exist_gives_all(mode, expected):
    assert select_channels(channel_valued([1.0, 2.0, 3.0]), mode, 10) == expected


def test_unknown_mode_names_the_allowed_modes():
    with pytest.raises(CnnlensError) as raised:
        select_channels(torch.zeros(3, 2, 2), "middle", 2)
    assert all(mode in str(raised.value) for mode in ("'middle'", "first", "last", "top"))


def test_normalize_flat_map_gives_zeros_not_nan():
    flat = torch.full((2, 5, 5), 7.0)
    out = normalize_map(flat)
    assert not out.isnan().any()
    assert torch.equal(out, torch.zeros(2, 5, 5))


def test_normalize_ramp_hits_zero_and_one_exactly_per_map():
    ramp = torch.linspace(-3.0, 5.0, 12).reshape(3, 4)
    out = normalize_map(torch.stack([ramp, 10 * ramp]))
    for scaled in out:
        assert scaled.min().item() == 0.0 and scaled.max().item() == 1.0
        assert scaled[0, 0].item() == 0.0 and scaled[-1, -1].item() == 1.0
    torch.testing.assert_close(out[0], out[1])


def test_upsample_to_non_square_size_keeps_height_and_width_straight():
    # bright on the right half of a 2x2 map; target is 4 rows by 8 columns
    maps = torch.tensor([[[0.0, 1.0], [0.0, 1.0]], [[1.0, 1.0], [0.0, 0.0]]])
    out = upsample(maps, (4, 8))
    assert out.shape == (2, 4, 8)
    left_right, top_bottom = out
    assert (left_right[:, :4] < 0.5).all() and (left_right[:, 4:] > 0.5).all()
    assert (top_bottom[:2] > 0.5).all() and (top_bottom[2:] < 0.5).all()
    torch.testing.assert_close(left_right[:, 0], torch.zeros(4))
    torch.testing.assert_close(left_right[:, -1], torch.ones(4))


def test_upsample_single_map():
    out = upsample(torch.tensor([[0.0, 1.0]]), (3, 5))
    assert out.shape == (3, 5)
    assert out[:, 0].max() < 0.5 and out[:, -1].min() > 0.5


def pattern_copies(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """8 channels that are scaled copies of one smooth 12x10 pattern, plus tiny noise."""
    generator = torch.Generator().manual_seed(seed)
    rows, cols = torch.meshgrid(torch.linspace(0, 3, 12), torch.linspace(0, 2, 10), indexing="ij")
    pattern = torch.sin(rows) * torch.cos(cols) + 0.3 * rows
    scales = torch.tensor([1.0, -2.0, 0.5, 3.0, -1.5, 0.8, 2.2, -0.7])
    noise = 1e-3 * torch.randn(8, 12, 10, generator=generator)
    return scales[:, None, None] * pattern + noise, pattern


def test_pca_rgb_finds_a_known_leading_component():
    activations, pattern = pattern_copies()
    rgb, ratio = pca_rgb(activations)
    assert rgb.shape == (12, 10, 3) and ratio.shape == (3,)
    assert ratio[0] > 0.99 and ratio.sum() <= 1.0 + 1e-6
    correlation = torch.corrcoef(torch.stack([rgb[..., 0].flatten(), pattern.flatten()]))[0, 1]
    assert correlation.abs() > 0.99
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0


def test_pca_rgb_is_deterministic_and_sign_fixed():
    activations, pattern = pattern_copies()
    first, ratio_first = pca_rgb(activations)
    second, ratio_second = pca_rgb(activations.clone())
    assert torch.equal(first, second) and torch.equal(ratio_first, ratio_second)
    # the largest loading is made positive: channel 3 (scale +3) dominates, so red follows +pattern ...
    correlation = torch.corrcoef(torch.stack([first[..., 0].flatten(), pattern.flatten()]))[0, 1]
    assert correlation > 0.99
    # ... and negated data has its largest loading at scale -3, so red inverts
    flipped, _ = pca_rgb(-activations)
    torch.testing.assert_close(flipped[..., 0], 1 - first[..., 0], atol=1e-5, rtol=0)


def test_pca_rgb_uses_only_the_chosen_channels():
    activations, pattern = pattern_copies()
    activations[:4] = torch.randn(4, 12, 10, generator=torch.Generator().manual_seed(1))
    _, mixed = pca_rgb(activations)
    rgb, ratio = pca_rgb(activations, channels=[4, 5, 6, 7])
    assert mixed[0] < 0.99 < ratio[0]
    correlation = torch.corrcoef(torch.stack([rgb[..., 0].flatten(), pattern.flatten()]))[0, 1]
    assert correlation.abs() > 0.99


def test_pca_rgb_with_two_channels_leaves_blue_at_zero():
    activations, _ = pattern_copies()
    rgb, ratio = pca_rgb(activations, channels=[0, 1])
    assert torch.equal(rgb[..., 2], torch.zeros(12, 10)) and ratio[2] == 0.0
    assert rgb[..., 0].max() == 1.0


def test_pca_rgb_constant_input_gives_zeros():
    rgb, ratio = pca_rgb(torch.full((5, 4, 6), 2.0))
    assert torch.equal(rgb, torch.zeros(4, 6, 3)) and torch.equal(ratio, torch.zeros(3))


def test_activation_heatmaps_pick_the_most_active_channels_and_normalise_them():
    activations = channel_valued([0.1, 0.9, 0.2, 0.8, 0.7, 0.0], size=5)
    activations[1, 0, 0] = 5.0  # channel 1 gets a peak: its map must span [0, 1]
    indices, maps = activation_heatmaps(activations)
    assert indices == [1, 3, 4]
    assert maps.shape == (3, 5, 5)
    assert maps[0, 0, 0] == 1.0 and maps[0].min() == 0.0
    assert torch.equal(maps[1:], torch.zeros(2, 5, 5))  # flat channels: zeros, not NaN
