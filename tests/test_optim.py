"""edu_nn.optim against torch.optim: every optimizer, every combination of its options.

Each check trains the same small problem on both sides from identical float64 values,

    W: (3, 4), b: (3,), X: (8, 4), Y: (8, 3),  loss = sum((tanh(X @ W.T + b) - Y)^2),

with real gradients from each side's autograd, and compares the parameters after every one
of 50 steps, every element (relative 1e-8). The torch trajectories are computed once per
configuration and shared by the backends. Every combination runs on numpy and torch; the
slower jax and array_api_strict backends run a subset in which every option value appears.
"""
from __future__ import annotations

import functools
import itertools
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import edu_nn  # noqa: E402
import edu_nn.optim as optim  # noqa: E402
from edu_nn.nn import functional as edu_F  # noqa: E402

STEPS = 50
RTOL, ATOL = 1e-8, 1e-12  # ATOL only matters for elements that pass through zero

_rng = np.random.default_rng(0)
W0 = _rng.standard_normal((3, 4)) * 0.5
B0 = _rng.standard_normal(3) * 0.5
X = _rng.standard_normal((8, 4))
Y = _rng.uniform(-0.8, 0.8, (8, 3))

LR = {"SGD": 0.05, "Adagrad": 0.1, "RMSprop": 0.01, "Adadelta": 1.0, "Adam": 0.02,
      "AdamW": 0.02}

#: option -> values; itertools.product of them gives every combination (invalid ones,
#: such as nesterov without momentum, are dropped).
OPTIONS = {
    "SGD": dict(momentum=[0, 0.9], dampening=[0, 0.3], nesterov=[False, True],
                weight_decay=[0, 0.1], maximize=[False, True]),
    "Adagrad": dict(lr_decay=[0, 0.05], initial_accumulator_value=[0, 0.1],
                    weight_decay=[0, 0.1], maximize=[False, True]),
    "RMSprop": dict(centered=[False, True], momentum=[0, 0.5], weight_decay=[0, 0.1],
                    maximize=[False, True]),
    "Adadelta": dict(rho=[0.9, 0.5], weight_decay=[0, 0.1], maximize=[False, True]),
    "Adam": dict(amsgrad=[False, True], weight_decay=[0, 0.1],
                 decoupled_weight_decay=[False, True], maximize=[False, True]),
    "AdamW": dict(amsgrad=[False, True], weight_decay=[0.01, 0.1], maximize=[False, True],
                  betas=[(0.9, 0.999), (0.8, 0.99)]),
}
SLOW_BACKENDS = ("jax", "array_api_strict")


def combinations(name: str) -> list[dict]:
    keys = list(OPTIONS[name])
    combos = [dict(zip(keys, values)) for values in itertools.product(*OPTIONS[name].values())]
    if name == "SGD":
        combos = [c for c in combos
                  if not c["nesterov"] or (c["momentum"] > 0 and c["dampening"] == 0)]
    return [dict(lr=LR[name], **c) for c in combos]


def subset(combos: list[dict], backend: str) -> list[dict]:
    """All combinations on numpy/torch; on the slow backends a few that still show every
    value of every option (the first, the last, and every fifth in between)."""
    if backend not in SLOW_BACKENDS:
        return combos
    picked = combos[::5] + [combos[-1]]
    for key in combos[0]:
        for value in {repr(c[key]) for c in combos} - {repr(c[key]) for c in picked}:
            picked.append(next(c for c in combos if repr(c[key]) == value))
    return picked


# ------------------------------------------------------------------ the problem
def edu_loss(W, b, X_, Y_):
    return ((edu_nn.tanh(X_ @ W.T + b) - Y_) ** 2).sum()


def torch_loss(W, b, X_, Y_):
    return ((torch.tanh(X_ @ W.T + b) - Y_) ** 2).sum()


def edu_params(backend, W=W0, b=B0):
    return [edu_nn.tensor(W, dtype="float64", backend=backend, requires_grad=True),
            edu_nn.tensor(b, dtype="float64", backend=backend, requires_grad=True)]


def torch_params(W=W0, b=B0):
    return [torch.tensor(W, dtype=torch.float64, requires_grad=True),
            torch.tensor(b, dtype=torch.float64, requires_grad=True)]


def groups_for(params, group_options):
    """``params`` as the optimizer's first argument: a list, or one group per option dict."""
    if group_options is None:
        return params
    return [dict(params=[p], **opts) for p, opts in zip(params, group_options)]


