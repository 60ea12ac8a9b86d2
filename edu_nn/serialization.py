"""``edu_nn.save`` / ``edu_nn.load``: portable checkpoints, a NumPy ``.npz`` file, no pickle.

    edu_nn.save(model.state_dict(), "model.npz")
    model.load_state_dict(edu_nn.load("model.npz"))                  # any backend
    state = edu_nn.load("model.npz", backend="jax")                   # tensors on JAX

What can be saved: tensors (any backend; saved as their NumPy values and dtype), NumPy
arrays, and dicts, lists and tuples of them mixed with str, int, float, bool and None (so an
optimizer's ``state_dict()`` with its integer keys round-trips too). Tensors load as edu_nn
tensors on the backend and device you ask for (default: the selected backend, CPU); NumPy
arrays load as NumPy arrays.

The file holds one array per tensor plus an entry ``__edu_nn__``: JSON text describing the
structure. Loading uses ``allow_pickle=False``, so opening a checkpoint never runs code.
"""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .backend_selection import BackendLike, get_backend
from .interop import to_numpy
from .tensor import Tensor

FORMAT = "edu_nn.save/1"
_META = "__edu_nn__"


def _encode(obj: Any, arrays: dict, path: str):
    if isinstance(obj, Tensor) or (hasattr(obj, "detach") and hasattr(obj, "cpu")):
        arrays[f"t{len(arrays)}"] = to_numpy(obj)
        return {"$tensor": f"t{len(arrays) - 1}"}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise TypeError(f"edu_nn.save: the array at {path} has dtype {obj.dtype}; only "
                            f"numeric and bool arrays can be saved")
        arrays[f"t{len(arrays)}"] = obj
        return {"$ndarray": f"t{len(arrays) - 1}"}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {"$dict": [[_encode(k, arrays, f"{path} key"), _encode(v, arrays, f"{path}[{k!r}]")]
                          for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [_encode(v, arrays, f"{path}[{i}]") for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else {"$tuple": items}
    from .nn.modules.module import Module  # (a local import: the core does not need nn)
    if isinstance(obj, Module):
        raise TypeError("edu_nn.save: save model.state_dict(), not the model itself (edu_nn "
                        "checkpoints hold arrays, never code); to load, build the same model "
                        "and call model.load_state_dict(edu_nn.load(path))")
    raise TypeError(f"edu_nn.save: cannot save a {type(obj).__name__} (at {path}); checkpoints "
                    f"hold tensors, arrays, dicts, lists, tuples, str, int, float, bool, None")


def _decode(obj: Any, arrays, backend, device):
    if isinstance(obj, list):
        return [_decode(v, arrays, backend, device) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "$tensor" in obj:
        from .tensor import tensor
        return tensor(arrays[obj["$tensor"]], backend=backend, device=device)
    if "$ndarray" in obj:
        return arrays[obj["$ndarray"]]
    if "$tuple" in obj:
        return tuple(_decode(v, arrays, backend, device) for v in obj["$tuple"])
    return {_decode(k, arrays, backend, device): _decode(v, arrays, backend, device)
            for k, v in obj["$dict"]}


def save(obj: Any, f) -> None:
    """Write ``obj`` (a state_dict, or nested dicts/lists of tensors) to a path or binary file."""
    arrays: dict[str, np.ndarray] = {}
    structure = _encode(obj, arrays, "the saved object")
    meta = json.dumps({"format": FORMAT, "object": structure})
    arrays[_META] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:  # a file object: np.savez would append ".npz" to a path
            np.savez(fh, **arrays)
    else:
        np.savez(f, **arrays)


def load(f, backend: BackendLike = None, device: str | None = None,
         map_location: str | None = None) -> Any:
    """Read what ``save`` wrote; tensors come back on ``backend``/``device`` (``map_location``
    is torch's name for the device)."""
    target = get_backend(backend)
    device = device or map_location
    if isinstance(f, (str, os.PathLike)) and not os.path.exists(f):
        raise FileNotFoundError(f"edu_nn.load: no file at {os.fspath(f)!r}")
    try:
        with np.load(f, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError) as exc:
        raise ValueError(f"edu_nn.load: {f!r} is not an edu_nn checkpoint (an .npz written by "
                         f"edu_nn.save): {exc}") from None
    if _META not in arrays:
        raise ValueError(f"edu_nn.load: {f!r} is an .npz file but not one written by "
                         f"edu_nn.save (it has no {_META} entry)")
    meta = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"edu_nn.load: unknown checkpoint format {meta.get('format')!r} "
                         f"(this edu_nn reads {FORMAT})")
    return _decode(meta["object"], arrays, target, device)


__all__ = ["save", "load"]
