"""edu_nn.optim.lr_scheduler against torch.optim.lr_scheduler.

Schedulers are plain Python on floats, independent of the array backend, so these tests
run them on NumPy-backend optimizers (one test trains with a scheduler on every backend).
Each check builds the same optimizer (two param groups with different learning rates) on
both sides, steps optimizer and scheduler together, and compares ``get_last_lr()``, every
group's lr and, for OneCycleLR, the momentum / beta1 sequence after every step.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import edu_nn  # noqa: E402
import edu_nn.optim as optim  # noqa: E402
from edu_nn.optim import lr_scheduler  # noqa: E402

TOL = dict(rtol=1e-12, atol=1e-15)  # the same float operations: equal up to rounding


def make_pair(opt_name="SGD", lrs=(0.1, 0.03), **options):
    """The same optimizer on two one-parameter groups, in edu_nn and in torch."""
    ours = getattr(optim, opt_name)(
        [{"params": [edu_nn.tensor([1.0, 2.0], requires_grad=True)], "lr": lr} for lr in lrs],
        **options)
    theirs = getattr(torch.optim, opt_name)(
        [{"params": [torch.tensor([1.0, 2.0], requires_grad=True)], "lr": lr} for lr in lrs],
        **options)
    return ours, theirs


def group_values(opt, key):
    """``group[key]`` of every group, flat (betas pairs are spread out)."""
    values = [g[key] for g in opt.param_groups]
    return [x for v in values for x in (v if isinstance(v, tuple) else (v,))]


def run(opt, sched, steps, metrics=None, record=("lr",)):
    """Step the optimizer (params have no grad: nothing moves) and the scheduler."""
    seq = [(list(sched.get_last_lr()), [group_values(opt, k) for k in record])]
    for i in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        seq.append((list(sched.get_last_lr()), [group_values(opt, k) for k in record]))
    return seq


def assert_same_sequence(got, want, what):
    assert len(got) == len(want)
    for step, ((g_last, g_vals), (w_last, w_vals)) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g_last, w_last, **TOL,
                                   err_msg=f"{what}: get_last_lr() differs at step {step}")
        np.testing.assert_allclose(np.concatenate(g_vals), np.concatenate(w_vals), **TOL,
                                   err_msg=f"{what}: group values differ at step {step}")


def compare(sched_name, kwargs, steps=60, opt_name="SGD", opt_options=None, metrics=None,
            record=("lr",)):
    ours, theirs = make_pair(opt_name, **(opt_options or {}))
    if callable(kwargs):  # builds the scheduler: kwargs(module, optimizer)
        ours_s = kwargs(lr_scheduler, ours)
        theirs_s = kwargs(torch.optim.lr_scheduler, theirs)
    else:
        ours_s = getattr(lr_scheduler, sched_name)(ours, **kwargs)
        theirs_s = getattr(torch.optim.lr_scheduler, sched_name)(theirs, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = run(ours, ours_s, steps, metrics, record)
        want = run(theirs, theirs_s, steps, metrics, record)
    assert_same_sequence(got, want, f"{sched_name}({kwargs})")
    return ours_s, theirs_s


CASES = [
    ("StepLR", dict(step_size=7)),
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[5, 12, 12, 30], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.93)),
    ("CosineAnnealingLR", dict(T_max=20)),
    ("CosineAnnealingLR", dict(T_max=15, eta_min=0.005)),  # runs past T_max: back up
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.05, end_factor=0.8, total_iters=25)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=40)),
    ("ConstantLR", dict()),
    ("ConstantLR", dict(factor=0.25, total_iters=10)),
    ("PolynomialLR", dict(total_iters=30, power=2.0)),
    ("PolynomialLR", dict()),
    ("LambdaLR", dict(lr_lambda=lambda epoch: 0.95 ** epoch * (1 + epoch % 3))),
    ("LambdaLR", dict(lr_lambda=[lambda e: 1 / (1 + e), lambda e: min(1.0, (e + 1) / 10)])),
    ("MultiplicativeLR", dict(lr_lambda=lambda epoch: 0.9 if epoch % 2 else 1.01)),
    ("CosineAnnealingWarmRestarts", dict(T_0=10)),
    ("CosineAnnealingWarmRestarts", dict(T_0=4, T_mult=2, eta_min=0.001)),
]


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in
                                                      enumerate(CASES)])
def test_schedule_matches_torch(name, kwargs):
    compare(name, kwargs)


ONE_CYCLE = [
    ("SGD", dict(momentum=0.9), dict(max_lr=0.5, total_steps=60)),
    ("SGD", dict(momentum=0.9), dict(max_lr=[0.5, 0.2], epochs=6, steps_per_epoch=10,
                                     anneal_strategy="linear", pct_start=0.25)),
    ("SGD", dict(momentum=0.9, nesterov=True), dict(max_lr=1.0, total_steps=60,
                                                    three_phase=True, base_momentum=0.8,
                                                    max_momentum=[0.99, 0.9])),
    ("Adam", dict(), dict(max_lr=0.01, total_steps=60, div_factor=10.0,
                          final_div_factor=100.0)),
    ("AdamW", dict(), dict(max_lr=0.01, total_steps=61, three_phase=True,
                           anneal_strategy="linear")),
    ("SGD", dict(), dict(max_lr=0.3, total_steps=60, cycle_momentum=False)),
]


@pytest.mark.parametrize("opt_name, opt_options, kwargs", ONE_CYCLE)
def test_one_cycle_lr_and_momentum_match_torch(opt_name, opt_options, kwargs):
    record = ("lr",) + (("betas",) if opt_name.startswith("Adam") else ("momentum",))
    compare("OneCycleLR", kwargs, steps=kwargs.get("total_steps", 60) - 1, opt_name=opt_name,
            opt_options=opt_options, record=record)


def test_one_cycle_past_total_steps_is_an_error():
    ours, _ = make_pair()
    sched = lr_scheduler.OneCycleLR(ours, max_lr=0.1, total_steps=3, cycle_momentum=False)
    for _ in range(3):
        ours.step()
        sched.step()
    with pytest.raises(ValueError, match="tried to step 4 times, but total_steps is 3"):
        sched.step()


METRICS = np.concatenate([np.linspace(1.0, 0.5, 12), 0.5 + 0.01 * np.sin(np.arange(40)),
                          np.linspace(0.5, 0.2, 10), np.full(30, 0.2)])
PLATEAU = [
    dict(),
    dict(patience=2, factor=0.5),
    dict(patience=3, factor=0.5, cooldown=4, threshold=0.01),
    dict(patience=1, factor=0.3, threshold=0.02, threshold_mode="abs", min_lr=[1e-3, 5e-3]),
    dict(mode="max", patience=2, factor=0.5, min_lr=0.01),
    dict(mode="max", threshold_mode="abs", patience=0, factor=0.9, eps=1e-3),
]


@pytest.mark.parametrize("kwargs", PLATEAU)
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    metrics = -METRICS if kwargs.get("mode") == "max" else METRICS
    ours, theirs = compare("ReduceLROnPlateau", kwargs, steps=len(metrics),
                           metrics=list(metrics))
    assert ours.best == theirs.best and ours.num_bad_epochs == theirs.num_bad_epochs


def test_reduce_lr_on_plateau_accepts_a_tensor_metric():
    ours, _ = make_pair()
    sched = lr_scheduler.ReduceLROnPlateau(ours, patience=0)
    sched.step(edu_nn.tensor(1.0))
    sched.step(edu_nn.tensor(2.0))
    assert sched.get_last_lr() == [0.1 * 0.1, 0.03 * 0.1]


def test_sequential_and_chained_match_torch():
    def sequential(mod, opt):
        warmup = mod.LinearLR(opt, start_factor=0.1, total_iters=5)
        cosine = mod.CosineAnnealingLR(opt, T_max=30, eta_min=1e-4)
        decay = mod.ExponentialLR(opt, gamma=0.9)
        return mod.SequentialLR(opt, schedulers=[warmup, cosine, decay], milestones=[5, 35])
    compare("SequentialLR", sequential, steps=60)

    def chained(mod, opt):
        return mod.ChainedScheduler([mod.ConstantLR(opt, factor=0.5, total_iters=4),
                                     mod.ExponentialLR(opt, gamma=0.95)])
    compare("ChainedScheduler", chained, steps=40)

    # a SequentialLR saved mid-way (nested state dicts) goes on as torch's
    ours, theirs = make_pair()
    want = run(theirs, sequential(torch.optim.lr_scheduler, theirs), 50)
    first = sequential(lr_scheduler, ours)
    got = run(ours, first, 20)
    saved_opt, saved = ours.state_dict(), first.state_dict()
    ours2 = make_pair()[0]
    resumed = sequential(lr_scheduler, ours2)
    ours2.load_state_dict(saved_opt)
    resumed.load_state_dict(saved)
    got += run(ours2, resumed, 30)[1:]
    assert_same_sequence(got, want, "SequentialLR saved after 20 steps")


# ------------------------------------------------------------------ state_dict
ROUND_TRIP = [
    ("StepLR", dict(step_size=4, gamma=0.5)),
    ("CosineAnnealingLR", dict(T_max=25, eta_min=0.001)),
    ("LinearLR", dict(start_factor=0.2, total_iters=20)),
    ("CosineAnnealingWarmRestarts", dict(T_0=5, T_mult=2)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=50)),
    ("ReduceLROnPlateau", dict(patience=2, factor=0.5, cooldown=1)),
]


@pytest.mark.parametrize("name, kwargs", ROUND_TRIP, ids=[n for n, _ in ROUND_TRIP])
@pytest.mark.parametrize("source", ["ours", "torch"])
def test_state_dict_round_trip(name, kwargs, source):
    """Save after 15 steps (our scheduler, or torch's), load into a new optimizer and
    scheduler, go on for 30 more: the whole sequence equals torch's uninterrupted one."""
    metrics = list(METRICS[:45]) if name == "ReduceLROnPlateau" else None
    options = dict(momentum=0.9)
    theirs = make_pair(**options)[1]
    theirs_s = getattr(torch.optim.lr_scheduler, name)(theirs, **kwargs)
    want = run(theirs, theirs_s, 45, metrics, record=("lr", "momentum"))

    first_opt = make_pair(**options)[0 if source == "ours" else 1]
    module = lr_scheduler if source == "ours" else torch.optim.lr_scheduler
    first = getattr(module, name)(first_opt, **kwargs)
    got = run(first_opt, first, 15, metrics, record=("lr", "momentum"))
    saved_opt, saved_sched = first_opt.state_dict(), first.state_dict()

    resumed_opt = make_pair(**options)[0]
    resumed = getattr(lr_scheduler, name)(resumed_opt, **kwargs)  # scheduler first, as torch
    resumed_opt.load_state_dict(saved_opt)
    resumed.load_state_dict(saved_sched)
    got += run(resumed_opt, resumed, 30, None if metrics is None else metrics[15:],
               record=("lr", "momentum"))[1:]
    assert_same_sequence(got, want, f"{name} saved by {source} after 15 steps")


def test_lambda_lr_state_dict_keeps_callable_objects():
    class Decay:
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, epoch):
            return self.rate ** epoch

    ours, _ = make_pair()
    sched = lr_scheduler.LambdaLR(ours, [Decay(0.9), lambda e: 1.0])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"rate": 0.9}, None]
    other = lr_scheduler.LambdaLR(make_pair()[0], [Decay(0.5), lambda e: 1.0])
    other.load_state_dict(state)
    assert other.lr_lambdas[0].rate == 0.9 and "lr_lambdas" in state


