"""edu_nn.compile: a compiled training step gives the eager step's numbers, and its guards hold.

Each case builds two identical models (same seed), steps one eagerly and the other through
``edu_nn.compile`` on the same batches with the same dropout keys (the default generator is
reseeded before each step), and compares losses and every parameter over 200 steps in
float64 (<= 1e-12 relative). The eager twin is the reference: compile must not change the
numbers (float64, the same primitives in the same order).
"""
from __future__ import annotations

import numpy as np
import pytest

import edu_nn
from edu_nn import nn, optim
from edu_nn.compiled_step import CompileError
from edu_nn.nn import functional as F
from edu_nn.optim import lr_scheduler as S

STEPS = 200
RTOL = 1e-12


def _mlp():
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Dropout(0.2), nn.Linear(6, 3))


def _cnn():
    # No conv bias before BatchNorm (the usual choice): BatchNorm subtracts it again, so its
    # gradient is rounding noise, and a relative comparison of noise would be meaningless
    # (XLA's fused jit program rounds that noise differently from the eager ops).
    return nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2), nn.ReLU(), nn.Dropout(0.25),
                         nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


def _batches(backend_name, image=False, n=3, batch=5, seed=0):
    rng = np.random.default_rng(seed)
    shape = (batch, 1, 6, 6) if image else (batch, 4)
    with edu_nn.use_backend(backend_name):
        return [(edu_nn.tensor(rng.standard_normal(shape), dtype="float64"),
                 edu_nn.tensor(rng.integers(0, 3, batch))) for _ in range(n)]


def _twins(backend_name, make_model, make_opt, make_sched=None):
    """Two identical (model, optimizer, scheduler, step) tuples: eager and compiled."""
    out = []
    for compiled in (False, True):
        with edu_nn.use_backend(backend_name):
            edu_nn.manual_seed(0)
            model = make_model().double()
            opt = make_opt(model.parameters())
            sched = make_sched(opt) if make_sched else None

        def step(x, y, model=model, opt=opt):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        out.append((model, opt, sched, edu_nn.compile(step) if compiled else step))
    return out


def _assert_close(a, b, what):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.maximum(np.abs(b), 1e-300)
    worst = float(np.max(np.abs(a - b) / scale)) if a.size else 0.0
    assert worst <= RTOL, f"{what}: relative difference {worst:.3g} > {RTOL}"


def _run(backend_name, twins, batches, steps=STEPS, plateau=False):
    (m1, o1, s1, eager), (m2, o2, s2, compiled) = twins
    for i in range(steps):
        x, y = batches[i % len(batches)]
        edu_nn.manual_seed(1000 + i)
        l1 = eager(x, y)
        edu_nn.manual_seed(1000 + i)
        l2 = compiled(x, y)
        _assert_close(l2.item(), l1.item(), f"loss at step {i}")
        for s, loss in ((s1, l1), (s2, l2)):
            if s is not None:
                s.step(loss.item()) if plateau else s.step()
    for (name, p), q in zip(m1.state_dict().items(), m2.state_dict().values()):
        _assert_close(q.numpy(), p.numpy(), f"{name} after {steps} steps")
    assert compiled.traces == 1 and compiled.replays == steps - 2, compiled
    return compiled


OPTIMIZERS = {
    "sgd": lambda p: optim.SGD(p, lr=0.1),
    "sgd_momentum": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3),
    "sgd_nesterov": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "adagrad": lambda p: optim.Adagrad(p, lr=0.1, lr_decay=1e-3, weight_decay=1e-3),
    "rmsprop": lambda p: optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
    "adadelta": lambda p: optim.Adadelta(p, lr=1.0, weight_decay=1e-3),
    "adam": lambda p: optim.Adam(p, lr=0.01, weight_decay=1e-3),
    "adam_amsgrad": lambda p: optim.Adam(p, lr=0.01, amsgrad=True, maximize=False),
    "adamw": lambda p: optim.AdamW(p, lr=0.01),
}


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_mlp_with_every_optimizer_matches_eager_over_200_steps(backend_name, opt_name):
    twins = _twins(backend_name, _mlp, OPTIMIZERS[opt_name])
    _run(backend_name, twins, _batches(backend_name))


