import os
import zipfile
from collections import OrderedDict
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import VGG16_Weights, vgg16

from cnnlens.errors import CnnlensError
from cnnlens.interpret.vgg_depth import (
    SAMPLE_PHOTOS,
    feature_outputs,
    imagenet_denormalize,
    imagenet_preprocess,
    load_photos,
    sample_photos,
    top5,
)
from cnnlens.models.vgg16 import conv_layer_indices, feature_layer_names, load_vgg16, read_weights_file
from cnnlens.models.vgg16_shapes import (
    STORAGE_ITEMSIZES,
    UNTYPED_DTYPE_ITEMSIZES,
    VGG16_SHAPES,
    check_shapes,
    saved_shapes,
)

MEAN = torch.tensor([0.485, 0.456, 0.406])
STD = torch.tensor([0.229, 0.224, 0.225])


@pytest.fixture(scope="module")
def vgg():
    """One randomly initialised VGG16 (138M parameters) shared by the module's tests."""
    torch.manual_seed(0)
    return load_vgg16("none")


@pytest.fixture(scope="module")
def saved_state(vgg, tmp_path_factory):
    """The fixture model's state_dict on disk (about 528 MB), removed after the module."""
    path = tmp_path_factory.mktemp("weights") / "vgg16.pth"
    torch.save(vgg[0].state_dict(), path)
    yield path
    path.unlink()


def hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def assert_same_weights(model: torch.nn.Module, reference: torch.nn.Module) -> None:
    expected = reference.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, expected[key]), key


def assert_one_line_error(error: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    for part in parts:
        assert part in message


def test_none_gives_an_eval_model_flagged_as_random(vgg):
    model, info = vgg
    assert not any(module.training for module in model.modules())
    assert (info.kind, info.source, info.degraded) == ("none", "random initialisation", True)


def test_a_saved_state_dict_loads_back_exactly(vgg, saved_state):
    model, info = load_vgg16(str(saved_state))
    assert_same_weights(model, vgg[0])
    assert not model.training
    assert (info.kind, info.source, info.degraded) == ("file", str(saved_state), False)


def test_imagenet_loads_torchvisions_state_dict(vgg, monkeypatch):
    calls = []

    def cached(self, **kwargs):
        calls.append((self, kwargs))
        return vgg[0].state_dict()

    monkeypatch.setattr(VGG16_Weights, "get_state_dict", cached)
    model, info = load_vgg16("imagenet")
    assert calls == [(VGG16_Weights.IMAGENET1K_V1, {"progress": False, "check_hash": True})]
    assert_same_weights(model, vgg[0])
    assert not model.training
    assert (info.kind, info.source, info.degraded) == ("imagenet", VGG16_Weights.IMAGENET1K_V1.url, False)


def test_unreachable_download_says_to_use_a_local_file_or_none(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache, so torchvision must download
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(CnnlensError) as error:
        load_vgg16("imagenet")
    assert_one_line_error(error, "could not be fetched", "no network", "local copy", "none")


def _write_truncated(path: Path) -> None:
    torch.save({"weight": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:300])


def _write_vgg_keys_with_wrong_shapes(path: Path) -> None:
    keys = [f"features.{i}.{p}" for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28) for p in ("weight", "bias")]
    keys += [f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")]
    torch.save({key: torch.zeros(1) for key in keys}, path)


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (lambda _path: None, "does not exist"),
        (lambda path: path.write_bytes(b"not a checkpoint " * 100), "cannot read"),
        (_write_truncated, "cannot read"),
        (lambda path: torch.save({"conv.weight": torch.zeros(2, 2)}, path), "32 missing keys, e.g. features.0.weight"),
        (
            _write_vgg_keys_with_wrong_shapes,
            "32 shape mismatches, e.g. features.0.weight (1,) instead of (64, 3, 3, 3)",
        ),
        (lambda path: torch.save(torch.zeros(3), path), "holds a Tensor, not a state_dict"),
    ],
    ids=["missing", "garbage", "truncated", "wrong-keys", "wrong-shapes", "not-a-dict"],
)
def test_bad_weight_files_name_the_file_in_one_line(tmp_path, write, expected):
    path = tmp_path / "weights.pth"
    write(path)
    with pytest.raises(CnnlensError) as error:
        load_vgg16(path)
    assert_one_line_error(error, str(path), expected)