# ------------------------------------------------------------ with training
def test_scheduler_with_training_on_every_backend(backend_name):
    """Adam + OneCycleLR (cycling beta1) and SGD + StepLR train the same as in torch."""
    rng = np.random.default_rng(1)
    W0, X, Y = rng.standard_normal((3, 4)), rng.standard_normal((8, 4)), rng.standard_normal((8, 3))
    for opt_name, opt_kw, sched_name, sched_kw in [
            ("Adam", dict(lr=0.01), "OneCycleLR", dict(max_lr=0.05, total_steps=30)),
            ("SGD", dict(lr=0.05, momentum=0.9), "StepLR", dict(step_size=10, gamma=0.3))]:
        W = edu_nn.tensor(W0, dtype="float64", backend=backend_name, requires_grad=True)
        Xe = edu_nn.tensor(X, dtype="float64", backend=backend_name)
        Ye = edu_nn.tensor(Y, dtype="float64", backend=backend_name)
        Wt = torch.tensor(W0, requires_grad=True)
        opt = getattr(optim, opt_name)([W], **opt_kw)
        topt = getattr(torch.optim, opt_name)([Wt], **opt_kw)
        sched = getattr(lr_scheduler, sched_name)(opt, **sched_kw)
        tsched = getattr(torch.optim.lr_scheduler, sched_name)(topt, **sched_kw)
        for step in range(30):
            opt.zero_grad()
            edu_nn.tanh(Xe @ W.T).sub(Ye).pow(2).sum().backward()
            opt.step()
            sched.step()
            topt.zero_grad()
            torch.tanh(torch.tensor(X) @ Wt.T).sub(torch.tensor(Y)).pow(2).sum().backward()
            topt.step()
            tsched.step()
            np.testing.assert_allclose(W.detach().numpy(), Wt.detach().numpy(), rtol=1e-8,
                                       atol=1e-12, err_msg=f"{opt_name} + {sched_name} on "
                                       f"{backend_name}, step {step}")
            assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)


