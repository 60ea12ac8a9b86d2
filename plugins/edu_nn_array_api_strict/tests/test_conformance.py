"""edu_nn's backend conformance suite, run on this plugin exactly as its docstring tells a
third-party backend to: import the tests, define the two fixtures.

    pytest plugins/edu_nn_array_api_strict/tests
"""
import pytest

from edu_nn.backends.conformance import *  # noqa: F401,F403  (the suite's tests)
from edu_nn_array_api_strict import ArrayAPIStrictBackend


@pytest.fixture
def backend():
    return ArrayAPIStrictBackend()


@pytest.fixture(params=["float32", "float64"])
def conformance_dtype(request):
    return request.param
