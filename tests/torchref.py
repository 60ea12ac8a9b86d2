"""Compare an edu_nn computation with the same computation written in torch (float64).

The nn library promises torch's numbers, so its tests run a function (or a layer, a loss)
on an edu_nn backend and in plain torch on the CPU, drive both backwards with the same
*random* upstream gradient, and compare the forward value and the gradient of every float
input, every element.

    check_against_torch(lambda x, w: F.conv2d(x, w), lambda x, w: torch.nn.functional.conv2d(x, w),
                        [x_np, w_np], backend_name)

torch is the reference here, so the caller imports it with ``pytest.importorskip("torch")``.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

import edu_nn

RTOL, ATOL = 1e-8, 1e-10


def _torch():
    import torch
    return torch


def upstream_like(shape: tuple[int, ...], seed: int = 1234) -> np.ndarray:
    """A random float64 upstream gradient (never all-ones: that hides normalisation bugs)."""
    return np.random.default_rng(seed).standard_normal(shape)


def assert_close(got, want, what: str, rtol: float = RTOL, atol: float = ATOL) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != torch's {want.shape}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol,
                               err_msg=f"{what} differs from torch")


def check_against_torch(edu_fn: Callable[..., Any], torch_fn: Callable[..., Any],
                        arrays: Sequence[np.ndarray], backend: str, *,
                        constant: Sequence[int] = (), rtol: float = RTOL, atol: float = ATOL,
                        seed: int = 1234, name: str = "op") -> None:
    """Forward and every float input's gradient of ``edu_fn`` on ``backend`` equal torch's.

    arrays: NumPy inputs; float ones are passed as float64 and differentiated unless their
    index is in ``constant``; integer ones are passed as int64 and never differentiated.
    """
    torch = _torch()
    diff = [i for i, a in enumerate(arrays) if np.asarray(a).dtype.kind == "f" and i not in constant]
    edu_in, torch_in = [], []
    for i, a in enumerate(arrays):
        a = np.asarray(a)
        dtype = "float64" if a.dtype.kind == "f" else "int64"
        edu_in.append(edu_nn.tensor(a, dtype=dtype, backend=backend, requires_grad=i in diff))
        torch_in.append(torch.tensor(a.astype(np.float64 if dtype == "float64" else np.int64),
                                     requires_grad=i in diff))
    edu_out = edu_fn(*edu_in)
    torch_out = torch_fn(*torch_in)
    assert edu_out.dtype == "float64", f"{name}: float64 inputs gave a {edu_out.dtype} output"
    assert_close(edu_out.detach().numpy(), torch_out.detach().numpy(), f"{name} forward", rtol, atol)
    if not diff:
        return
    upstream = upstream_like(tuple(torch_out.shape), seed)
    edu_out.backward(edu_nn.tensor(upstream, dtype="float64", backend=backend))
    torch_grads = torch.autograd.grad(torch_out, [torch_in[i] for i in diff],
                                      torch.from_numpy(upstream), allow_unused=True)
    for i, tg in zip(diff, torch_grads):
        want = np.zeros(np.shape(arrays[i])) if tg is None else tg.numpy()
        got = edu_in[i].grad
        assert got is not None, f"{name}: input {i} got no gradient on {backend}"
        assert_close(got.numpy(), want, f"{name} gradient of input {i} on {backend}", rtol, atol)


def check_module_against_torch(edu_module, torch_module, inputs: Sequence[np.ndarray],
                               backend: str, *, steps: int = 1, rtol: float = RTOL,
                               atol: float = ATOL, name: str | None = None) -> None:
    """A layer equals its torch.nn counterpart with the same weights, in float64.

    torch's weights are copied in through ``load_state_dict`` (torch tensors accepted), so
    the test also checks that the state_dict keys and layouts are torch's. For each of
    ``steps`` calls (in the modules' current train/eval mode): the output, the gradient of
    every float input and of every parameter (by name) under a random upstream gradient;
    after the last call, every buffer (BatchNorm's running statistics).
    """
    torch = _torch()
    name = name or type(edu_module).__name__
    torch_module = torch_module.double()
    edu_module.to(backend=backend, dtype="float64")
    edu_module.load_state_dict(torch_module.state_dict())
    edu_params = dict(edu_module.named_parameters())
    torch_params = dict(torch_module.named_parameters())
    assert list(edu_params) == list(torch_params), \
        f"{name}: parameter names {list(edu_params)} != torch's {list(torch_params)}"
    for step in range(steps):
        edu_in, torch_in = [], []
        for a in inputs:
            a = np.asarray(a)
            floating = a.dtype.kind == "f"
            edu_in.append(edu_nn.tensor(a, dtype="float64" if floating else "int64",
                                        backend=backend, requires_grad=floating))
            torch_in.append(torch.tensor(a.astype(np.float64 if floating else np.int64),
                                         requires_grad=floating))
        edu_module.zero_grad()
        torch_module.zero_grad()
        edu_out, torch_out = edu_module(*edu_in), torch_module(*torch_in)
        what = f"{name} (step {step}, {backend})"
        assert_close(edu_out.detach().numpy(), torch_out.detach().numpy(), f"{what} forward",
                     rtol, atol)
        upstream = upstream_like(tuple(torch_out.shape), seed=step)
        edu_out.backward(edu_nn.tensor(upstream, dtype="float64", backend=backend))
        torch_out.backward(torch.from_numpy(upstream))
        for i, (e, t) in enumerate(zip(edu_in, torch_in)):
            if t.requires_grad:
                assert e.grad is not None, f"{what}: input {i} got no gradient"
                assert_close(e.grad.numpy(), t.grad.numpy(), f"{what} input {i} gradient",
                             rtol, atol)
        for pname, tp in torch_params.items():
            ep = edu_params[pname]
            if tp.grad is None:
                assert ep.grad is None, f"{what}: {pname} got a gradient, torch's got none"
                continue
            assert ep.grad is not None, f"{what}: parameter {pname} got no gradient"
            assert_close(ep.grad.numpy(), tp.grad.numpy(), f"{what} gradient of {pname}",
                         rtol, atol)
    torch_buffers = dict(torch_module.named_buffers())
    edu_buffers = dict(edu_module.named_buffers())
    assert list(edu_buffers) == list(torch_buffers), \
        f"{name}: buffer names {list(edu_buffers)} != torch's {list(torch_buffers)}"
    for bname, tb in torch_buffers.items():
        assert_close(edu_buffers[bname].numpy(), tb.numpy(), f"{name} buffer {bname} after "
                     f"{steps} step(s) on {backend}", rtol, atol)
