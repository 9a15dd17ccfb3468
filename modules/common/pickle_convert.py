"""One-time conversion of a PyTorch zip checkpoint that torch.load(weights_only=True) refuses into .safetensors.

Files such as DeepSpeed's mp_rank_00_model_states.pt pickle Python objects (argparse.Namespace, optimizer classes) beside
the tensors. Instead of running that pickle, a restricted unpickler of our own rebuilds only what a state dict needs:
tensors (from the archive's data/<key> storages), dict / OrderedDict / list / tuple and plain values. Every other global
the file names becomes an inert placeholder class: nothing is imported from the file's module names, and calling or
building a placeholder only yields another placeholder, so no code from the file ever runs.
"""
from __future__ import annotations

import collections
import logging
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional

import torch

from .checkpoint import PICKLE_SUFFIXES, CheckpointError

logger = logging.getLogger("FrameLoom.checkpoint")

CONTAINER_KEYS = ("module", "state_dict", "model")
_STORAGE_DTYPES = {
    "DoubleStorage": torch.float64, "FloatStorage": torch.float32, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64, "ComplexDoubleStorage": torch.complex128,
    "UntypedStorage": torch.uint8,
}
# dtype globals that _rebuild_tensor_v3 names; a fixed table, so no attribute of torch is looked up by a name from the file
_DTYPES = {str(d).removeprefix("torch."): d for d in _STORAGE_DTYPES.values()}


class Placeholder:
    """Stands in for any global the file names that is not on the allow-list. Inert by construction."""

    __slots__ = ("name", "state")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.name = type(self).__qualname__
        self.state = None

    def __call__(self, *args: Any, **kwargs: Any) -> "Placeholder":
        return type(self)()

    def __setstate__(self, state: Any) -> None:  # BUILD: keep nothing that could be used later
        self.state = None

    def __repr__(self) -> str:
        return f"<not loaded: {self.name}>"


def _placeholder_class(module: str, name: str) -> type:
    # A fresh subclass per global, so NEWOBJ (which needs a class) and REDUCE both land here; named for the logs only.
    return type(f"{module}.{name}", (Placeholder,), {"__slots__": ()})


@dataclass(frozen=True)
class _StorageType:
    dtype: torch.dtype


def _tensor_from_storage(storage: Any, offset: int, size: Iterable[int], stride: Iterable[int]) -> Any:
    if not isinstance(storage, torch.Tensor):
        return Placeholder()
    return storage.as_strided(tuple(size), tuple(stride), offset)


def _rebuild_tensor(storage: Any, offset: int, size: Any, stride: Any, *_rest: Any) -> Any:
    """torch._utils._rebuild_tensor / _rebuild_tensor_v2 (requires_grad, hooks and metadata are irrelevant here)."""
    return _tensor_from_storage(storage, offset, size, stride)


def _rebuild_tensor_v3(storage: Any, offset: int, size: Any, stride: Any, requires_grad: Any, hooks: Any,
                       dtype: Any, *_rest: Any) -> Any:
    """Untyped byte storage plus an explicit dtype."""
    if not isinstance(storage, torch.Tensor) or not isinstance(dtype, torch.dtype):
        return Placeholder()
    return _tensor_from_storage(storage.view(dtype), offset, size, stride)


def _rebuild_parameter(data: Any, *_rest: Any) -> Any:
    """Parameters are stored as their data tensor (with or without extra state)."""
    return data if isinstance(data, torch.Tensor) else Placeholder()


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
}


@dataclass
class ConversionReport:
    """What a conversion kept and what it left behind (names only)."""

    tensors: int = 0
    skipped_globals: set[str] = field(default_factory=set)
    skipped_entries: list[str] = field(default_factory=list)
    container: Optional[str] = None

    def format(self, limit: int = 8) -> str:
        entries = ", ".join(self.skipped_entries[:limit]) + (" ..." if len(self.skipped_entries) > limit else "")
        where = f"from '{self.container}'" if self.container else "from the top level"
        return (f"{self.tensors} tensors {where}; skipped {len(self.skipped_entries)} non-tensor entries"
                f"{f' ({entries})' if entries else ''}; Python objects not loaded: "
                f"{', '.join(sorted(self.skipped_globals)) or 'none'}")


class _RestrictedUnpickler(pickle.Unpickler):
    """find_class answers from the allow-list or with a placeholder class; it never imports anything."""

    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str, report: ConversionReport) -> None:
        super().__init__(file)
        self.archive = archive
        self.prefix = prefix
        self.report = report
        self.storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED.get((module, name))
        if allowed is not None:
            return allowed
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if module == "torch.storage" and name == "UntypedStorage":
            return _StorageType(torch.uint8)
        if module == "torch" and name in _DTYPES:
            return _DTYPES[name]
        self.report.skipped_globals.add(f"{module}.{name}")
        return _placeholder_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            self.report.skipped_globals.add(f"persistent id {str(pid)[:40]}")
            return Placeholder()
        dtype, key = pid[1].dtype, str(pid[2])
        if key not in self.storages:
            self.storages[key] = self._read_storage(key, dtype)
        storage = self.storages[key]
        return storage if storage.dtype == dtype else storage.view(torch.uint8).view(dtype)

    def _read_storage(self, key: str, dtype: torch.dtype) -> torch.Tensor:
        name = f"{self.prefix}data/{key}"
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise CheckpointError(f"the checkpoint names storage '{key}' but the archive has no '{name}'") from None
        buffer = bytearray(info.file_size)
        with self.archive.open(info) as fh:
            view = memoryview(buffer)
            done = 0
            while done < len(buffer):
                read = fh.readinto(view[done:])
                if not read:
                    raise CheckpointError(f"storage '{name}' is truncated ({done} of {len(buffer)} bytes)")
                done += read
        if not buffer:
            return torch.empty(0, dtype=dtype)
        return torch.frombuffer(buffer, dtype=torch.uint8).view(dtype)