def test_vgg16_shapes_are_those_of_torchvisions_vgg16(vgg):
    """Derived from VGG16's layer configuration, without torch: the keys in torchvision's order, and their shapes."""
    expected = {key: tuple(value.shape) for key, value in vgg16().state_dict().items()}
    assert expected == VGG16_SHAPES
    assert list(VGG16_SHAPES) == list(expected)


def test_the_storage_and_dtype_tables_are_torchs():
    """The item sizes the reader checks a tensor's data against, for every storage type and dtype torch.save names."""
    storages = torch.storage._dtype_to_storage_type_map()
    assert {name.removesuffix("Storage"): dtype.itemsize for dtype, name in storages.items()} == STORAGE_ITEMSIZES
    untyped = [
        *torch.storage._new_dtypes(),
        *(getattr(torch, f"{kind}{bits}") for kind in ("uint", "int") for bits in range(1, 8)),
    ]
    assert {str(dtype).removeprefix("torch."): dtype.itemsize for dtype in untyped} == UNTYPED_DTYPE_ITEMSIZES


def shared_views(dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Tensors that view one storage: expanded (stride 0), sliced (an offset), transposed, and a whole one."""
    base = torch.arange(24).to(dtype)
    return {
        "expanded": torch.zeros((), dtype=dtype).expand(64, 3, 3, 3),
        "sliced": base[4:10],
        "transposed": base.view(4, 6).t(),
        "whole": base.view(2, 3, 4),
        "scalar": base[5],
    }


@pytest.mark.parametrize("container", [dict, OrderedDict])
@pytest.mark.parametrize(
    "dtype",
    [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.uint16, torch.float8_e4m3fn],
    ids=str,
)
def test_saved_shapes_are_those_that_torch_load_gives(tmp_path, container, dtype):
    path = tmp_path / "state.pth"
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    model = model.to(dtype) if dtype.is_floating_point else model  # Parameters of the dtype where they can be
    torch.save(container({**shared_views(dtype), **model.state_dict(keep_vars=True)}), path)  # Parameters too
    expected = {key: tuple(value.shape) for key, value in torch.load(path, weights_only=True).items()}
    assert saved_shapes(path) == expected
    assert len(expected) == 12


def test_saved_shapes_are_read_without_the_tensors_data(tmp_path):
    """Only data.pkl is read: a VGG16 file of 528 MB is checked in milliseconds."""
    path = tmp_path / "state.pth"
    torch.save({"weight": torch.zeros(1000, 1000)}, path)
    with zipfile.ZipFile(path) as archive:
        record = next(name for name in archive.namelist() if name.endswith("/data/0"))
        offset = archive.getinfo(record).header_offset
    garbled = bytearray(path.read_bytes())
    garbled[offset + 200 : offset + 4_000_000 - 200] = b"\xff" * (4_000_000 - 400)  # inside the data, not its header
    path.write_bytes(garbled)
    assert saved_shapes(path) == {"weight": (1000, 1000)}


class Payload:
    """An object whose unpickling would make a folder: the reader must refuse it before it runs anything."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __reduce__(self):
        return os.mkdir, (str(self.folder),)


@pytest.mark.parametrize(
    ("saved", "refused"),
    [
        (lambda _folder: torch.nn.Linear(2, 2), "torch.nn.modules.linear.Linear"),
        (lambda folder: {"features.0.weight": Payload(folder)}, f"{os.mkdir.__module__}.mkdir"),
        (lambda _folder: {"features.0.weight": Path("x")}, "pathlib.PosixPath"),
    ],
    ids=["module", "payload", "object"],
)
def test_saved_shapes_refuse_what_a_state_dict_does_not_pickle(tmp_path, saved, refused):
    path, folder = tmp_path / "state.pth", tmp_path / "made"
    torch.save(saved(folder), path)
    with pytest.raises(CnnlensError) as error:
        saved_shapes(path)
    assert_one_line_error(error, str(path), f"holds a {refused}, which a state_dict does not", "state_dict()")
    assert not folder.exists()


def _drop_a_storage(path: Path) -> None:
    torch.save({"weight": torch.zeros(3), "bias": torch.zeros(2)}, path)
    with zipfile.ZipFile(path) as source:
        records = {name: source.read(name) for name in source.namelist() if not name.endswith("/data/1")}
    with zipfile.ZipFile(path, "w") as target:
        for name, data in records.items():
            target.writestr(name, data)


def _shorten_a_storage(path: Path) -> None:
    torch.save({"weight": torch.zeros(3), "bias": torch.zeros(2)}, path)
    with zipfile.ZipFile(path) as source:
        records = {name: source.read(name) for name in source.namelist()}
    with zipfile.ZipFile(path, "w") as target:
        for name, data in records.items():
            target.writestr(name, data[:4] if name.endswith("/data/0") else data)


def _read_while_planning(path: Path) -> None:
    check_shapes(path, saved_shapes(path))


@pytest.mark.parametrize(
    "write",
    [
        lambda _path: None,
        lambda path: path.mkdir(),
        lambda path: path.write_bytes(b"not a checkpoint " * 100),
        _write_vgg_keys_with_wrong_shapes,
        lambda path: torch.save({"conv.weight": torch.zeros(2, 2)}, path),
        lambda path: torch.save({**dict.fromkeys(VGG16_SHAPES, torch.zeros(1)), "extra": 1}, path),
        lambda path: torch.save(torch.zeros(3), path),
        lambda path: torch.save([torch.zeros(3)], path),
    ],
    ids=["missing", "folder", "garbage", "wrong-shapes", "wrong-keys", "not-a-tensor", "tensor", "list"],
)
def test_the_planning_check_words_a_bad_file_as_the_job_does(tmp_path, write):
    path = tmp_path / "weights.pth"
    write(path)
    with pytest.raises(CnnlensError) as planned:
        _read_while_planning(path)
    with pytest.raises(CnnlensError) as job:
        read_weights_file(path)
    assert str(planned.value) == str(job.value)
    assert_one_line_error(planned, str(path))


@pytest.mark.parametrize(
    "write", [_write_truncated, _drop_a_storage, _shorten_a_storage], ids=lambda write: write.__name__.strip("_")
)
def test_a_file_that_cannot_be_read_is_refused_as_the_job_refuses_it(tmp_path, write):
    path = tmp_path / "weights.pth"
    write(path)
    with pytest.raises(CnnlensError) as planned:
        _read_while_planning(path)
    assert_one_line_error(planned, f"cannot read VGG16 weights file {path} (", "): is it complete? download it again")
    if write is not _shorten_a_storage:  # torch checks a storage's size only as it reads it, not when it maps it
        with pytest.raises(CnnlensError) as job:
            read_weights_file(path, shapes_only=True)
        assert_one_line_error(job, f"cannot read VGG16 weights file {path} (", "): is it complete? download it again")


def test_a_file_in_the_format_before_torch_1_6_is_left_to_torch(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save({"weight": torch.zeros(3)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(CnnlensError, match=r"format before 1\.6"):
        saved_shapes(path)


def test_preprocess_maps_constant_gray_to_the_normalised_value():
    gray = np.full((300, 451, 3), 128, dtype=np.uint8)
    batch = imagenet_preprocess(gray)
    assert batch.shape == (1, 3, 224, 224)
    expected = ((128 / 255 - MEAN) / STD).view(1, 3, 1, 1).expand_as(batch)
    torch.testing.assert_close(batch, expected, atol=1e-5, rtol=0)
    assert (imagenet_denormalize(batch) == 128).all()


def test_preprocess_keeps_rows_as_rows_on_a_tall_photo():
    photo = np.zeros((600, 300, 3), dtype=np.uint8)
    photo[300:] = 255  # bottom half white
    shown = imagenet_denormalize(imagenet_preprocess(photo))[0]
    assert shown.shape == (224, 224, 3)
    assert (shown[:100] == 0).all() and (shown[-100:] == 255).all()


def test_sample_photos_are_bundled_rgb_uint8():
    photos = sample_photos()
    assert tuple(photos) == SAMPLE_PHOTOS
    for photo in photos.values():
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3
    assert sample_photos(["chelsea"])["chelsea"].shape == (300, 451, 3)
    with pytest.raises(CnnlensError) as raised:
        sample_photos(["dog"])
    assert "['dog']" in str(raised.value) and str(raised.value).endswith(" " + ", ".join(SAMPLE_PHOTOS))


def test_load_photos_converts_to_rgb_and_names_bad_files(tmp_path):
    gray = tmp_path / "gray.png"
    Image.fromarray(np.full((20, 30), 7, dtype=np.uint8)).save(gray)
    photos = load_photos([gray])
    assert photos[str(gray)].shape == (20, 30, 3) and photos[str(gray)].dtype == np.uint8
    with pytest.raises(CnnlensError) as error:
        load_photos([gray, tmp_path / "missing.jpg"])
    assert_one_line_error(error, "missing.jpg", "does not exist")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"no image here")
    with pytest.raises(CnnlensError) as error:
        load_photos([broken])
    assert_one_line_error(error, "broken.jpg", "cannot read")


def test_top5_gives_five_named_probabilities_best_first(vgg):
    model = vgg[0]
    photos = sample_photos(["chelsea", "coffee"])
    batch = torch.cat([imagenet_preprocess(photo) for photo in photos.values()])
    result = top5(model, batch)
    with torch.no_grad():
        best = model(batch).softmax(dim=1).max(dim=1).values
    assert len(result) == 2
    categories = VGG16_Weights.IMAGENET1K_V1.meta["categories"]
    for row, expected_best in zip(result, best.tolist(), strict=False):
        names, probabilities = zip(*row, strict=False)
        assert len(row) == 5 and set(names) <= set(categories)
        assert list(probabilities) == sorted(probabilities, reverse=True)
        assert 0 < sum(probabilities) <= 1
        assert probabilities[0] == pytest.approx(expected_best)


def test_feature_outputs_shapes_and_no_hooks_left(vgg):
    model = vgg[0]
    torch.manual_seed(1)
    x = torch.randn(1, 3, 224, 224)
    outputs = feature_outputs(model, x)
    assert {i: tuple(t.shape) for i, t in outputs.items()} == {
        0: (1, 64, 224, 224),
        10: (1, 256, 56, 56),
        20: (1, 512, 28, 28),
    }
    assert hook_count(model) == 0
    with torch.no_grad():
        torch.testing.assert_close(outputs[0], model.features[0](x))
    assert (outputs[0] < 0).any()  # conv1_1 before the in-place ReLU: the capture kept its own copy
    assert (outputs[20] >= 0).all()  # index 20 is the ReLU after conv4_2


def test_the_whole_conv_stack_can_be_recorded(vgg):
    model = vgg[0]
    indices = conv_layer_indices(model)
    assert indices == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    names = feature_layer_names(model)
    expected = ["conv1_1", "conv3_1", "conv4_2", "relu4_2", "conv4_3", "pool5"]
    assert [names[i] for i in (0, 10, 19, 20, 21, 30)] == expected
    outputs = feature_outputs(model, torch.randn(1, 3, 224, 224), indices)
    assert list(outputs) == indices
    assert tuple(outputs[28].shape) == (1, 512, 14, 14)
    assert hook_count(model) == 0


def test_unknown_feature_index_is_a_cnnlens_error(vgg):
    with pytest.raises(CnnlensError, match=r"\['features\.31'\]"):
        feature_outputs(vgg[0], torch.randn(1, 3, 224, 224), [0, 31])