def edu_trajectory(backend, opt_cls, options, steps=STEPS, group_options=None,
                   params=None, opt=None):
    """Parameters (NumPy) after each step of ``opt_cls`` on the edu_nn problem."""
    params = params or edu_params(backend)
    X_ = edu_nn.tensor(X, dtype="float64", backend=backend)
    Y_ = edu_nn.tensor(Y, dtype="float64", backend=backend)
    opt = opt or opt_cls(groups_for(params, group_options), **options)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        edu_loss(*params, X_, Y_).backward()
        opt.step()
        out.append([p.detach().numpy().copy() for p in params])
    return out, opt, params


def torch_run(opt_name, options, steps=STEPS, group_options=None, params=None, opt=None):
    params = params or torch_params()
    X_, Y_ = torch.tensor(X), torch.tensor(Y)
    opt = opt or getattr(torch.optim, opt_name)(groups_for(params, group_options), **options)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        torch_loss(*params, X_, Y_).backward()
        opt.step()
        out.append([p.detach().numpy().copy() for p in params])
    return out, opt, params


@functools.lru_cache(maxsize=None)
def torch_trajectory(opt_name, options_key, group_key=None, steps=STEPS):
    options = dict(options_key)
    groups = None if group_key is None else [dict(g) for g in group_key]
    return torch_run(opt_name, options, steps, groups)[0]


def key(options: dict) -> tuple:
    return tuple(sorted(options.items()))


def assert_same_trajectory(got, want, what: str) -> None:
    assert len(got) == len(want)
    for step, (g_params, w_params) in enumerate(zip(got, want), 1):
        for name, g, w in zip(("W", "b"), g_params, w_params):
            np.testing.assert_allclose(
                g, w, rtol=RTOL, atol=ATOL,
                err_msg=f"{what}: parameter {name} differs from torch after step {step}")


# ------------------------------------------------------------ trajectories
@pytest.mark.parametrize("name", list(OPTIONS))
def test_every_option_combination_matches_torch(name, backend_name):
    cls = getattr(optim, name)
    for options in subset(combinations(name), backend_name):
        got = edu_trajectory(backend_name, cls, options)[0]
        want = torch_trajectory(name, key(options))
        assert_same_trajectory(got, want, f"{name}({options}) on {backend_name}")


GROUPS = {  # two param groups (W, b) with different options
    "SGD": [dict(lr=0.05, momentum=0.9, nesterov=True), dict(lr=0.2, weight_decay=0.1)],
    "Adagrad": [dict(lr=0.1, lr_decay=0.01), dict(lr=0.3, weight_decay=0.1, maximize=True)],
    "RMSprop": [dict(centered=True, momentum=0.5), dict(lr=0.003, alpha=0.9)],
    "Adadelta": [dict(rho=0.5), dict(lr=0.5, weight_decay=0.1)],
    "Adam": [dict(amsgrad=True, betas=(0.8, 0.9)), dict(lr=0.05, weight_decay=0.1)],
    "AdamW": [dict(weight_decay=0.5), dict(lr=0.05, amsgrad=True, eps=1e-3)],
}


@pytest.mark.parametrize("name", list(GROUPS))
def test_param_groups_with_different_options(name, backend_name):
    defaults = dict(lr=LR[name])
    got = edu_trajectory(backend_name, getattr(optim, name), defaults,
                         group_options=GROUPS[name])[0]
    want = torch_trajectory(name, key(defaults), tuple(key(g) for g in GROUPS[name]))
    assert_same_trajectory(got, want, f"{name} with groups {GROUPS[name]} on {backend_name}")


def test_defaults_and_repr_match_torch():
    for name in OPTIONS:
        ours = getattr(optim, name)(edu_params("numpy"))
        theirs = getattr(torch.optim, name)(torch_params())
        assert ours.defaults == theirs.defaults, name
        assert repr(ours) == repr(theirs), name


class AdamWithoutBiasCorrection(optim.Adam):
    """A deliberately broken Adam (the classic student bug): no bias correction."""

    def _update_param(self, xp, param, grad, state, group):
        if not state:
            state.update(step=0, exp_avg=xp.zeros_like(param), exp_avg_sq=xp.zeros_like(param))
        state["step"] += 1
        beta1, beta2 = group["betas"]
        m = xp.add_scaled(xp.multiply(state["exp_avg"], beta1), grad, 1 - beta1)
        v = xp.add_scaled(xp.multiply(state["exp_avg_sq"], beta2), xp.multiply(grad, grad),
                          1 - beta2)
        state["exp_avg"], state["exp_avg_sq"] = m, v
        return xp.add_scaled(param, xp.divide(m, xp.add(xp.sqrt(v), group["eps"])),
                             -group["lr"])