def _pickle_prefix(archive: zipfile.ZipFile, name: str) -> str:
    pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise CheckpointError(f"'{name}' is a zip file but not a PyTorch checkpoint (expected one <archive>/data.pkl)")
    prefix = pickles[0][: -len("data.pkl")]
    byteorder = prefix + "byteorder"
    if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
        raise CheckpointError(f"'{name}' was saved on a big-endian machine; converting it is not supported")
    return prefix


def read_checkpoint_objects(path: str | os.PathLike, report: Optional[ConversionReport] = None) -> Any:
    """The unpickled top-level object of a torch zip checkpoint, with tensors real and every other object a placeholder."""
    path = os.fspath(path)
    name = os.path.basename(path)
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"'{name}' is not a PyTorch zip checkpoint (torch >= 1.6 format); only that format can be converted safely"
        )
    report = report if report is not None else ConversionReport()
    with zipfile.ZipFile(path) as archive:
        prefix = _pickle_prefix(archive, name)
        with archive.open(prefix + "data.pkl") as fh:
            try:
                return _RestrictedUnpickler(fh, archive, prefix, report).load()
            except CheckpointError:
                raise
            except Exception as exc:  # a malformed pickle stream: say so, never fall back to another loader
                raise CheckpointError(f"'{name}': the pickle inside could not be read: {exc}") from exc


def _collect(obj: Any, prefix: str, out: dict[str, torch.Tensor], report: ConversionReport) -> None:
    if isinstance(obj, torch.Tensor):
        out[prefix.rstrip(".")] = obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            _collect(value, f"{prefix}{key}.", out, report)
    else:
        report.skipped_entries.append(f"{prefix.rstrip('.') or '<top>'} ({type(obj).__name__})")


def extract_state_dict(obj: Any, report: Optional[ConversionReport] = None) -> dict[str, torch.Tensor]:
    """Only the tensors: under DeepSpeed's 'module' (or 'state_dict' / 'model') when that holds them, else the top level;
    nested dicts are flattened with '.' as load_state_dict does."""
    report = report if report is not None else ConversionReport()
    root = obj
    if isinstance(obj, Mapping):
        for key in CONTAINER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and any(isinstance(v, torch.Tensor) for v in inner.values()):
                root, report.container = inner, key
                report.skipped_entries.extend(f"{k} ({type(v).__name__})" for k, v in obj.items() if k != key)
                break
    tensors: dict[str, torch.Tensor] = {}
    _collect(root, "", tensors, report)
    report.tensors = len(tensors)
    return tensors


def _standalone(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors stores each tensor on its own: copy views that share a storage or do not cover it contiguously."""
    users = collections.Counter(t.untyped_storage().data_ptr() for t in tensors.values() if t.numel())
    out = {}
    for key, tensor in tensors.items():
        whole = tensor.is_contiguous() and tensor.storage_offset() == 0 and (
            tensor.numel() * tensor.element_size() == tensor.untyped_storage().nbytes())
        shared = tensor.numel() and users[tensor.untyped_storage().data_ptr()] > 1
        out[key] = tensor.detach().clone(memory_format=torch.contiguous_format) if shared or not whole else tensor.detach()
    return out


def converted_path(path: str | os.PathLike, out_dir: Optional[str | os.PathLike] = None) -> str:
    """Where the conversion of `path` goes: <stem>.safetensors beside it, or in `out_dir`."""
    path = os.fspath(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    return os.path.join(os.fspath(out_dir) if out_dir is not None else os.path.dirname(path), stem + ".safetensors")


def prefer_converted(path: str | os.PathLike) -> str:
    """`path`, or its one-time conversion beside it when `path` is a pickle file and <stem>.safetensors exists there."""
    path = os.fspath(path)
    if path.lower().endswith(PICKLE_SUFFIXES):
        converted = converted_path(path)
        if os.path.isfile(converted):
            logger.info("using '%s', the safetensors conversion of '%s'", converted, os.path.basename(path))
            return converted
    return path


def convert_checkpoint(path: str | os.PathLike, out_dir: Optional[str | os.PathLike] = None,
                       overwrite: bool = False) -> tuple[str, ConversionReport]:
    """Write the tensors of a pickle checkpoint to .safetensors without running its pickle; returns (new path, report)."""
    from safetensors.torch import save_file

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: '{path}'")
    target = converted_path(path, out_dir)
    if os.path.exists(target) and not overwrite:
        raise CheckpointError(f"'{target}' already exists; remove it (or pass overwrite) to convert again")
    report = ConversionReport()
    tensors = extract_state_dict(read_checkpoint_objects(path, report), report)
    if not tensors:
        raise CheckpointError(f"'{os.path.basename(path)}' holds no tensors; nothing to convert ({report.format()})")
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    partial = target + ".partial"
    save_file(_standalone(tensors), partial, metadata={"converted_from": os.path.basename(path)})
    os.replace(partial, target)  # never leave a half-written .safetensors that a loader would pick up
    logger.info("converted '%s' -> '%s': %s", path, target, report.format())
    return target, report