def test_cnn_with_batchnorm_and_dropout_matches_eager_over_200_steps(backend_name):
    twins = _twins(backend_name, _cnn, OPTIMIZERS["adam"])
    compiled = _run(backend_name, twins, _batches(backend_name, image=True))
    # the running statistics and the batch count are state of the replay, not constants
    bn1, bn2 = twins[0][0][1], twins[1][0][1]
    assert bn2.num_batches_tracked.item() == bn1.num_batches_tracked.item() == STEPS
    assert compiled.graph().count("mean") >= 2  # batch statistics: mean and variance


SCHEDULERS = {
    "step": lambda o: S.StepLR(o, step_size=7, gamma=0.5),
    "multistep": lambda o: S.MultiStepLR(o, milestones=[20, 90], gamma=0.3),
    "exponential": lambda o: S.ExponentialLR(o, gamma=0.99),
    "cosine": lambda o: S.CosineAnnealingLR(o, T_max=50),
    "cosine_restarts": lambda o: S.CosineAnnealingWarmRestarts(o, T_0=30),
    "linear": lambda o: S.LinearLR(o, total_iters=40),
    "constant": lambda o: S.ConstantLR(o, total_iters=40),
    "polynomial": lambda o: S.PolynomialLR(o, total_iters=150, power=2.0),
    "lambda": lambda o: S.LambdaLR(o, lambda e: 1.0 / (1 + e)),
    "multiplicative": lambda o: S.MultiplicativeLR(o, lambda e: 0.995),
    "onecycle": lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=STEPS),
    "sequential": lambda o: S.SequentialLR(o, [S.LinearLR(o, total_iters=10),
                                               S.ExponentialLR(o, gamma=0.98)],
                                           milestones=[10]),
    "chained": lambda o: S.ChainedScheduler([S.ExponentialLR(o, gamma=0.99),
                                             S.StepLR(o, step_size=20, gamma=0.5)]),
    "plateau": lambda o: S.ReduceLROnPlateau(o, patience=2, factor=0.5),
}


@pytest.mark.parametrize("sched_name", list(SCHEDULERS))
def test_every_scheduler_changes_the_compiled_learning_rate(backend_name, sched_name):
    """The scheduler runs outside the compiled step; each replay reads the group's current
    options (OneCycleLR also cycles Adam's beta1)."""
    opt = OPTIMIZERS["adam"] if sched_name == "onecycle" else OPTIMIZERS["sgd_momentum"]
    twins = _twins(backend_name, _mlp, opt, SCHEDULERS[sched_name])
    _run(backend_name, twins, _batches(backend_name), plateau=sched_name == "plateau")
    lrs = twins[1][1].param_groups[0]["lr"]
    assert lrs == twins[0][1].param_groups[0]["lr"]


# ------------------------------------------------------------------ guards
def _one(backend_name, make_opt=OPTIMIZERS["adam"], model=_mlp):
    twins = _twins(backend_name, model, make_opt)
    return twins


def _step_both(twins, x, y, seed=7):
    (_, _, _, eager), (_, _, _, compiled) = twins
    edu_nn.manual_seed(seed)
    l1 = eager(x, y)
    edu_nn.manual_seed(seed)
    l2 = compiled(x, y)
    _assert_close(l2.item(), l1.item(), "loss")
    for p, q in zip(twins[0][0].parameters(), twins[1][0].parameters()):
        _assert_close(q.detach().numpy(), p.detach().numpy(), "parameter")


def _warm(backend_name):
    """Twins (Adam) stepped 3 times on 3 batches: traced and replaying. -> (twins, batches)"""
    twins, batches = _one(backend_name), _batches(backend_name)
    for i in range(3):
        _step_both(twins, *batches[i])
    return twins, batches