# ----------------------------------------------------------------- behaviour
def test_initial_lr_base_lrs_and_last_epoch():
    ours, _ = make_pair()
    sched = lr_scheduler.StepLR(ours, step_size=2)
    assert sched.last_epoch == 0 and sched.base_lrs == [0.1, 0.03]
    assert [g["initial_lr"] for g in ours.param_groups] == [0.1, 0.03]
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(make_pair()[0], step_size=2, last_epoch=5)


def test_scheduler_step_before_optimizer_step_warns():
    ours, _ = make_pair()
    sched = lr_scheduler.ExponentialLR(ours, gamma=0.9)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    ours2, _ = make_pair()
    sched2 = lr_scheduler.ExponentialLR(ours2, gamma=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours2.step()
        sched2.step()


def test_scheduler_errors():
    ours, _ = make_pair()
    with pytest.raises(TypeError, match="expected an edu_nn.optim optimizer"):
        lr_scheduler.StepLR(make_pair()[1], step_size=3)
    with pytest.raises(ValueError, match="step_size must be a positive int"):
        lr_scheduler.StepLR(ours, step_size=0)
    with pytest.raises(ValueError, match="factor must be < 1.0"):
        lr_scheduler.ReduceLROnPlateau(ours, factor=2.0)
    with pytest.raises(ValueError, match="mode must be 'min'"):
        lr_scheduler.ReduceLROnPlateau(ours, mode="best")
    with pytest.raises(ValueError, match="expected 2 min_lrs"):
        lr_scheduler.ReduceLROnPlateau(ours, min_lr=[0.1])
    with pytest.raises(ValueError, match="total_steps, or epochs AND steps_per_epoch"):
        lr_scheduler.OneCycleLR(ours, max_lr=0.1)
    with pytest.raises(ValueError, match="anneal_strategy must be"):
        lr_scheduler.OneCycleLR(ours, max_lr=0.1, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="momentum or betas"):
        lr_scheduler.OneCycleLR(optim.Adagrad([edu_nn.tensor([1.0], requires_grad=True)]),
                                max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="max_lr must have one value per param group"):
        lr_scheduler.OneCycleLR(ours, max_lr=[0.1, 0.2, 0.3], total_steps=10)
    with pytest.raises(ValueError, match="expected 2 lr_lambdas"):
        lr_scheduler.LambdaLR(ours, [lambda e: 1.0])
    with pytest.raises(ValueError, match="one milestone fewer than schedulers"):
        lr_scheduler.SequentialLR(ours, [lr_scheduler.ConstantLR(ours)], milestones=[3])
    with pytest.raises(ValueError, match="T_max"):
        lr_scheduler.CosineAnnealingLR(ours, T_max=0)


def test_mutated_schedule_is_caught():
    """A cosine schedule with the wrong period must fail the comparison."""
    class WrongCosine(lr_scheduler.CosineAnnealingLR):
        def get_lr(self):
            if self._is_initial:
                return [g["lr"] for g in self.optimizer.param_groups]
            return [self.eta_min + (b - self.eta_min) * (1 + math.cos(
                math.pi * self.last_epoch / (2 * self.T_max))) / 2 for b in self.base_lrs]

    ours, theirs = make_pair()
    got = run(ours, WrongCosine(ours, T_max=20), 20)
    want = run(theirs, torch.optim.lr_scheduler.CosineAnnealingLR(theirs, T_max=20), 20)
    with pytest.raises(AssertionError):
        assert_same_sequence(got, want, "mutant")
