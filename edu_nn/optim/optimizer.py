"""``Optimizer``: the base class of every optimizer (torch.optim.Optimizer's API).

An optimizer holds
    param_groups  a list of dicts: ``{"params": [Tensor, ...], "lr": ..., <options>}``; each
                  group may have its own options (per-layer learning rates)
    state         per parameter, a dict of what the update rule remembers between steps
                  (``state[p]["exp_avg"]``): edu_nn Tensors on the parameter's backend and
                  device, and Python numbers (``"step"``)
    defaults      the constructor's options, copied into every group that does not set them

Each subclass writes one method, ``_update_param(xp, param, grad, state, group)``: the update
rule for ONE parameter, on native arrays with the backend primitives of ``xp``, returning the
new parameter array. ``step()`` calls it for every parameter that has a gradient and rebinds
``p.array`` to the result: arrays are never written in place (so JAX works) and no autograd
graph is recorded. Learning rates, betas and the step count stay Python numbers.

    opt = edu_nn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
"""
from __future__ import annotations

import copy
import math
import numbers
from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np

from ..autograd import enable_grad
from ..tensor import Tensor

__all__ = ["Optimizer"]

#: torch options that only choose an implementation (a loop, a multi-tensor kernel, CUDA
#: graphs); they cannot change the numbers, so they are accepted and ignored.
IMPLEMENTATION_OPTIONS = ("foreach", "fused", "capturable")