class SGDWithDampenedFirstStep(optim.SGD):
    """Broken: dampening applied on the first step too (torch starts the buffer at g)."""

    def _update_param(self, xp, param, grad, state, group):
        buf = state.get("momentum_buffer", xp.zeros_like(param))
        buf = xp.add_scaled(xp.multiply(buf, group["momentum"]), grad, 1 - group["dampening"])
        state["momentum_buffer"] = buf
        return xp.add_scaled(param, buf, -group["lr"])


@pytest.mark.parametrize("broken, name, options", [
    (AdamWithoutBiasCorrection, "Adam", dict(lr=0.02)),
    (SGDWithDampenedFirstStep, "SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
])
def test_mutation_is_caught(broken, name, options):
    got = edu_trajectory("numpy", broken, options)[0]
    with pytest.raises(AssertionError):
        assert_same_trajectory(got, torch_trajectory(name, key(options)), "mutant")


def test_float32_parameters_stay_float32(backend_name):
    W = edu_nn.tensor(W0, dtype="float32", backend=backend_name, requires_grad=True)
    for cls in (optim.SGD, optim.Adagrad, optim.RMSprop, optim.Adadelta, optim.Adam,
                optim.AdamW):
        opt = cls([W], lr=0.01, **({"momentum": 0.9} if cls in (optim.SGD, optim.RMSprop)
                                   else {}))
        (W * W).sum().backward()
        opt.step()
        opt.zero_grad()
        assert W.dtype == "float32" and W.is_leaf and W.requires_grad
        assert all(v.dtype == "float32" for v in opt.state[W].values()
                   if isinstance(v, edu_nn.Tensor)), cls.__name__
        assert W.backend.name == backend_name


# ------------------------------------------------------------------ state_dict
STATEFUL = {  # configurations that use every kind of state
    "SGD": dict(lr=0.05, momentum=0.9), "Adagrad": dict(lr=0.1, lr_decay=0.01),
    "RMSprop": dict(lr=0.01, centered=True, momentum=0.5), "Adadelta": dict(lr=1.0),
    "Adam": dict(lr=0.02, amsgrad=True), "AdamW": dict(lr=0.02, weight_decay=0.1),
}


def _as_numpy_state(state_dict):
    return {"state": {i: {k: (v.numpy() if isinstance(v, edu_nn.Tensor) else v)
                          for k, v in s.items()} for i, s in state_dict["state"].items()},
            "param_groups": state_dict["param_groups"]}


@pytest.mark.parametrize("name", list(STATEFUL))
def test_state_dict_round_trip_continues_the_trajectory(name, backend_name):
    options = STATEFUL[name]
    cls = getattr(optim, name)
    first, opt, params = edu_trajectory(backend_name, cls, options, steps=20)
    saved = opt.state_dict()
    theirs = torch_run(name, options, steps=1)[1].state_dict()
    assert set(saved["state"][0]) == set(theirs["state"][0]), "state keys differ from torch's"
    assert saved["param_groups"][0].keys() == theirs["param_groups"][0].keys()
    before = {k: v.numpy().copy() for k, v in saved["state"][0].items()
              if isinstance(v, edu_nn.Tensor)}
    opt.step()  # a snapshot: later steps do not change what was saved
    for k, v in before.items():
        np.testing.assert_array_equal(saved["state"][0][k].numpy(), v)
    # a fresh optimizer on fresh parameters with the values after step 20, loaded from NumPy
    params2 = edu_params(backend_name, *first[19])
    opt2 = cls(params2, lr=123.0)  # the lr comes back from the state dict
    opt2.load_state_dict(_as_numpy_state(saved))
    assert opt2.param_groups[0]["lr"] == options["lr"]
    rest = edu_trajectory(backend_name, cls, {}, steps=30, params=params2, opt=opt2)[0]
    assert_same_trajectory(first[:20] + rest, torch_trajectory(name, key(options)),
                           f"{name} saved after 20 steps and loaded on {backend_name}")


@pytest.mark.parametrize("name", list(STATEFUL))
def test_loading_torchs_state_dict(name, backend_name):
    """Train 20 steps in torch, load torch's optimizer state into ours, go on for 30."""
    options = STATEFUL[name]
    _, topt, tparams = torch_run(name, options, steps=20)
    params = edu_params(backend_name, *[p.detach().numpy() for p in tparams])
    opt = getattr(optim, name)(params, **options)
    opt.load_state_dict(topt.state_dict())
    state = opt.state[params[0]]
    assert all(isinstance(v, edu_nn.Tensor) and v.backend.name == backend_name
               for k, v in state.items() if k != "step")
    if "step" in state:
        assert state["step"] == 20 and isinstance(state["step"], int)
    rest = edu_trajectory(backend_name, None, {}, steps=30, params=params, opt=opt)[0]
    assert_same_trajectory(rest, torch_trajectory(name, key(options))[20:],
                           f"{name} continued from torch's state dict on {backend_name}")


def test_state_dict_across_backends():
    first, opt, params = edu_trajectory("numpy", optim.Adam, STATEFUL["Adam"], steps=20)
    params2 = edu_params("torch", *first[-1])
    opt2 = optim.Adam(params2, lr=1.0)
    opt2.load_state_dict(opt.state_dict())  # numpy Tensors into a torch-backend optimizer
    assert opt2.state[params2[0]]["exp_avg"].backend.name == "torch"
    rest = edu_trajectory("torch", None, {}, steps=30, params=params2, opt=opt2)[0]
    assert_same_trajectory(first + rest, torch_trajectory("Adam", key(STATEFUL["Adam"])),
                           "Adam moved from numpy to torch")


def test_load_state_dict_errors():
    opt = optim.SGD(edu_params("numpy"), lr=0.1, momentum=0.9)
    one_group = optim.SGD([edu_params("numpy")[0]], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="group 0 has 2 parameter.* but 1 in the loaded"):
        opt.load_state_dict(one_group)
    two_groups = optim.SGD([{"params": [p]} for p in edu_params("numpy")], lr=0.1)
    with pytest.raises(ValueError, match="2 parameter group.*this optimizer has 1"):
        opt.load_state_dict(two_groups.state_dict())
    with pytest.raises(ValueError, match="keys 'state' and 'param_groups'"):
        opt.load_state_dict({"lr": 0.1})
    bad = opt.state_dict()
    bad["state"] = {0: {"momentum_buffer": np.zeros((4, 3))}}
    with pytest.raises(ValueError, match=r"shape \(4, 3\).*parameter has shape \(3, 4\)"):
        opt.load_state_dict(bad)


# ------------------------------------------------------- zero_grad, closure, skip
def test_zero_grad_both_ways(backend_name):
    params = edu_params(backend_name)
    opt = optim.SGD(params, lr=0.1, weight_decay=0.5)
    X_ = edu_nn.tensor(X, dtype="float64", backend=backend_name)
    Y_ = edu_nn.tensor(Y, dtype="float64", backend=backend_name)
    edu_loss(*params, X_, Y_).backward()
    grad = params[0].grad
    opt.zero_grad(set_to_none=False)
    assert params[0].grad is grad, "set_to_none=False keeps the grad tensor (as torch)"
    assert params[0].grad.shape == (3, 4) and params[0].grad.backend.name == backend_name
    assert not np.any(params[0].grad.numpy()) and not params[0].grad.requires_grad
    opt.step()  # zero gradients still step: weight decay shrinks the parameters
    tparams = torch_params()
    topt = torch.optim.SGD(tparams, lr=0.1, weight_decay=0.5)
    torch_loss(*tparams, torch.tensor(X), torch.tensor(Y)).backward()
    topt.zero_grad(set_to_none=False)
    topt.step()
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=RTOL)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_step_with_closure_returns_the_loss(backend_name):
    params = edu_params(backend_name)
    X_ = edu_nn.tensor(X, dtype="float64", backend=backend_name)
    Y_ = edu_nn.tensor(Y, dtype="float64", backend=backend_name)
    opt = optim.SGD(params, lr=0.05, momentum=0.9)
    tparams = torch_params()
    topt = torch.optim.SGD(tparams, lr=0.05, momentum=0.9)

    def closure():
        opt.zero_grad()
        loss = edu_loss(*params, X_, Y_)
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = torch_loss(*tparams, torch.tensor(X), torch.tensor(Y))
        loss.backward()
        return loss

    for _ in range(10):
        with edu_nn.no_grad():  # step enables grad for the closure, as torch does
            loss = opt.step(closure)
        tloss = topt.step(tclosure)
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=RTOL)
    np.testing.assert_allclose(params[0].detach().numpy(), tparams[0].detach().numpy(),
                               rtol=RTOL)
    assert opt.step() is None


