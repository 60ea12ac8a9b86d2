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


def is_floating_point(dtype: str) -> "bool":
    return dtype in FLOAT_DTYPES


__all__ = ["DTYPES", "FLOAT_DTYPES", "check_dtype_name", "set_default_dtype",
           "get_default_dtype", "is_floating_point", "float16", "half", "float32", "float",
           "float64", "double", "uint8", "int8", "int16", "short", "int32", "int", "int64",
           "long", "bool"]
