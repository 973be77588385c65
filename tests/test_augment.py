import pytest
import torch
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

from cnnlens.data import augment


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(16, 3, 8, 10, generator=generator(1))


def test_crop_is_a_window_of_the_zero_padded_image(images):
    out = augment.random_crop(images, padding=2, generator=generator())
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    offsets = set()
    for image, cropped in zip(padded, out, strict=False):
        matches = [
            (dy, dx) for dy in range(5) for dx in range(5) if torch.equal(image[:, dy : dy + 8, dx : dx + 10], cropped)
        ]
        assert matches, "crop is not a window of the padded image"
        offsets.add(matches[0])
    assert len(offsets) > 3  # drawn per image, not once per batch
    assert out.is_contiguous()  # a channels-last view would make every later adjustment slower


def test_flip_flips_about_half_of_the_images_independently():
    x = torch.rand(2000, 1, 1, 2, generator=generator(2))
    out = augment.random_horizontal_flip(x, generator())
    flipped = (out == x.flip(-1)).all((1, 2, 3)) & ~(out == x).all((1, 2, 3))
    assert ((out == x).all((1, 2, 3)) | flipped).all()
    assert 0.45 < flipped.float().mean() < 0.55


@pytest.mark.parametrize(
    ("ours", "theirs", "factor"),
    [
        (augment.adjust_brightness, TF.adjust_brightness, 1.17),
        (augment.adjust_contrast, TF.adjust_contrast, 0.83),
        (augment.adjust_saturation, TF.adjust_saturation, 1.2),
        (augment.adjust_hue, TF.adjust_hue, 0.07),
        (augment.adjust_hue, TF.adjust_hue, -0.1),
    ],
)
def test_colour_adjustments_match_torchvision(images, ours, theirs, factor):
    expected = torch.stack([theirs(image, factor) for image in images])
    actual = ours(images, torch.full((len(images), 1, 1, 1), factor))
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)


def test_hue_leaves_grey_black_and_white_as_torchvision_does():
    greys = torch.tensor([0.0, 0.3, 1.0]).view(3, 1, 1, 1).expand(3, 3, 2, 2)
    expected = torch.stack([TF.adjust_hue(image, 0.1) for image in greys])
    assert torch.equal(expected, greys)
    assert torch.equal(augment.adjust_hue(greys, torch.full((3,), 0.1)), greys)


def test_color_jitter_draws_factors_per_image():
    x = torch.rand(1, 3, 8, 8, generator=generator(3)).expand(32, -1, -1, -1)
    out = augment.color_jitter(x, 0.2, 0.2, 0.2, 0.1, generator())
    assert len({tuple(image.flatten()[:5].tolist()) for image in out}) == 32
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("degrees", [0.0, 10.0, -15.0, 30.0])
def test_rotate_matches_torchvision_nearest_with_zero_fill(degrees):
    x = torch.rand(4, 3, 32, 32, generator=generator(5))
    expected = torch.stack([TF.rotate(image, degrees, interpolation=InterpolationMode.NEAREST, fill=0) for image in x])
    assert torch.equal(augment.rotate(x, torch.full((4,), degrees)), expected)


def test_random_rotation_draws_an_angle_per_image_within_the_range():
    ones = torch.ones(256, 1, 32, 32)
    zeros = (augment.random_rotation(ones, 15.0, generator()) == 0).float().mean((1, 2, 3))
    widest = (augment.rotate(ones[:1], torch.tensor([15.0])) == 0).float().mean()
    assert zeros.max() <= widest + 1e-6  # no image turned by more than 15 degrees
    assert zeros.max() > 0.8 * widest  # but some by nearly that much
    assert len(zeros.unique()) > 20  # and the angles differ from image to image


def test_augment_batch_is_seeded_and_in_range():
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=generator(4))
    first = augment.augment_batch(x, generator(5))
    assert first.shape == (8, 3, 32, 32) and first.dtype == torch.float32
    assert torch.equal(first, augment.augment_batch(x, generator(5)))
    assert not torch.equal(first, augment.augment_batch(x, generator(6)))
    assert first.min() >= 0 and first.max() <= 1


def test_the_augmentation_and_normalisation_constants_are_built_once_per_device(monkeypatch):
    # On a GPU every build of such a constant is a host-to-device copy that waits for the host.
    from cnnlens.data.dataset import normalize

    images = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8, generator=generator(1))
    expected = normalize(augment.augment_batch(images, generator()))
    built = []

    def recorded(build):
        def record(*args, **kwargs):
            built.append(args)
            return build(*args, **kwargs)

        return record

    monkeypatch.setattr(torch, "tensor", recorded(torch.tensor))
    monkeypatch.setattr(torch.Tensor, "to", recorded(torch.Tensor.to))
    again = normalize(augment.augment_batch(images, generator()))
    assert built == []
    assert torch.equal(again, expected)