def test_params_without_grad_are_skipped(backend_name):
    unused = edu_nn.tensor([1.0, 2.0], dtype="float64", backend=backend_name,
                           requires_grad=True)
    frozen = edu_nn.tensor([3.0], dtype="float64", backend=backend_name)
    params = edu_params(backend_name)
    opt = optim.Adam(params + [unused, frozen], lr=0.02)
    got = edu_trajectory(backend_name, None, {}, steps=5, params=params, opt=opt)[0]
    assert_same_trajectory(got, torch_trajectory("Adam", key(dict(lr=0.02)))[:5], "Adam")
    assert unused.detach().numpy().tolist() == [1.0, 2.0]
    assert frozen.numpy().tolist() == [3.0]
    assert sorted(opt.state_dict()["state"]) == [0, 1], "no state for skipped parameters"


def test_no_graph_is_recorded_and_params_stay_leaves(backend_name):
    params = edu_params(backend_name)
    opt = optim.RMSprop(params, momentum=0.5, centered=True)
    edu_trajectory(backend_name, None, {}, steps=2, params=params, opt=opt)
    for p in params:
        assert p.is_leaf and p.requires_grad and p.grad_fn is None
    for value in opt.state[params[0]].values():
        if isinstance(value, edu_nn.Tensor):
            assert value.grad_fn is None and not value.requires_grad