def test_a_new_batch_shape_gets_its_own_trace(backend_name):
    twins = _one(backend_name)
    small, big = _batches(backend_name, batch=5), _batches(backend_name, batch=7, seed=1)
    compiled = twins[1][3]
    for i in range(3):
        _step_both(twins, *small[i])
    assert compiled.traces == 1
    for i in range(3):
        _step_both(twins, *big[i])
    assert compiled.traces == 2 and compiled.eager_calls == 2  # one warm-up per shape
    _step_both(twins, *small[0])
    assert compiled.traces == 2 and compiled.replays == 3


def test_clearing_the_optimizer_state_restarts_it_as_in_eager(backend_name):
    twins, batches = _warm(backend_name)
    for _, opt, _, _ in twins:
        opt.state.clear()
    for i in range(3):
        _step_both(twins, *batches[i], seed=20 + i)
    assert twins[1][3].traces == 2


def test_a_new_dtype_retraces_and_matches_eager(backend_name):
    twins, batches = _warm(backend_name)
    for model, opt, _, _ in twins:
        model.float()
        opt.state.clear()  # Adam's moments were float64: start them again, as in eager
    small = [(x.float(), y) for x, y in batches]
    for i in range(3):
        (_, _, _, eager), (_, _, _, compiled) = twins
        edu_nn.manual_seed(i)
        l1 = eager(*small[i])
        edu_nn.manual_seed(i)
        l2 = compiled(*small[i])
        assert l2.dtype == "float32" and abs(l2.item() - l1.item()) <= 1e-6 * abs(l1.item())
    assert twins[1][3].traces == 2


def test_eval_mode_retraces_and_matches_eager(backend_name):
    twins, batches = _warm(backend_name)
    twins[0][0].eval()
    twins[1][0].eval()
    _step_both(twins, *batches[0])  # dropout off: the guard on training fails, retrace
    assert twins[1][3].traces == 2
    _step_both(twins, *batches[1])
    assert twins[1][3].replays == 2


def test_a_changed_branch_on_an_option_retraces(backend_name):
    """weight_decay 0 -> 0.1 takes another Python branch in Adam: a guard, not a constant."""
    twins = _one(backend_name, lambda p: optim.Adam(p, lr=0.01))
    batches = _batches(backend_name)
    for i in range(3):
        _step_both(twins, *batches[i])
    for t in twins:
        t[1].param_groups[0]["weight_decay"] = 0.1
        t[1].param_groups[0]["lr"] = 0.03  # a plain new value: read at the next call
    _step_both(twins, *batches[0])
    assert twins[1][3].traces == 2


def test_an_out_of_range_label_runs_eagerly_and_raises_the_eager_error(backend_name):
    """Cross-entropy's class-range check depends on the input only: it runs on the concrete
    labels before the compiled step; when it disagrees the step runs eagerly, whose error is
    the clear one, and nothing was updated."""
    twins, batches = _warm(backend_name)
    model, _, _, compiled = twins[1]
    before = [p.detach().numpy().copy() for p in model.parameters()]
    with edu_nn.use_backend(backend_name):
        bad = edu_nn.tensor(np.array([0, 1, 7, 1, 0]))
    with pytest.raises((IndexError, ValueError), match="7"):
        compiled(batches[0][0], bad)
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.detach().numpy(), b)


def test_reading_a_computed_value_inside_the_step_is_refused_or_runs_eagerly(backend_name):
    with edu_nn.use_backend(backend_name):
        edu_nn.manual_seed(0)
        model = _mlp().double()
        opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = _batches(backend_name)[0]
    seen = []

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        seen.append(loss.item())  # Python reads a value of the state: not capturable
        loss.backward()
        opt.step()
        return loss
    strict = edu_nn.compile(step)
    strict(x, y)
    with pytest.raises(CompileError, match="item"):
        strict(x, y)
    loose = edu_nn.compile(step, fullgraph=False)
    loose(x, y)
    with pytest.warns(RuntimeWarning, match="runs eagerly"):
        loose(x, y)
    n = len(seen)
    loose(x, y)
    assert len(seen) == n + 1  # eager: the Python code ran


def test_a_scheduler_inside_the_compiled_step_is_refused(backend_name):
    with edu_nn.use_backend(backend_name):
        model = _mlp().double()
        opt = optim.SGD(model.parameters(), lr=0.1)
        sched = S.StepLR(opt, step_size=2)
    x, y = _batches(backend_name)[0]

    @edu_nn.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
        return loss
    step(x, y)
    with pytest.raises(CompileError, match="scheduler.step"):
        step(x, y)


