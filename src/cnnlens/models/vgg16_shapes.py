"""VGG16's state_dict keys and shapes, and those of a ``torch.save`` file, without importing torch.

The workflow checks a configured VGG16 weights file while it plans (:mod:`cnnlens.config`), at every ``snakemake``
start, where importing torch and torchvision would cost seconds. So the expected shapes are derived here from
VGG16's layer configuration (torchvision's ``cfgs["D"]``), and a file of ``torch.save``'s zip format (torch 1.6 on)
is read as torch reads it with ``weights_only``, but only as far as its keys and shapes: ``data.pkl`` is unpickled
with :class:`_ShapesUnpickler`, which allows only the globals that a plain state_dict pickles (``OrderedDict``,
torch's tensor rebuild functions, its storage types and dtypes), refuses any other (a pickled model, an arbitrary
object: nothing is imported or called), and stands in for each tensor with its shape, reading no tensor data.

A file of torch's format before 1.6 (a bare pickle, :data:`LEGACY`) is left to torch
(:func:`cnnlens.models.vgg16.read_weights_file`). The messages are the vgg job's: it checks the same file with
:func:`check_shapes` and the helpers here, after loading it with torch.
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlens.errors import CnnlensError, one_line

CHOICES = "set the VGG16 weights to imagenet, none or the path of a VGG16 state_dict file"
# VGG16's convolutional trunk as torchvision builds it (torchvision.models.vgg.cfgs["D"]): a 3x3 Conv2d (padding 1)
# with that many output channels, each followed by a ReLU; "M" a 2x2 max pool.
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
# Its classifier after the 7x7 adaptive average pool: Linear layers of these widths, each but the last followed by a
# ReLU and a Dropout (torchvision's indices 0, 3 and 6).
VGG16_CLASSIFIER = (4096, 4096, 1000)
POOLED_SIZE = 7 * 7
# How a torch.save file starts: a zip archive (torch 1.6 on), or a pickle (protocol 2 or later) in the format before.
ZIP, LEGACY = "zip", "legacy"
_ZIP_START, _PICKLE_START = b"PK", b"\x80"
# The storage types that torch.save names for a tensor's data (torch.FloatStorage, torch.cuda.HalfStorage in old
# files...), by their name less "Storage", with the bytes of one element.
STORAGE_ITEMSIZES = {
    "Double": 8, "Float": 4, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2, "Char": 1, "Byte": 1,
    "Bool": 1, "ComplexDouble": 16, "ComplexFloat": 8, "QInt8": 1, "QInt32": 4, "QUInt8": 1, "QUInt4x2": 1,
    "QUInt2x4": 1,
}  # fmt: skip
# The dtypes without a storage type of their own: torch.save writes their data as a torch.storage.UntypedStorage
# of bytes and names the dtype (torch._utils._rebuild_tensor_v3). Bytes of one element.
UNTYPED_DTYPE_ITEMSIZES = {
    "uint16": 2, "uint32": 4, "uint64": 8, "complex32": 4, "bcomplex32": 4, "float8_e4m3fn": 1, "float8_e4m3fnuz": 1,
    "float8_e5m2": 1, "float8_e5m2fnuz": 1, "float8_e8m0fnu": 1, "float4_e2m1fn_x2": 1, "bits1x8": 1, "bits2x4": 1,
    "bits4x2": 1, "bits8": 1, "bits16": 2,
    **{f"{kind}{bits}": 1 for kind in ("uint", "int") for bits in range(1, 8)},
}  # fmt: skip


def _vgg16_shapes() -> dict[str, tuple[int, ...]]:
    """The keys and shapes of torchvision's ``vgg16().state_dict()``, in its order, from :data:`VGG16_CFG`."""
    shapes: dict[str, tuple[int, ...]] = {}
    index, channels = 0, 3
    for layer in VGG16_CFG:
        if isinstance(layer, str):  # a max pool: one index, no parameters
            index += 1
            continue
        shapes[f"features.{index}.weight"] = (layer, channels, 3, 3)
        shapes[f"features.{index}.bias"] = (layer,)
        index, channels = index + 2, layer  # the Conv2d and its ReLU
    width = channels * POOLED_SIZE
    for position, outputs in enumerate(VGG16_CLASSIFIER):
        shapes[f"classifier.{3 * position}.weight"] = (outputs, width)
        shapes[f"classifier.{3 * position}.bias"] = (outputs,)
        width = outputs
    return shapes


VGG16_SHAPES: dict[str, tuple[int, ...]] = _vgg16_shapes()


