"""The test images as figures show them, their class names, and the check that two artifacts hold the same."""

import pytest
import torch

from cnnlens.errors import CnnlensError
from cnnlens.views.images import check_same_images, image_array, label_names


def test_image_array_moves_channels_last_without_swapping_height_and_width():
    images = torch.arange(2 * 3 * 2 * 4).reshape(2, 3, 2, 4)
    array = image_array(images)
    assert array.shape == (2, 2, 4, 3)
    assert array[1, 0, 3, 2] == images[1, 2, 0, 3]


def test_label_names_follow_the_labels():
    assert label_names(torch.tensor([1, 0, 1]), ["cat", "dog"]) == ["dog", "cat", "dog"]


def test_check_same_images_stops_on_different_images_only():
    check_same_images(torch.tensor([1, 2]), torch.tensor([1, 2]), "a.pt", "b.pt")
    with pytest.raises(CnnlensError, match=r"a\.pt\b.*\bb\.pt"):  # names both files
        check_same_images(torch.tensor([1, 2]), torch.tensor([2, 1]), "a.pt", "b.pt")
