"""Where the data package's randomness comes from.

Shuffling, splits and random transforms draw in NumPy (as ``nn.init`` does), so a seed gives
the same batches and the same augmentations on every backend. The source is one of:

* ``None``: edu_nn's default generator, the one ``edu_nn.manual_seed(s)`` reseeds;
* an ``int`` seed;
* an ``edu_nn.Generator`` (each draw takes its next key, so successive draws differ);
* a ``numpy.random.Generator`` (used as is).
"""
from __future__ import annotations

import numpy as np

from .. import creation
from ..creation import Generator

GeneratorLike = "Generator | np.random.Generator | int | None"


def as_generator(generator) -> Generator | np.random.Generator | None:
    """Turn an int seed into a Generator of its own (kept by the caller); pass others through."""
    if generator is None or isinstance(generator, (Generator, np.random.Generator)):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return Generator(int(generator))
    raise TypeError(f"generator must be an edu_nn.Generator, a numpy.random.Generator, an int "
                    f"seed or None (the default generator that edu_nn.manual_seed seeds); "
                    f"got {type(generator).__name__}")


def numpy_rng(generator) -> np.random.Generator:
    """A NumPy generator for one draw: the next key of ``generator`` (see the module doc).

    An int seed gives the same stream on every call (it has no state to advance): callers
    that draw repeatedly convert it once with :func:`as_generator`.
    """
    generator = as_generator(generator)
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is None:
        generator = creation.default_generator  # looked up now: manual_seed reseeds it
    return np.random.default_rng(generator.next_key().entropy())