def saved_format(path: Path) -> str:
    """:data:`ZIP` or :data:`LEGACY`, as the file starts; a one-line error for a folder, a missing file or a file
    that torch.save did not write (torch's own message would suggest loading it unsafely)."""
    if path.is_dir():
        raise CnnlensError(f"VGG16 weights file {path} is a folder, not a state_dict file: {CHOICES}")
    if not path.is_file():
        raise CnnlensError(f"VGG16 weights file {path} does not exist: {CHOICES}")
    with path.open("rb") as file:
        start = file.read(2)
    if start.startswith(_ZIP_START):
        return ZIP
    if start.startswith(_PICKLE_START):
        return LEGACY
    raise CnnlensError(f"cannot read VGG16 weights file {path}: it is not a file that torch.save wrote: {CHOICES}")


def unreadable(path: Path, error: BaseException) -> CnnlensError:
    """The one-line error for a weights file that cannot be read (truncated, garbage bytes...)."""
    return CnnlensError(
        f"cannot read VGG16 weights file {path} ({one_line(error).split('. ')[0]}): is it complete? "
        f"download it again, or {CHOICES}"
    )


def not_a_state_dict(path: Path, kind: str) -> CnnlensError:
    """The one-line error for a weights file that holds something other than a mapping (a list, a tensor...)."""
    return CnnlensError(f"VGG16 weights file {path} holds a {kind}, not a state_dict: {CHOICES}")


def check_shapes(path: Path, shapes: Mapping[Any, tuple[int, ...] | None]) -> None:
    """Refuse, in one line, a state_dict whose keys and shapes (``None`` for a value that is not a tensor) are not
    VGG16's."""
    problem = mismatch(shapes)
    if problem:
        raise CnnlensError(f"VGG16 weights file {path} does not match VGG16 ({problem}): {CHOICES}")


def mismatch(
    shapes: Mapping[Any, tuple[int, ...] | None], expected: Mapping[str, tuple[int, ...]] = VGG16_SHAPES
) -> str:
    """A short description of missing, unexpected and wrongly shaped keys; empty when ``shapes`` fits."""
    missing = [key for key in expected if key not in shapes]
    unexpected = [key for key in shapes if key not in expected]
    wrong = [
        f"{key} {shapes[key] or ()} instead of {expected[key]}"
        for key in expected
        if key in shapes and shapes[key] != expected[key]
    ]
    parts = [
        f"{len(keys)} {what}, e.g. {keys[0]}"
        for what, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", wrong))
        if keys
    ]
    return "; ".join(parts)


def saved_shapes(path: Path) -> dict[Any, tuple[int, ...] | None]:
    """The keys of the state_dict in a ``torch.save`` file of the zip format, each with its tensor's shape (``None``
    for a value that is not a tensor), read from the pickle without the tensors' data and without torch.

    One-line errors (:class:`CnnlensError`) as :func:`cnnlens.models.vgg16.read_weights_file` gives them for a file
    that is not there or not a torch.save file, cannot be read (truncated, a tensor's data missing), pickles
    anything but plain tensors in (nested) dicts, lists and tuples, or holds no mapping; for a file of the format
    before torch 1.6 too, which this does not read (:func:`saved_format` tells).
    """
    if saved_format(path) != ZIP:
        raise CnnlensError(f"cannot read VGG16 weights file {path} without torch: it is in torch's format before 1.6")
    try:
        with zipfile.ZipFile(path) as archive:
            state = _ShapesUnpickler(archive).load()
    except _RefusedGlobalError as refused:
        raise CnnlensError(
            f"VGG16 weights file {path} holds a {refused}, which a state_dict does not (torch.load refuses it "
            f"with weights_only): save the model's state_dict(), or {CHOICES}"
        ) from None
    except Exception as error:  # a truncated zip, garbage bytes, a tensor's data missing, a malformed pickle...
        raise unreadable(path, error) from None
    if not isinstance(state, Mapping):
        raise not_a_state_dict(path, state.kind if isinstance(state, _Tensor) else type(state).__name__)
    return {key: value.shape if isinstance(value, _Tensor) else None for key, value in state.items()}


class _RefusedGlobalError(Exception):
    """A global that a plain state_dict does not pickle; its message is the global's dotted name."""


@dataclass(frozen=True)
class _StorageType:
    """Stands in for a storage type (torch.FloatStorage, torch.storage.UntypedStorage...)."""

    itemsize: int  # 1 for UntypedStorage: its size counts bytes


@dataclass(frozen=True)
class _Dtype:
    """Stands in for a dtype that torch.save names beside an untyped storage (torch.uint16, torch.float8_e4m3fn...)."""

    itemsize: int


@dataclass(frozen=True)
class _Storage:
    """Stands in for a tensor's storage: how many elements of its type it holds, not what they are."""

    size: int
    itemsize: int