def test_check_true_passes_on_a_correct_step_and_names_a_broken_op(backend_name):
    twins = _one(backend_name)
    twins[1] = twins[1][:3] + (edu_nn.compile(twins[1][3].fn, check=True),)
    batches = _batches(backend_name)
    for i in range(4):
        _step_both(twins, *batches[i % 3])  # traced at 2, checked at 3 and 4
    compiled = twins[1][3]
    assert compiled.replays == 2
    # a deliberately broken replay: the compiled relu is off by a little
    compiled.check = True
    entry = compiled._last
    entry.checked = 0
    b = edu_nn.get_backend(backend_name)
    if "P_relu(" in compiled.code():
        entry.namespace["P_relu"] = lambda v: b.multiply(b.relu(v), 1.0 + 1e-9)
    else:  # NumPy: relu is written out in the replay as np.maximum (compiled_numpy.py)
        assert "MAXIMUM(v0, 0.0)" in compiled.code()
        entry.namespace["MAXIMUM"] = lambda v, z: np.maximum(v, z) * (1.0 + 1e-9)
    with pytest.raises(CompileError, match=r"first op whose compiled output differs[\s\S]*"
                                           r"relu\(v0\)"):
        compiled(*batches[0])


def test_graph_and_code_show_the_static_step(backend_name):
    twins = _one(backend_name)
    batches = _batches(backend_name)
    for i in range(2):
        _step_both(twins, *batches[i])
    compiled = twins[1][3]
    text = str(compiled.graph())
    assert text.startswith(f"static graph on the {backend_name} backend")
    assert "linear(x0, a" in text and "relu_backward(" in text and "addcdiv(" in text
    assert "optimizer state 'step' <- s" in text  # the step count is recomputed, not frozen
    assert "random_bernoulli(k0" in text          # dropout's key is drawn at every call
    assert "def run(" in compiled.code()
    # the picture: one op box per primitive call, the arguments and state reads at level 0
    from edu_nn.viz import draw_graph
    picture = draw_graph(compiled)
    graph = compiled.graph()
    ops = [n for n in picture.nodes if n.kind == "op"]
    assert len(ops) == len(graph.records)
    bottom = {n.id for n in picture.nodes if n.level == 0 and n.kind == "tensor"}
    assert {"x0", "x1"} | set(graph.reads) == bottom
    assert any("optimizer state 'exp_avg'" in line for n in picture.nodes for line in n.lines
               if line.startswith("->"))


def test_compile_forms_and_bad_arguments():
    def f(x):
        return x
    assert isinstance(edu_nn.compile(f), edu_nn.compiled_step.CompiledStep)
    assert isinstance(edu_nn.compile()(f), edu_nn.compiled_step.CompiledStep)
    assert edu_nn.compile(f, disable=True) is f
    with pytest.raises(TypeError, match="expected a function"):
        edu_nn.compile(3)
    with pytest.raises(TypeError, match="unexpected keyword"):
        edu_nn.compile(f, colour="red")
    with pytest.raises(CompileError, match="hashable"):
        edu_nn.compile(f)([1, 2])


def test_keyword_arguments_and_python_values_select_the_trace():
    def scaled(x, *, factor):
        return (x * factor).exp()
    compiled = edu_nn.compile(scaled)
    x = edu_nn.tensor([0.5, -1.0], dtype="float64")
    for factor in (2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 2.0):
        np.testing.assert_array_equal(compiled(x, factor=factor).numpy(),
                                      scaled(x, factor=factor).numpy())
    assert compiled.traces == 2 and compiled.replays == 3


