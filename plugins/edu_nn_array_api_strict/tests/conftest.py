import pytest

from edu_nn.backends import Backend


def pytest_collection_modifyitems(items):
    """array-api-strict has no float16, and the backend contract does not yet let a backend
    say so (it has ``supports_float64`` but no list of supported dtypes). Until it does,
    the suite's float16 row is an expected failure here, and only that row."""
    if "dtypes" in vars(Backend):
        return
    for item in items:
        if item.name == "test_dtype_names[float16]":
            item.add_marker(pytest.mark.xfail(
                strict=True, raises=Exception,
                reason="array-api-strict has no float16; the contract cannot express that yet"))
