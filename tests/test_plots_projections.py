"""Showing deconvnet projections: per-image contrast stretch and the box a projection reaches."""

import numpy as np
import pytest

from cnnlens.plots.projections import stretch_projection, support_box

H, W = 5, 7  # non-square on purpose: a swapped axis changes shapes


def patch(shape=(3, H, W), rows=slice(1, 4), columns=slice(2, 4), seed=0):
    """A projection that is zero except for one block, like a conv1 deconvnet projection."""
    projection = np.zeros(shape)
    projection[:, rows, columns] = np.random.default_rng(seed).normal(size=projection[:, rows, columns].shape)
    return projection


def test_stretch_keeps_height_and_width_and_moves_channels_last():
    assert stretch_projection(np.ones((3, H, W))).shape == (H, W, 3)
    assert stretch_projection(np.ones((2, 4, 3, H, W))).shape == (2, 4, H, W, 3)


@pytest.mark.parametrize("projection", [np.zeros((3, H, W)), np.full((3, H, W), 2.5)], ids=["zeros", "constant"])
def test_stretch_of_a_flat_map_is_gray_without_nan(projection):
    stretched = stretch_projection(projection)
    assert not np.isnan(stretched).any()
    assert np.all(stretched == 0.5)


def test_stretch_gives_a_sparse_projection_full_contrast():
    # a quantile over the whole image would be 0 here (most pixels are zero) and wash the patch out
    stretched = stretch_projection(patch(shape=(3, 32, 32)))
    assert np.abs(stretched - 0.5).max() == 0.5  # the strongest side of the patch reaches black or white
    assert np.allclose(stretched[10:, 10:], 0.5, atol=0.01)  # zero background stays about mid-gray


def test_stretch_is_per_image_and_keeps_the_sign():
    small, large = patch(seed=1), 1000 * patch(seed=1)
    both = stretch_projection(np.stack([small, large]))
    assert np.allclose(both[0], both[1])
    values = np.moveaxis(small, 0, -1)
    assert np.all(both[0][values > 0.5] > 0.5) and np.all(both[0][values < -0.5] < 0.5)


def test_support_box_is_the_non_zero_block_in_rows_then_columns():
    assert support_box(patch()) == (slice(1, 4), slice(2, 4))
    assert support_box(np.zeros((3, H, W))) == (slice(0, H), slice(0, W))


def test_support_box_grows_to_a_size_and_stays_inside_the_image():
    assert support_box(patch(), (3, 4)) == (slice(1, 4), slice(1, 5))
    corner = patch(rows=slice(0, 1), columns=slice(6, 7))
    assert support_box(corner, (4, 3)) == (slice(0, 4), slice(4, 7))