# ------------------------------------------------------------------ fit and the CLI
def test_fit_with_compile_gives_the_eager_history(backend_name, monkeypatch):
    """With gradient clipping: clip_grad_norm_ computes its coefficient with primitives."""
    from edu_nn.train import fit
    from edu_nn.utils.data import DataLoader, TensorDataset
    made = []
    import sys
    fit_mod = sys.modules["edu_nn.train.fit"]
    real = fit_mod._compiled_step
    monkeypatch.setattr(fit_mod, "_compiled_step", lambda *a: made.append(real(*a)) or made[-1])
    rng = np.random.default_rng(3)
    with edu_nn.use_backend(backend_name):
        x = edu_nn.tensor(rng.standard_normal((23, 4)), dtype="float64")  # last batch: 3
        y = edu_nn.tensor(rng.integers(0, 3, 23))
    histories, models = [], []
    for compiled in (False, True):
        with edu_nn.use_backend(backend_name):
            edu_nn.manual_seed(0)
            model = _mlp().double()
            opt = optim.Adam(model.parameters(), lr=0.01)
        loader = DataLoader(TensorDataset(x, y), batch_size=5)
        edu_nn.manual_seed(1)
        with edu_nn.use_backend(backend_name):
            h = fit(model, nn.CrossEntropyLoss(), opt, loader, loader, epochs=4,
                    progress=False, compile=compiled, grad_clip=0.5)
        histories.append(h.history)
        models.append(model)
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        _assert_close(histories[1][key], histories[0][key], key)
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        _assert_close(q.detach().numpy(), p.detach().numpy(), "parameter after fit")
    # 5 batches per epoch (4 of 5 samples, 1 of 3): each shape warmed up, traced, replayed
    assert made and made[0].traces == 2 and made[0].replays == 20 - 4, made


def test_cli_train_compile_gives_the_eager_run(tmp_path):
    import json
    from edu_nn.cli import main
    runs = {}
    for flag in ((), ("--compile",)):
        out = tmp_path / ("c" if flag else "e")
        assert main(["train", "--data", "moons", "--epochs", "3", "--no-plots",
                     "--no-progress", "--out", str(out), *flag]) == 0
        with open(out / "metrics.json") as f:
            runs[bool(flag)] = json.load(f)
    assert runs[True]["config"]["compile"] is True
    assert runs[True]["history"]["train_loss"] == runs[False]["history"]["train_loss"]
    assert runs[True]["test_accuracy"] == runs[False]["test_accuracy"]


def test_data_from_the_enclosing_scope_is_refused(backend_name):
    """A replay reads places, not Python variables: a global rebound to the next batch would
    go unseen, so the trace refuses a Tensor that is not an argument, parameter or buffer."""
    with edu_nn.use_backend(backend_name):
        model = _mlp().double()
        opt = optim.SGD(model.parameters(), lr=0.1)
    batch = {"xy": _batches(backend_name)[0]}

    def step(y):
        opt.zero_grad()
        loss = F.cross_entropy(model(batch["xy"][0]), y)
        loss.backward()
        opt.step()
        return loss
    compiled = edu_nn.compile(step)
    compiled(batch["xy"][1])
    with pytest.raises(CompileError, match="Pass it to the compiled step as an argument"):
        compiled(batch["xy"][1])


def test_arrays_the_user_holds_stay_readable(backend_name):
    """On JAX the optimizer's state buffers are donated to the jit program; what a user can
    hold (state_dict()'s copies, a parameter's array) must stay readable and unchanged."""
    twins, batches = _warm(backend_name)
    model, opt = twins[1][0], twins[1][1]
    saved = opt.state_dict()
    weight = model[0].weight.array
    before = np.array(model[0].weight.detach().numpy())
    moment = saved["state"][0]["exp_avg"].numpy().copy()
    for i in range(3):
        _step_both(twins, *batches[i])
    np.testing.assert_array_equal(np.asarray(edu_nn.get_backend(backend_name).to_numpy(weight)),
                                  before)
    np.testing.assert_array_equal(saved["state"][0]["exp_avg"].numpy(), moment)
    assert not np.array_equal(model[0].weight.detach().numpy(), before)


def test_no_grad_around_the_step_is_part_of_the_signature(backend_name):
    """Traced with gradients on, a step must not replay its backward under no_grad(): there
    the eager step fails (the loss has no graph), and so does the compiled one."""
    twins, batches = _warm(backend_name)
    for _, _, _, step in twins:
        with edu_nn.no_grad(), pytest.raises(RuntimeError):
            step(*batches[0])