# ---------------------------------------------------------------- errors
def test_errors_that_teach():
    W, b = edu_params("numpy")
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(W, lr=0.1)
    with pytest.raises(ValueError, match="appears twice"):
        optim.SGD([W, b, W], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [W]}, {"params": [b, W]}], lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([W * 2], lr=0.1)
    with pytest.raises(ValueError, match="none of the parameters requires grad"):
        optim.SGD([edu_nn.tensor([1.0])], lr=0.1)
    with pytest.raises(TypeError, match="only optimize edu_nn Tensors.*numpy.ndarray"):
        optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(TypeError, match="ordered collection"):
        optim.SGD({W, b}, lr=0.1)
    with pytest.raises(ValueError, match=r"invalid learning rate: lr=-0\.1"):
        optim.Adam([W], lr=-0.1)
    with pytest.raises(ValueError, match=r"invalid learning rate: lr=-1.*param group 1"):
        optim.SGD([{"params": [W]}, {"params": [b], "lr": -1}], lr=0.1)
    with pytest.raises(ValueError, match=r"beta parameter at index 1: betas\[1\]=1\.0"):
        optim.Adam([W], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match=r"beta parameter at index 0: betas\[0\]=-0\.5"):
        optim.AdamW([W], betas=(-0.5, 0.999))
    with pytest.raises(ValueError, match=r"epsilon value: eps=-1e-08"):
        optim.Adam([W], eps=-1e-8)
    with pytest.raises(ValueError, match=r"momentum value: momentum=-0\.9"):
        optim.SGD([W], momentum=-0.9)
    with pytest.raises(ValueError, match=r"weight_decay value: weight_decay=-1"):
        optim.RMSprop([W], weight_decay=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum > 0"):
        optim.SGD([W], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="rho value: rho=1.5"):
        optim.Adadelta([W], rho=1.5)
    with pytest.raises(TypeError, match="lr must be a Python number"):
        optim.SGD([W], lr=edu_nn.tensor(0.1))
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        optim.Adam([W], differentiable=True)
    W.grad = edu_nn.tensor(np.zeros(3), dtype="float64")
    with pytest.raises(RuntimeError, match=r"shape \(3, 4\) has a gradient of shape \(3,\)"):
        optim.SGD([W], lr=0.1).step()


def test_implementation_flags_are_accepted():
    W, b = edu_params("numpy")
    optim.Adam([W], foreach=True, capturable=True)
    optim.SGD([b], foreach=False, fused=None)


def test_named_parameters_and_add_param_group():
    W, b = edu_params("numpy")
    opt = optim.SGD([("weight", W)], lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["weight"]
    with pytest.raises(ValueError, match="with names"):
        opt.add_param_group({"params": [b]})
    opt.add_param_group({"params": [("bias", b)], "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0
    assert opt.state_dict()["param_groups"][1]["params"] == [1]


def test_parameters_keep_their_identity():
    try:
        from edu_nn.nn import Parameter
    except ImportError:
        from edu_nn.nn.parameter import Parameter
    W = Parameter(edu_nn.tensor(W0, dtype="float64"))
    opt = optim.SGD([W], lr=0.1)
    (W * W).sum().backward()
    opt.step()
    assert opt.param_groups[0]["params"][0] is W and isinstance(W, Parameter)
    np.testing.assert_allclose(W.detach().numpy(), W0 - 0.1 * 2 * W0, rtol=RTOL)


def test_import_does_not_pull_in_torch():
    import subprocess
    import sys
    code = "import edu_nn, edu_nn.optim, sys; assert 'torch' not in sys.modules, 'torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_docstrings_show_the_update_rule():
    for cls in (optim.SGD, optim.Adagrad, optim.RMSprop, optim.Adadelta, optim.Adam):
        assert re.search(r"θ\s+←\s+θ", cls.__doc__), cls.__name__


# ------------------------------------------- in-place updates (issue 16) and torch's aliasing
ALL_OPTIMIZERS = {"SGD": dict(momentum=0.9, nesterov=True), "Adagrad": {},
                  "RMSprop": dict(momentum=0.5, centered=True), "Adadelta": {},
                  "Adam": dict(amsgrad=True), "AdamW": {}}


def _model_and_loss(backend_name):
    W = edu_nn.tensor(W0, dtype="float64", backend=backend_name, requires_grad=True)
    B = edu_nn.tensor(B0, dtype="float64", backend=backend_name, requires_grad=True)
    x = edu_nn.tensor(X, dtype="float64", backend=backend_name)
    # W * W saves W itself for backward (as torch's linear does)
    return [W, B], lambda: (edu_F.linear(x, W, B) ** 2).mean() \
        + 0.01 * (W * W * B[0]).sum()


@pytest.mark.parametrize("name", list(ALL_OPTIMIZERS))
def test_step_is_seen_by_aliases_and_not_by_old_arrays(name, backend_name):
    """As in torch: .data/detach() aliases see the update (they share storage), a graph that
    saved the old parameter for backward is refused afterwards, and an array the user kept
    from before the step (p.array) keeps its values (edu_nn writes a parameter's array in
    place only when nothing else refers to it)."""
    params, loss_fn = _model_and_loss(backend_name)
    tparams = [torch.tensor(W0, requires_grad=True), torch.tensor(B0, requires_grad=True)]
    opt = getattr(optim, name)(params, lr=LR[name], **ALL_OPTIMIZERS[name])
    topt = getattr(torch.optim, name)(tparams, lr=LR[name], **ALL_OPTIMIZERS[name])
    tx = torch.tensor(X)
    for step in range(4):
        opt.zero_grad()
        topt.zero_grad()
        loss = loss_fn()
        loss.backward(retain_graph=True)
        tW, tB = tparams
        ((torch.nn.functional.linear(tx, tW, tB) ** 2).mean()
         + 0.01 * (tW * tW * tB[0]).sum()).backward()
        alias, data, kept = params[0].detach(), params[1].data, params[0].array
        kept_values = params[0].backend.to_numpy(kept).copy()
        version = params[0]._version
        opt.step()
        topt.step()
        for p, tp in zip(params, tparams):
            np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=RTOL,
                                       atol=ATOL, err_msg=f"{name} step {step}")
        np.testing.assert_array_equal(alias.numpy(), params[0].detach().numpy())
        np.testing.assert_array_equal(data.numpy(), params[1].detach().numpy())
        np.testing.assert_array_equal(params[0].backend.to_numpy(kept), kept_values,
                                      err_msg="an array kept from before the step changed")
        assert params[0]._version > version, "step() must bump the version counter (torch)"
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()


def test_numpy_step_writes_unshared_parameters_in_place():
    """The common loop (loss still alive, its graph freed by backward) lets Adam update the
    parameter's own array: no new array per step."""
    params, loss_fn = _model_and_loss("numpy")
    opt = optim.Adam(params, lr=0.01)
    loss_fn().backward()
    opt.step()
    ids = [id(p.array) for p in params]
    for _ in range(3):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    assert [id(p.array) for p in params] == ids
    assert loss.item() > 0  # loss (and its freed graph) was alive during the step
