"""Tests of Homework 4 (the notebook hw4.ipynb, graded as the module hw4.py).

Test names start with their question (``q1_...``): ``grader.check("q1")`` in the notebook runs
the public tests of q1. References are computed here, in float64, with edu_nn's optimizers and
initialisers on the backend the grader was asked to use (``sub.backend``), from the test's own
copies of the inputs; dropout, L2 and early stopping from their definitions.
"""
import numpy as np

import edu_nn
import edu_nn.nn.init as init
from edu_nn.grading import graded
from edu_nn.nn import Parameter
from edu_nn.optim import SGD, Adam, RMSprop

FILE = "hw4.py"


def as_tensor(sub, x, requires_grad=False):
    if sub.backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    return edu_nn.tensor(np.array(x, dtype=np.float64), dtype=edu_nn.float64,
                         requires_grad=requires_grad, backend=sub.backend)


def numpy_of(t):
    return np.array(edu_nn.to_numpy(t), dtype=np.float64)


def reference_steps(sub, make_optimizer, param, grads):
    """The parameter after each step of an edu_nn optimizer fed the gradients ``grads``."""
    p = Parameter(as_tensor(sub, param))
    opt = make_optimizer([p])
    out = []
    for g in grads:
        p.grad = as_tensor(sub, g)
        opt.step()
        out.append(numpy_of(p))
    return np.stack(out)


def problem(rng, steps=5, shape=(3, 4)):
    return rng.standard_normal(shape), rng.standard_normal((steps, *shape))


@graded(points=10)
def q1_sgd_momentum(sub, rng):
    param, grads = problem(rng)
    got = sub.call(FILE, "sgd_momentum", param, grads, 0.1, 0.9)
    want = reference_steps(sub, lambda ps: SGD(ps, lr=0.1, momentum=0.9), param, grads)
    sub.check_close(got, want, name="sgd_momentum", rtol=1e-10, atol=1e-12)


@graded(points=10)
def q1_sgd_nesterov(sub, rng):
    param, grads = problem(rng)
    got = sub.call(FILE, "sgd_momentum", param, grads, 0.05, 0.8, nesterov=True)
    want = reference_steps(sub, lambda ps: SGD(ps, lr=0.05, momentum=0.8, nesterov=True),
                           param, grads)
    sub.check_close(got, want, name="sgd_momentum (nesterov)", rtol=1e-10, atol=1e-12)


@graded(points=10)
def q2_rmsprop(sub, rng):
    param, grads = problem(rng)
    got = sub.call(FILE, "rmsprop", param, grads, 0.01, alpha=0.9, eps=1e-8)
    want = reference_steps(sub, lambda ps: RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-8),
                           param, grads)
    sub.check_close(got, want, name="rmsprop", rtol=1e-10, atol=1e-12)


@graded(points=10)
def q3_adam(sub, rng):
    param, grads = problem(rng)
    got = sub.call(FILE, "adam", param, grads, 0.01)
    want = reference_steps(sub, lambda ps: Adam(ps, lr=0.01), param, grads)
    sub.check_close(got, want, name="adam", rtol=1e-10, atol=1e-12)


def draws(seed, shape, kind):
    """The U(0, 1) or N(0, 1) draws edu_nn's initialisers make from Generator(seed)."""
    key = edu_nn.Generator(seed).next_key()
    rng = np.random.default_rng(key.entropy())
    return rng.random(shape) if kind == "uniform" else rng.standard_normal(shape)


def reference_init(sub, fill, seed, shape):
    w = Parameter(as_tensor(sub, np.zeros(shape)))
    fill(w, edu_nn.Generator(seed))
    return numpy_of(w)


@graded(points=7)
def q4_xavier_uniform(sub, rng):
    seed, shape = int(rng.integers(2 ** 31)), (6, 9)
    u = draws(seed, shape, "uniform")
    got = sub.call(FILE, "xavier_uniform", u, 1.7)
    want = reference_init(sub, lambda w, g: init.xavier_uniform_(w, gain=1.7, generator=g),
                          seed, shape)
    sub.check_close(got, want, name="xavier_uniform", rtol=1e-10, atol=1e-12)