def _branching_step(backend_name, after_update):
    with edu_nn.use_backend(backend_name):
        w = nn.Parameter(edu_nn.tensor([0.2, 0.4], dtype="float64"))
        opt = optim.SGD([w], lr=0.1, momentum=0.5 if after_update else 0.0)
        x = edu_nn.tensor([-1.0, -1.0], dtype="float64")  # each step adds 0.1 to w

    def step(x):
        opt.zero_grad()
        loss = (w * x).sum()
        if not after_update and (w > 1.0).any():   # Python reads a value of the state
            loss = loss * 2.0
        loss.backward()
        opt.step()
        if after_update and (w > 1.0).any():       # ... after the update was written
            loss = loss * 2.0
        return loss
    return edu_nn.compile(step), x


def test_a_branch_on_the_state_that_flips_runs_the_step_eagerly(backend_name):
    """A Python branch on a value computed from the state (``if (w > 1).any()``) is a guard
    checked where it happens; when it flips before anything was written, the step runs
    eagerly and gives the eager numbers."""
    compiled, x = _branching_step(backend_name, after_update=False)
    # by hand: loss = -(w0 + w1); w = (0.8, 1.0) at step 7 (not > 1), (0.9, 1.1) at step 8
    eager = [-0.6, -0.8, -1.0, -1.2, -1.4, -1.6, -1.8, -2 * (0.9 + 1.1)]
    assert [compiled(x).item() for _ in range(8)] == pytest.approx(eager, rel=1e-12)
    assert compiled.traces == 1 and compiled.eager_calls == 2


def test_a_branch_after_an_in_place_update_that_flips_is_an_error(backend_name):
    """On NumPy and torch the momentum buffer was already written in place when the branch
    is reached: the replay stops with a CompileError naming the host sync. JAX writes
    nothing before the end of its jit program, so it runs the step eagerly."""
    compiled, x = _branching_step(backend_name, after_update=True)
    if backend_name == "jax":
        for _ in range(8):
            compiled(x)
        assert compiled.eager_calls >= 2
    else:
        with pytest.raises(CompileError, match=r"any returned False"):
            for _ in range(8):
                compiled(x)


def test_adam_over_all_parameters_at_once_matches_eager(backend_name):
    """NumPy: the replay does Adam's elementwise lines once over flat buffers holding every
    parameter's moments (compiled_numpy.AdamBlock). Same numbers as eager over 200 steps,
    also after a step with unequal step counts (the per-parameter fallback) and after
    load_state_dict (the moments are adopted into the flat buffers again)."""
    twins = _twins(backend_name, _mlp, lambda p: optim.Adam(p, lr=0.01))
    batches = _batches(backend_name)
    compiled = _run(backend_name, twins, batches)
    if backend_name == "numpy":
        assert "FG = CONCAT(" in compiled.code()
    (m1, o1, _, eager), (m2, o2, _, _) = twins
    # one parameter's step count differs: its bias corrections differ, the fused line can't
    # be taken (and must not be: the numbers would be the other parameters')
    for opt in (o1, o2):
        first = next(iter(opt.state.values()))
        first["step"] = first["step"] - 7
    # load_state_dict: new moment arrays (the compiled step adopts them again)
    o2.load_state_dict(o1.state_dict())
    m2.load_state_dict(m1.state_dict())
    for i in range(4):
        x, y = batches[i % len(batches)]
        edu_nn.manual_seed(i)
        l1 = eager(x, y)
        edu_nn.manual_seed(i)
        l2 = compiled(x, y)
        _assert_close(l2.item(), l1.item(), f"loss at extra step {i}")
    for (name, p), q in zip(m1.state_dict().items(), m2.state_dict().values()):
        _assert_close(q.numpy(), p.numpy(), f"{name} after the extra steps")
    for s1, s2 in zip(o1.state.values(), o2.state.values()):
        for key in ("exp_avg", "exp_avg_sq"):
            _assert_close(s2[key].numpy(), s1[key].numpy(), key)
