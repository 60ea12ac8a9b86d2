"""edu_nn: an educational deep-learning framework.

A small, readable core (a Tensor with reverse-mode autodiff, every op an ArrayFunction with a
hand-written backward) written against an abstract array backend, so the same code runs on
NumPy (the default), PyTorch tensors and JAX. The public API uses torch's names.

    import edu_nn
    x = edu_nn.tensor([5.0], requires_grad=True)
    w = edu_nn.tensor([3.0], requires_grad=True)
    L = 0.5 * (x - w) ** 2
    L.backward()                     # x.grad == 2, w.grad == -2
"""
import math as _math

from . import dtypes
from .backend_selection import get_backend, set_backend, use_backend
from .backends import Backend, BackendError, RandomKey, register_backend, registered_backends
from .dtypes import (bool, double, float, float16, float32, float64, get_default_dtype, half,
                     int, int8, int16, int32, int64, long, set_default_dtype, short, uint8)
from .dtypes import promote_types
from .tensor import Tensor, tensor
from .autograd import (ArrayFunction, Function, detect_anomaly, enable_grad, is_anomaly_enabled,
                       is_grad_enabled, no_grad, set_grad_enabled)
from .creation import (Generator, arange, empty, from_numpy, full, manual_seed, ones, ones_like,
                       rand, randn, zeros, zeros_like)
from .creation import (eye, initial_seed, linspace, logspace, multinomial, normal, randint,
                       randperm, seed, set_default_device)
from .devices import accelerator, cuda, device
from .ops import *  # noqa: F401,F403
from . import ops
from . import interop
from .interop import from_jax, from_torch, to_numpy
from .serialization import load, save
from .compiled_step import compile  # noqa: A001  (torch.compile's name)

__version__ = "0.1.0"

pi, e, inf, nan = _math.pi, _math.e, _math.inf, _math.nan

# The library packages load on first use, as ``edu_nn.nn`` / ``edu_nn.optim`` /
# ``edu_nn.utils.data`` / ``edu_nn.linalg`` (torch code reaches them through ``torch.``), so that
# ``import edu_nn`` stays fast.
_LAZY_SUBMODULES = ("nn", "optim", "utils", "data", "linalg")


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'edu_nn' has no attribute {name!r}")
