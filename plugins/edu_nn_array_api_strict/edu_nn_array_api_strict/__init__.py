"""edu_nn backend on array-api-strict, registered through the ``edu_nn.backends`` entry point.

A third-party backend in one file (``backend.py``): it subclasses the contract's
:class:`edu_nn.backends.Backend` and touches nothing else of edu_nn.
"""
from .backend import ArrayAPIStrictBackend

__all__ = ["ArrayAPIStrictBackend"]
__version__ = "0.1.0"
