"""Where data sets come from: CIFAR-10 through torchvision's download (the default, for users with
internet), and an ImageFolder layout (``train/<class>/*``, ``test/<class>/*``) given as a directory or a
``.tar.gz``, for local copies and users' own images. Both become one :class:`Dataset` of uint8 tensors.
"""

from __future__ import annotations

import io
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from cnnlens.data.dataset import SPLITS, DataError, Dataset


def prepare_data(source: str, path: str | Path, image_size: int, out: str | Path) -> Dataset:
    """The prepare_data job: read the source (``cifar10`` or ``imagefolder``) and write the cache to ``out``."""
    dataset = load_cifar10(path, image_size) if source == "cifar10" else load_image_folder(path, image_size)
    dataset.save(out)
    return dataset


def load_cifar10(root: str | Path, image_size: int = 32) -> Dataset:
    """CIFAR-10 through torchvision, downloading into ``root`` when it is not there yet."""
    from torchvision.datasets import CIFAR10

    splits = {}
    for split in SPLITS:
        try:
            data = CIFAR10(str(root), train=split == "train", download=True)
        except Exception as error:  # torchvision raises URLError, RuntimeError, OSError...
            raise DataError(
                f"could not download or read CIFAR-10 in {root} ({error}): check your connection, or set "
                "data.source: imagefolder and data.path to a local copy"
            ) from None
        images = [_resized(Image.fromarray(array), image_size) for array in data.data]
        splits[split] = (
            torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(),
            torch.tensor(data.targets, dtype=torch.int64),
        )
        classes = list(data.classes)
    return Dataset(*splits["train"], *splits["test"], classes=classes, source="cifar10")


def load_image_folder(path: str | Path, image_size: int = 32) -> Dataset:
    """An ImageFolder data set (directory or ``.tar.gz``), images resized to ``image_size`` squares."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data path {path} does not exist: set data.path to a directory or .tar.gz")
    files = _tar_files(path) if path.is_file() else _dir_files(path)
    grouped: dict[str, dict[str, list[np.ndarray]]] = {split: {} for split in SPLITS}
    for name, payload in files:
        parts = PurePosixPath(name).parts
        if len(parts) < 3 or parts[-3] not in SPLITS or parts[-1].startswith("."):
            continue
        split, label = parts[-3], parts[-2]
        try:
            image = Image.open(io.BytesIO(payload))
            array = _resized(image.convert("RGB"), image_size)
        except (UnidentifiedImageError, OSError) as error:
            raise DataError(f"cannot decode image {name} in {path} ({error}): remove or replace it") from None
        grouped[split].setdefault(label, []).append(array)
    return _assemble(grouped, path)


def _resized(image: Image.Image, size: int) -> np.ndarray:
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def _assemble(grouped: dict[str, dict[str, list[np.ndarray]]], path: Path) -> Dataset:
    for split in SPLITS:
        if not grouped[split]:
            raise DataError(
                f"{path} holds no images under {split}/<class>/: expected train/<class>/* and test/<class>/*"
            )
    classes = sorted(grouped["train"])
    unknown = sorted(set(grouped["test"]) - set(classes))
    if unknown:
        raise DataError(f"{path}: test classes {unknown} have no training images: add train/<class>/ folders for them")
    untested = sorted(set(classes) - set(grouped["test"]))
    if untested:
        # Refused rather than warned about: their accuracy would be undefined and their confusion row empty.
        raise DataError(
            f"{path}: classes {untested} have no test images: add test/<class>/ folders for them, "
            "or remove their train/<class>/ folders"
        )
    if len(classes) < 2:
        raise DataError(f"{path} holds only the class {classes[0]}: a classifier needs at least 2 classes")
    train_images, train_labels = _tensors(grouped["train"], classes)
    test_images, test_labels = _tensors(grouped["test"], classes)
    return Dataset(train_images, train_labels, test_images, test_labels, classes=classes, source=f"imagefolder:{path}")


def _tensors(by_class: dict[str, list[np.ndarray]], classes: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """One split's ``(N, 3, H, W)`` uint8 images and int64 labels, class by class in the order of ``classes``."""
    images: list[np.ndarray] = []
    labels: list[int] = []
    for index, label in enumerate(classes):
        arrays = by_class.get(label, [])
        images.extend(arrays)
        labels.extend([index] * len(arrays))
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(), torch.tensor(labels, dtype=torch.int64)


def _dir_files(root: Path) -> Iterator[tuple[str, bytes]]:
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        yield file.relative_to(root).as_posix(), file.read_bytes()


def _tar_files(archive: Path) -> Iterable[tuple[str, bytes]]:
    try:
        with tarfile.open(archive, "r:*") as tar:
            # Read in archive order (a gzip stream cannot seek back cheaply), then sort.
            files = sorted((m.name, _read_member(tar, m)) for m in tar if m.isfile())
            # tarfile stops at the end-of-archive marker; reading on to the end checks gzip's CRC.
            while tar.fileobj.read(1 << 20):
                pass
            return files
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise DataError(f"cannot read archive {archive} ({error}): is it a complete .tar.gz?") from None


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    file = tar.extractfile(member)
    assert file is not None, member.name  # extractfile returns None only for what is not a regular file
    return file.read()