class Optimizer:
    """Base class: ``Optimizer(params, defaults)``.

    params: an iterable of Tensors (leaves that require grad, e.g. ``model.parameters()``),
        of ``(name, Tensor)`` pairs (``model.named_parameters()``), or of dicts that each
        define a param group: ``[{"params": m.body.parameters()}, {"params": m.head.parameters(),
        "lr": 1e-2}]``.
    defaults: the default value of every option of this optimizer (lr, momentum, ...).
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        if isinstance(params, (Tensor, dict)):
            raise TypeError(
                f"{name}: params should be an iterable of Tensors or of dicts (param groups), "
                f"but got a single {type(params).__name__}; pass e.g. model.parameters() or "
                f"[weight, bias]")
        if isinstance(params, set):
            raise TypeError(f"{name}: parameters must be given in an ordered collection (a "
                            f"list), not a set: a set's order changes between runs, and the "
                            f"order is what state_dict() saves")
        self.defaults = dict(defaults)
        self._validate(self.defaults, where="")
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []

        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError(
                f"{name}: optimizer got an empty parameter list. Did you pass a generator that "
                f"was already used up (model.parameters() can be iterated only once), or a "
                f"model without parameters?")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)
        if not any(p.requires_grad for g in self.param_groups for p in g["params"]):
            # torch allows frozen parameters (they get no .grad and are skipped), but when NONE
            # of them requires grad the optimizer can never change anything: a student's bug.
            raise ValueError(
                f"{name}: none of the parameters requires grad, so step() could never update "
                f"them. Create them with requires_grad=True (or call p.requires_grad_()), or "
                f"use edu_nn.nn.Parameter.")

    # ----------------------------------------------------------- param groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (fine-tuning, unfreezing layers).

        Options the group does not set take the optimizer's defaults.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a param group must be a dict like "
                            f"{{'params': [...], 'lr': 0.1}}, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}: a param group needs a 'params' entry, got keys "
                             f"{sorted(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(f"{name}: parameters must be given in an ordered collection (a "
                            f"list), not a set: a set's order changes between runs, and the "
                            f"order is what state_dict() saves")
        else:
            params = list(params)
        group = dict(param_group)
        names = [p[0] for p in params if isinstance(p, tuple)]
        tensors = [p[1] if isinstance(p, tuple) else p for p in params]
        if names and len(names) != len(tensors):
            raise ValueError(f"{name}: give all parameters of a group with names "
                             f"(named_parameters()) or none of them")
        group["params"] = tensors
        if names:
            group["param_names"] = names
        index = len(self.param_groups)
        if not tensors:
            raise ValueError(f"{name}: param group {index} has no parameters")

        seen: set[int] = set()
        for i, p in enumerate(tensors):
            what = f"param group {index}, parameter {i}"
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: optimizer can only optimize edu_nn Tensors, but "
                                f"{what} is a {type(p).__module__}.{type(p).__name__}; wrap it "
                                f"with edu_nn.tensor(..., requires_grad=True) or "
                                f"edu_nn.nn.Parameter")
            if not p.is_leaf and getattr(p.grad_fn, "_retained", None) is not p:
                raise ValueError(
                    f"{name}: can't optimize a non-leaf Tensor ({what} was computed by "
                    f"{type(p.grad_fn).__name__}, so it has no .grad of its own). Optimize the "
                    f"leaf tensors it was computed from, or make it a leaf with "
                    f"t.detach().requires_grad_()")
            if not p.is_floating_point():
                raise TypeError(f"{name}: {what} has dtype {p.dtype}; only floating-point "
                                f"tensors can be optimized")
            if id(p) in seen:
                raise ValueError(f"{name}: {what} appears twice in the same param group; "
                                 f"give each parameter once")
            seen.add(id(p))

        for key, default in self.defaults.items():
            group.setdefault(key, default)
        self._validate(group, where=f" (param group {index})")

        for j, other in enumerate(self.param_groups):
            if ("param_names" in group) != ("param_names" in other):
                raise ValueError(f"{name}: all param groups must be given with names "
                                 f"(named_parameters()) or all without")
            if any(id(p) in seen for p in other["params"]):
                raise ValueError(f"{name}: some parameters appear in more than one parameter "
                                 f"group (groups {j} and {index}); each parameter may belong "
                                 f"to one group only")
        self.param_groups.append(group)

    def _validate(self, options: dict[str, Any], where: str) -> None:
        """Raise a clear error for an invalid option. Subclasses check their own options
        (with the helpers below) and call this for the shared ones."""
        if "lr" in options:
            self._check_range(options, "lr", "learning rate", low=0.0, where=where)
        if options.get("differentiable"):
            raise NotImplementedError(
                f"{type(self).__name__}: differentiable=True is not supported: edu_nn "
                f"optimizer steps work on .array and are not recorded in the autograd graph")

    def _check_range(self, options: dict[str, Any], key: str, what: str, low: float = 0.0,
                     high: float | None = None, high_open: bool = False,
                     where: str = "") -> None:
        """``options[key]`` must be a real number with low <= value <= high (or < high)."""
        value = options[key]
        name = type(self).__name__
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name}: {key} must be a Python number, got "
                            f"{type(value).__name__} {value!r}{where}")
        too_high = high is not None and (value >= high if high_open else value > high)
        if not value >= low or too_high or math.isnan(value):
            upper = "" if high is None else (f" and < {high}" if high_open else f" and <= {high}")
            raise ValueError(f"{name}: invalid {what}: {key}={value}{where}; it must be "
                             f">= {low}{upper}")

    # ------------------------------------------------------------ the update
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()``'s loss if given.

        closure: a function that zeroes the gradients, recomputes the loss, calls
            ``loss.backward()`` and returns the loss (needed by optimizers that evaluate
            the loss several times, like L-BFGS; the others just call it once).
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:  # frozen, or not used in the loss: torch skips it too
                    continue
                grad = p.grad.array
                if tuple(grad.shape) != tuple(p.array.shape):
                    raise RuntimeError(f"{type(self).__name__}: a parameter of shape "
                                       f"{p.shape} has a gradient of shape "
                                       f"{tuple(grad.shape)}; they must match")
                # The update rule sees native arrays; self.state keeps edu_nn Tensors.
                state = {k: v.array if isinstance(v, Tensor) else v
                         for k, v in self.state.get(p, {}).items()}
                p._set_array(self._update_param(p.backend, p.array, grad, state, group))
                if state:
                    self.state[p] = {k: self._wrap(v, p) for k, v in state.items()}
        return loss

    def _update_param(self, xp, param, grad, state: dict[str, Any], group: dict[str, Any]):
        """The update rule for one parameter (subclasses write it).

        xp: the parameter's backend (its primitives: ``xp.add_scaled``, ``xp.sqrt``, ...).
        param, grad: native arrays of the same shape. state: this parameter's state as native
        arrays and numbers; update it in place (rebinding keys, never writing into arrays).
        group: the parameter's group (options as Python values). Returns the new param array.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement _update_param (or "
                                  f"override step)")

    @staticmethod
    def _wrap(value, p: Tensor):
        return Tensor._make(value, p.backend, p.device) if p.backend.is_array(value) else value

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients before the next backward (they accumulate otherwise).

        set_to_none=True sets ``p.grad = None`` (parameters that then get no gradient are
        skipped by ``step``); False sets them to zero tensors (``step`` then still updates
        them, e.g. with momentum or weight decay).
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:  # torch zeroes the same grad tensor in place; we rebind its array
                    p.grad._set_array(p.backend.zeros_like(p.grad.array))
                    p.grad.grad_fn = None
                    p.grad.requires_grad = False

    # ---------------------------------------------------------- saving state
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in torch's format.

        ``{"state": {0: {"step": 3, "exp_avg": Tensor, ...}, ...},
        "param_groups": [{"lr": 0.001, ..., "params": [0, 1]}, ...]}``: parameters are
        numbered in order over all groups; parameters without state are absent from "state".
        A snapshot: the Tensors are immutable, so later steps do not change it.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.copy(v) for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state from ``state_dict()`` (ours, or torch.optim's of the same optimizer).

        Array values may be edu_nn Tensors, NumPy arrays or torch tensors; they are converted
        to each parameter's backend, dtype and device. Group options (lr, ...) are restored.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(f"{name}.load_state_dict: expected a dict with keys 'state' and "
                             f"'param_groups' (from optimizer.state_dict()), got "
                             f"{type(state_dict).__name__}"
                             + (f" with keys {sorted(map(str, state_dict))}"
                                if isinstance(state_dict, dict) else ""))
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the loaded state dict has "
                             f"{len(saved_groups)} parameter group(s), but this optimizer has "
                             f"{len(self.param_groups)}; build the optimizer with the same "
                             f"groups as the one that was saved")
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(f"{name}.load_state_dict: param group {i} has "
                                 f"{len(group['params'])} parameter(s) here but "
                                 f"{len(saved['params'])} in the loaded state dict; the "
                                 f"model must be the same as the one that was saved")
        id_map = {saved_id: p for group, saved in zip(self.param_groups, saved_groups)
                  for saved_id, p in zip(saved["params"], group["params"])}

        state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for key, values in state_dict["state"].items():
            if key not in id_map:
                raise ValueError(f"{name}.load_state_dict: the state has an entry for "
                                 f"parameter {key!r}, which no param group lists")
            p = id_map[key]
            state[p] = {k: self._load_value(p, k, v, key) for k, v in values.items()}

        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            new = {k: v for k, v in group.items()}
            new.update(saved)
            new["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                new["param_names"] = group["param_names"]
            self._validate(new, where=" (loaded param group)")
            new_groups.append(new)
        self.state = state
        self.param_groups = new_groups

    def _load_value(self, p: Tensor, key: str, value: Any, index: Any) -> Any:
        """One loaded state value: "step" becomes a Python number; arrays (edu_nn, NumPy,
        torch) become the parameter's backend arrays with its dtype and device."""
        if key == "step":
            step = float(_to_numpy(value)) if _is_array_like(value) else float(value)
            return int(step) if step.is_integer() else step
        if not _is_array_like(value):
            return copy.deepcopy(value)
        if isinstance(value, Tensor) and value.backend is p.backend:
            arr = value.array
            if value.dtype != p.dtype:
                arr = p.backend.astype(arr, p.dtype)
            if value.device != p.device:
                arr = p.backend.to_device(arr, p.device)
        else:
            arr = p.backend.asarray(_to_numpy(value), p.dtype, p.device)
        if tuple(arr.shape) != p.shape:
            raise ValueError(f"{type(self).__name__}.load_state_dict: state[{index!r}]"
                             f"[{key!r}] has shape {tuple(arr.shape)}, but the parameter has "
                             f"shape {p.shape}; the model must be the same as the one saved")
        return self._wrap(arr, p)

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"


def _is_array_like(value: Any) -> bool:
    return (isinstance(value, (Tensor, np.ndarray, np.generic))
            or (hasattr(value, "detach") and hasattr(value, "cpu"))  # a torch tensor
            or hasattr(value, "__array__"))  # a JAX array, array-api-strict, ...


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.backend.to_numpy(value.array)
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch, without importing it
        return value.detach().cpu().numpy()
    return np.asarray(value)
