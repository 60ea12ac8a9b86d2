"""dtypes are canonical strings, named as in torch: ``edu_nn.float32 == "float32"``.

The default floating dtype (used when a tensor is made from Python floats) is float32, as
in torch; gradient checks switch to float64 with ``set_default_dtype("float64")`` or by
making their inputs float64.
"""
from __future__ import annotations

from .backends.base import DTYPES, FLOAT_DTYPES, check_dtype_name

float16 = half = "float16"
float32 = float = "float32"
float64 = double = "float64"
uint8 = "uint8"
int8 = "int8"
int16 = short = "int16"
int32 = int = "int32"
int64 = long = "int64"
bool = "bool"  # noqa: A001 - torch's name, shadowing the builtin only in this module

_default_dtype = "float32"


def set_default_dtype(dtype: str) -> None:
    """Set the dtype of tensors made from Python floats: "float32" (default) or "float64"."""
    global _default_dtype
    if dtype not in ("float32", "float64"):
        raise ValueError(f"set_default_dtype: expected 'float32' or 'float64', got {dtype!r}")
    _default_dtype = dtype


def get_default_dtype() -> str:
    """The dtype given to tensors made from Python floats."""
    return _default_dtype


_INT_ORDER = ("bool", "uint8", "int8", "int16", "int32", "int64")


def promote_types(type1: str, type2: str) -> str:
    """The dtype of ``a + b`` for tensors of dtypes ``type1`` and ``type2``, by torch's rule
    (``torch.promote_types``): a float beats an integer (keeping the float's own width:
    float16 + int64 -> float16), wider beats narrower within a kind, bool loses to
    everything, and uint8 with int8 gives int16 (neither holds the other's range)."""
    a, b = check_dtype_name(type1), check_dtype_name(type2)
    if a == b:
        return a
    a_float, b_float = a in FLOAT_DTYPES, b in FLOAT_DTYPES
    if a_float != b_float:
        return a if a_float else b
    if a_float:
        return max(a, b, key=("float16", "float32", "float64").index)
    if "uint8" in (a, b) and "int8" in (a, b):
        return "int16"
    return max(a, b, key=_INT_ORDER.index)


def is_floating_point(dtype: str) -> "bool":
    return dtype in FLOAT_DTYPES


__all__ = ["DTYPES", "FLOAT_DTYPES", "check_dtype_name", "set_default_dtype", "promote_types",
           "get_default_dtype", "is_floating_point", "float16", "half", "float32", "float",
           "float64", "double", "uint8", "int8", "int16", "short", "int32", "int", "int64",
           "long", "bool"]