@graded(points=8)
def q4_kaiming_normal(sub, rng):
    seed, shape = int(rng.integers(2 ** 31)), (5, 12)
    z = draws(seed, shape, "normal")
    got = sub.call(FILE, "kaiming_normal", z, 0.2)
    want = reference_init(sub, lambda w, g: init.kaiming_normal_(
        w, a=0.2, mode="fan_in", nonlinearity="leaky_relu", generator=g), seed, shape)
    sub.check_close(got, want, name="kaiming_normal", rtol=1e-10, atol=1e-12)


@graded(points=10)
def q5_l2_skips_biases(sub, rng):
    params = {"fc1.weight": rng.standard_normal((4, 3)), "fc1.bias": rng.standard_normal(4),
              "fc2.weight": rng.standard_normal((2, 4)), "fc2.bias": rng.standard_normal(2)}
    wd = 0.03
    got = sub.call(FILE, "l2_penalty", params, wd)
    # the reference: edu_nn's autograd of the penalty over the weights only
    tensors = {n: as_tensor(sub, a, requires_grad=True) for n, a in params.items()}
    penalty = sum(((t * t).sum() for n, t in tensors.items() if not n.endswith("bias")),
                  as_tensor(sub, 0.0)) * (wd / 2)
    penalty.backward()
    grads = {n: numpy_of(t.grad) if t.grad is not None else np.zeros_like(params[n])
             for n, t in tensors.items()}
    sub.check(isinstance(got, (tuple, list)) and len(got) == 2,
              "l2_penalty must return (penalty, grads)")
    sub.check(isinstance(got[1], dict) and sorted(got[1]) == sorted(params),
              f"grads must be a dict with the keys {sorted(params)}")
    sub.check_close(float(got[0]), float(numpy_of(penalty)), name="l2 penalty", rtol=1e-10)
    sub.check_close([got[1][n] for n in sorted(params)], [grads[n] for n in sorted(params)],
                    name="l2 grads", rtol=1e-10, atol=1e-14)


@graded(points=6)
def q6_dropout_train(sub, rng):
    x, u, p = rng.standard_normal((4, 7)), rng.random((4, 7)), 0.3
    got = sub.call(FILE, "dropout", x, p, u, True)
    sub.check_close(got, np.where(u >= p, x / (1 - p), 0.0), name="dropout (train)",
                    rtol=1e-12)


@graded(points=4)
def q6_dropout_eval(sub, rng):
    x, u = rng.standard_normal((3, 5)), rng.random((3, 5))
    got = sub.call(FILE, "dropout", x, 0.5, u, False)
    sub.check_close(got, x, name="dropout (eval)", rtol=0, atol=0)


def reference_early_stopping(losses, patience, min_delta):
    """Written differently from the notebook's: by the index of the last improvement."""
    improved = [0]                 # epochs that improve on the best so far by > min_delta
    for epoch in range(1, len(losses)):
        if losses[epoch] < losses[improved[-1]] - min_delta:
            improved.append(epoch)
        elif epoch - improved[-1] >= patience:
            return epoch, improved[-1]
    return len(losses) - 1, improved[-1]


@graded(points=10)
def q7_early_stopping(sub, rng):
    cases = [([1.0, 0.8, 0.7, 0.71, 0.72, 0.69, 0.9, 0.95, 0.96], 2, 0.0),
             ([1.0, 0.99, 0.985, 0.97, 0.969, 0.968], 2, 0.005),
             (list(np.round(1 / np.arange(1, 9), 4)), 3, 0.0)]
    for losses, patience, delta in cases:
        got = sub.call(FILE, "early_stopping", losses, patience, delta)
        want = reference_early_stopping(losses, patience, delta)
        sub.check(list(got) == list(want) if isinstance(got, (tuple, list)) else False,
                  f"early_stopping({losses}, patience={patience}, min_delta={delta}) "
                  f"returned {got!r}; expected (stop_epoch, best_epoch) = {want}")


# BEGIN HIDDEN TESTS
@graded(points=5, visibility="after_due_date")
def q3_adam_other_betas(sub, rng):
    param, grads = problem(rng, steps=7, shape=(2, 5))
    got = sub.call(FILE, "adam", param, grads, 0.003, betas=(0.8, 0.99), eps=1e-6)
    want = reference_steps(sub, lambda ps: Adam(ps, lr=0.003, betas=(0.8, 0.99), eps=1e-6),
                           param, grads)
    sub.check_close(got, want, name="adam (other betas)", rtol=1e-10, atol=1e-12)
# END HIDDEN TESTS
