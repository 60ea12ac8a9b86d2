"""Plain data across the sandbox's door: the arguments going in, the returned value coming back.

Only numbers, bool, None, str, exact ``numpy.ndarray``s of numeric dtypes and tuples, lists and
dicts of these cross, as an ``.npz`` (``allow_pickle=False``) whose ``__meta__`` entry is a JSON
tree. The child's side of this format is in ``child.py`` (which imports nothing of edu_nn).
"""
from __future__ import annotations

import json
import os
import stat
import zipfile

import numpy as np

__all__ = ["clean_text", "encode_value", "encode_call", "decode_result", "WireError", "MAX_RESULT_BYTES"]

MAX_RESULT_BYTES = 64 * 2 ** 20         # = the child's file-size limit
MAX_META_BYTES = 2 * 2 ** 20
MAX_DEPTH, MAX_NODES = 16, 10_000


def clean_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters and made valid Unicode: a lone surrogate (which
    JSON lets a child send) would make results.json invalid UTF-8, so it becomes U+FFFD."""
    return text[:limit].encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class WireError(ValueError):
    """What came back from the child is not well-formed plain data."""


def encode_call(f, args: tuple, kwargs: dict) -> None:
    """Write ``(args, kwargs)`` to the file object ``f`` as the child reads them."""
    arrays: dict = {}
    tree = {"t": "t", "v": [encode_value(tuple(args), arrays), encode_value(dict(kwargs), arrays)]}
    np.savez(f, __meta__=np.array(json.dumps(tree)), **arrays)
    f.flush()


def encode_value(value, arrays: dict) -> dict:
    """Arguments (parent side) as the tree the child decodes; arrays into ``arrays``."""
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = np.array(value, copy=True)
        return {"t": "a", "k": key}
    if isinstance(value, (bool, np.bool_)):
        return {"t": "b", "v": bool(value)}
    if isinstance(value, (int, np.integer)):
        return {"t": "i", "v": int(value)}
    if isinstance(value, (float, np.floating)):
        return {"t": "f", "v": float(value)}
    if value is None:
        return {"t": "n"}
    if isinstance(value, str):
        return {"t": "s", "v": value}
    if isinstance(value, (list, tuple)):
        return {"t": "l" if isinstance(value, list) else "t",
                "v": [encode_value(v, arrays) for v in value]}
    if isinstance(value, dict):
        return {"t": "d", "v": [[str(k), encode_value(v, arrays)] for k, v in value.items()]}
    raise TypeError(f"sub.call/sub.run: cannot send {type(value).__name__} to the student's "
                    f"code; use numpy arrays, numbers, bool, None, str and lists/tuples/dicts")


def decode_result(f) -> dict:
    """Read the child's result (an ``.npz``) from ``f``, a file object the parent opened itself
    (the child only ever had a descriptor of it): ``{"ok": True, "value": ...}`` or
    ``{"ok": False, "error": {...}}``. Everything is checked; anything unexpected raises
    :class:`WireError`."""
    st = os.fstat(f.fileno())
    if st.st_size == 0:
        raise WireError("no result")
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_RESULT_BYTES:
        raise WireError("the result is not a regular file of a sane size")
    f.seek(0)
    try:
        with zipfile.ZipFile(f) as z:
            infos = z.infolist()
            if sum(i.file_size for i in infos) > MAX_RESULT_BYTES or len(infos) > MAX_NODES:
                raise WireError("the result is too large")
        f.seek(0)
        with np.load(f, allow_pickle=False) as npz:
            names = set(npz.files)
            if "__meta__" not in names:
                raise WireError("the result has no description")
            meta_array = npz["__meta__"]
            if meta_array.dtype.kind != "U" or meta_array.shape != () or \
                    meta_array.nbytes > 4 * MAX_META_BYTES:
                raise WireError("the result's description is malformed")
            meta = json.loads(str(meta_array))
            used: set[str] = set()
            if not isinstance(meta, dict) or type(meta.get("ok")) is not bool:
                raise WireError("the result's description is malformed")
            if meta["ok"]:
                value = _decode_tree(meta.get("value"), npz, names, used, [0], 0)
                return {"ok": True, "value": value}
            err = meta.get("error")
            if not isinstance(err, dict):
                raise WireError("the error description is malformed")
            tb = err.get("traceback", [])
            return {"ok": False, "error": {
                "type": clean_text(str(err.get("type", "Exception")), 200),
                "message": clean_text(str(err.get("message", "")), 2000),
                "traceback": [clean_text(str(x), 300) for x in tb[:20]] if isinstance(tb, list)
                else []}}
    except WireError:
        raise
    except RecursionError:
        raise WireError("the result is nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - any malformed file is the child's fault
        raise WireError(f"the result is malformed ({type(exc).__name__})") from None


def _decode_tree(tree, npz, names: set, used: set, count: list, depth: int):
    count[0] += 1
    if depth > MAX_DEPTH or count[0] > MAX_NODES:
        raise WireError("the returned value is nested too deeply or has too many parts")
    if not isinstance(tree, dict) or not isinstance(tree.get("t"), str):
        raise WireError("the returned value is malformed")
    kind, v = tree["t"], tree.get("v")
    if kind == "a":
        key = tree.get("k")
        if not isinstance(key, str) or key not in names or key == "__meta__" or key in used:
            raise WireError("the returned value names a missing array")
        used.add(key)
        array = npz[key]
        if type(array) is not np.ndarray or array.dtype.kind not in "biufc" or \
                array.dtype.fields is not None:
            raise WireError(f"returned an array of dtype {array.dtype}, expected numbers")
        return array
    if kind == "b" and type(v) is bool:
        return v
    if kind == "i" and type(v) is int:
        return v
    if kind == "f" and type(v) in (float, int):
        return float(v)
    if kind == "n":
        return None
    if kind == "s" and type(v) is str:
        return clean_text(v, 10_000)
    if kind in ("l", "t") and type(v) is list:
        items = [_decode_tree(x, npz, names, used, count, depth + 1) for x in v]
        return items if kind == "l" else tuple(items)
    if kind == "d" and type(v) is list:
        out = {}
        for pair in v:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                raise WireError("the returned dict is malformed")
            out[pair[0]] = _decode_tree(pair[1], npz, names, used, count, depth + 1)
        return out
    raise WireError("the returned value is malformed")
