import tarfile
from typing import ClassVar
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision.datasets
from PIL import Image

from cnnlens.data.dataset import CIFAR10_MEAN, CIFAR10_STD, DataError, Dataset, normalize
from cnnlens.data.sources import load_cifar10, load_image_folder

from helpers import CLASSES, make_image_folder


def check_tiny(dataset):
    assert dataset.classes == list(CLASSES)
    assert dataset.train_images.shape == (12, 3, 32, 32) and dataset.train_images.dtype == torch.uint8
    assert dataset.test_images.shape == (6, 3, 32, 32)
    assert dataset.train_labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    # The generator encodes the class in the mean brightness: label k has pixels in [100k, 100k + 40).
    means = dataset.train_images.float().mean((1, 2, 3))
    assert torch.equal((means // 100).long(), dataset.train_labels)
    assert torch.equal((dataset.test_images.float().mean((1, 2, 3)) // 100).long(), dataset.test_labels)


def test_image_folder_directory_loads_with_right_labels(image_folder):
    check_tiny(load_image_folder(image_folder))


def test_image_folder_tarball_loads_the_same(image_folder, image_tarball):
    from_dir, from_tar = load_image_folder(image_folder), load_image_folder(image_tarball)
    check_tiny(from_tar)
    assert torch.equal(from_dir.train_images, from_tar.train_images)
    assert torch.equal(from_dir.test_labels, from_tar.test_labels)


def test_tarball_with_a_top_level_folder(image_folder, tmp_path):
    archive = tmp_path / "nested.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(image_folder, arcname="cifar")
    check_tiny(load_image_folder(archive))


def test_non_square_images_are_resized_keeping_height_and_width_straight(tmp_path):
    root = make_image_folder(tmp_path / "wide", {"train": 2, "test": 1}, size=(48, 24))
    # A wide image, white on its left half: after resizing, the left half must still be the white one.
    wide = np.zeros((24, 48, 3), dtype=np.uint8)
    wide[:, :24] = 255
    Image.fromarray(wide).save(root / "train" / "cat" / "000.png")
    dataset = load_image_folder(root, image_size=16)
    assert dataset.train_images.shape == (6, 3, 16, 16)
    assert (dataset.train_images[0, :, :, :7] == 255).all() and (dataset.train_images[0, :, :, 9:] == 0).all()


def test_cache_round_trip(image_folder, tmp_path):
    dataset = load_image_folder(image_folder)
    dataset.save(tmp_path / "cache" / "dataset.pt")
    loaded = Dataset.load(tmp_path / "cache" / "dataset.pt")
    assert torch.equal(loaded.train_images, dataset.train_images) and loaded.classes == dataset.classes
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["dataset.pt"]  # no temporary left


def refusal(load, path) -> str:
    """The DataError of loading ``path``: one line (the test checks what it names)."""
    with pytest.raises(DataError) as raised:
        load(path)
    assert "\n" not in str(raised.value)
    return str(raised.value)


def test_missing_path_names_it(tmp_path):
    message = refusal(load_image_folder, tmp_path / "nope.tar.gz")
    assert f"data path {tmp_path / 'nope.tar.gz'}" in message and "data.path" in message


def test_truncated_tarball_names_the_archive(image_tarball, tmp_path):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(image_tarball.read_bytes()[:300])
    assert str(broken) in refusal(load_image_folder, broken)


def test_undecodable_image_names_the_file(image_folder):
    (image_folder / "train" / "cat" / "bad.png").write_bytes(b"not an image")
    assert "train/cat/bad.png" in refusal(load_image_folder, image_folder)


def test_missing_split_is_explained(image_folder):
    for file in (image_folder / "test").rglob("*.png"):
        file.unlink()
    message = refusal(load_image_folder, image_folder)
    assert str(image_folder) in message and "test/<class>/" in message


def test_test_class_without_training_images_is_refused(image_folder):
    extra = image_folder / "test" / "zebra"
    extra.mkdir()
    (image_folder / "test" / "cat" / "000.png").rename(extra / "000.png")
    message = refusal(load_image_folder, image_folder)
    assert "['zebra']" in message and "train/<class>/" in message


def test_normalize_uses_the_recipes_cifar10_statistics():
    # The recipe's constants written out: a test built from CIFAR10_MEAN/STD would pass with wrong ones.
    mean, std = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
    images = torch.tensor([0, 128, 255], dtype=torch.uint8).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    expected = torch.tensor([(value / 255 - m) / s for value, m, s in zip((0, 128, 255), mean, std, strict=False)])
    torch.testing.assert_close(normalize(images), expected.view(1, 3, 1, 1).expand(1, 3, 2, 2))
    assert (mean, std) == (CIFAR10_MEAN, CIFAR10_STD)


def test_corrupt_gzip_body_is_caught(image_tarball, tmp_path):
    data = bytearray(image_tarball.read_bytes())
    data[-8] ^= 0xFF  # gzip's CRC32 of the whole stream: only a read to the very end notices
    broken = tmp_path / "corrupt.tar.gz"
    broken.write_bytes(bytes(data))
    assert str(broken) in refusal(load_image_folder, broken)


class FakeCIFAR10:
    """Stands in for torchvision's CIFAR10 (whose download needs the internet)."""

    classes: ClassVar[list[str]] = ["airplane", "automobile"]

    def __init__(self, root, train, download):  # noqa: ARG002 torchvision's signature, download= passed by keyword
        count = 3 if train else 2
        self.data = np.arange(count * 32 * 32 * 3, dtype=np.uint8).reshape(count, 32, 32, 3)
        self.targets = [i % 2 for i in range(count)]


def test_cifar10_arrays_become_channel_first_tensors(monkeypatch, tmp_path):
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    dataset = load_cifar10(tmp_path)
    expected = torch.from_numpy(FakeCIFAR10(None, True, False).data).permute(0, 3, 1, 2)
    assert torch.equal(dataset.train_images, expected)
    assert dataset.train_labels.tolist() == [0, 1, 0] and dataset.test_labels.tolist() == [0, 1]
    assert dataset.classes == FakeCIFAR10.classes and dataset.source == "cifar10"


def test_cifar10_download_failure_says_what_to_do(monkeypatch, tmp_path):
    def offline(root, train, download):
        raise URLError("no network")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    message = refusal(load_cifar10, tmp_path)
    assert all(part in message for part in (f"CIFAR-10 in {tmp_path}", "no network", "data.source: imagefolder"))