@dataclass(frozen=True)
class _Tensor:
    """Stands in for a tensor (or a Parameter: ``kind``): its shape."""

    shape: tuple[int, ...]
    kind: str = "Tensor"


def _tensor(storage: object, offset: object, size: object, stride: object, itemsize: int | None = None) -> _Tensor:
    """The shape of a tensor that views ``storage`` with ``offset``, ``size`` and ``stride``, after checking that the
    view lies inside the storage (as torch checks it when it rebuilds the tensor)."""
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError(f"a tensor's storage is a {type(storage).__name__}")
    if not (isinstance(size, tuple) and isinstance(stride, tuple) and isinstance(offset, int)):
        raise pickle.UnpicklingError("a tensor's size, stride or offset is malformed")
    if len(size) != len(stride) or not all(isinstance(n, int) and n >= 0 for n in size + stride) or offset < 0:
        raise pickle.UnpicklingError(f"a tensor's size {size} or stride {stride} is malformed")
    elements = storage.size * storage.itemsize // (itemsize or storage.itemsize)
    if 0 not in size and offset + sum((n - 1) * step for n, step in zip(size, stride, strict=True)) >= elements:
        raise pickle.UnpicklingError(f"a tensor of size {size} lies outside its storage of {elements} elements")
    return _Tensor(size)


def _rebuild_tensor_v2(
    storage: object, offset: object, size: object, stride: object, *_flags_hooks_metadata: object
) -> _Tensor:
    """Stands in for ``torch._utils._rebuild_tensor_v2`` (a tensor of a dtype that has a storage type)."""
    return _tensor(storage, offset, size, stride)


def _rebuild_tensor_v3(
    storage: object,
    offset: object,
    size: object,
    stride: object,
    _requires_grad: object,
    _hooks: object,
    dtype: object,
    *_metadata: object,
) -> _Tensor:
    """Stands in for ``torch._utils._rebuild_tensor_v3`` (a tensor of a dtype that has none: bytes and its dtype)."""
    if not isinstance(dtype, _Dtype):
        raise pickle.UnpicklingError(f"a tensor's dtype is a {type(dtype).__name__}")
    return _tensor(storage, offset, size, stride, dtype.itemsize)


def _rebuild_parameter(data: object, *_requires_grad_hooks_state: object) -> _Tensor:
    """Stands in for ``torch._utils._rebuild_parameter`` and ``_rebuild_parameter_with_state``."""
    if not isinstance(data, _Tensor):
        raise pickle.UnpicklingError(f"a Parameter holds a {type(data).__name__}")
    return _Tensor(data.shape, "Parameter")


_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "UntypedStorage"): _StorageType(1),
    **{
        (module, f"{name}Storage"): _StorageType(itemsize)
        for module in ("torch", "torch.cuda")
        for name, itemsize in STORAGE_ITEMSIZES.items()
    },
    **{("torch", name): _Dtype(itemsize) for name, itemsize in UNTYPED_DTYPE_ITEMSIZES.items()},
}


class _ShapesUnpickler(pickle.Unpickler):
    """Unpickles the ``data.pkl`` of a torch.save zip archive into plain containers of :class:`_Tensor`.

    Like torch's weights_only unpickler, it resolves only the globals of :data:`_ALLOWED_GLOBALS`, here to
    stand-ins that import and run nothing of torch's, and refuses any other global before importing it. A tensor's
    storage (a persistent id) becomes a :class:`_Storage` once its record (``<archive>/data/<key>``) is found to hold
    its bytes; the bytes themselves are not read.
    """

    def __init__(self, archive: zipfile.ZipFile) -> None:
        names = archive.namelist()
        folder = names[0].partition("/")[0] if names and "/" in names[0] else ""  # torch reads the first's folder
        if not folder or f"{folder}/data.pkl" not in names:
            raise pickle.UnpicklingError("the archive holds no data.pkl where torch.save puts it")
        self._sizes = {info.filename: info.file_size for info in archive.infolist()}
        self._folder = folder
        self._file = archive.open(f"{folder}/data.pkl")
        super().__init__(self._file)

    def load(self) -> Any:
        with self._file:
            return super().load()

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise _RefusedGlobalError(f"{module}.{name}")
        return allowed

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {str(pid)[:80]}")
        _, storage_type, key, _location, size = pid
        if not isinstance(storage_type, _StorageType) or not isinstance(size, int) or size < 0:
            raise pickle.UnpicklingError(f"malformed storage {key}")
        record = f"{self._folder}/data/{key}"
        if self._sizes.get(record, -1) < size * storage_type.itemsize:
            raise pickle.UnpicklingError(f"the data of storage {key} is missing or short")
        return _Storage(size, storage_type.itemsize)
