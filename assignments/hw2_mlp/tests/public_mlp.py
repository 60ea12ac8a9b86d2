"""Public tests of Homework 2 (mlp.py).

References are computed here, in float64, with edu_nn (its layers, losses and optimizers
match PyTorch's) on the backend the grader was asked to use, with random upstream gradients.
"""
import numpy as np

import edu_nn
import edu_nn.nn.functional as F
from edu_nn.grading import graded
from edu_nn.nn import Parameter
from edu_nn.optim import SGD, Adam

FILE = "mlp.py"


def as_tensor(sub, x, requires_grad=False, dtype=None):
    if sub.backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    return edu_nn.tensor(np.array(x), dtype=dtype or edu_nn.float64,
                         requires_grad=requires_grad, backend=sub.backend)


def numpy_of(t):
    return np.array(edu_nn.to_numpy(t), dtype=np.float64)


def reference_linear(sub, x, w, b, g):
    """[out, grad_x, grad_weight, grad_bias] of F.linear with upstream gradient g."""
    tx, tw, tb = (as_tensor(sub, a, requires_grad=True) for a in (x, w, b))
    out = F.linear(tx, tw, tb)
    out.backward(as_tensor(sub, g))
    return [numpy_of(out)] + [numpy_of(t.grad) for t in (tx, tw, tb)]


def reference_cross_entropy(sub, logits, y):
    """(loss, dloss/dlogits) of F.cross_entropy (mean reduction)."""
    t = as_tensor(sub, logits, requires_grad=True)
    loss = F.cross_entropy(t, as_tensor(sub, y, dtype=edu_nn.int64))
    loss.backward()
    return float(numpy_of(loss)), numpy_of(t.grad)


def check_cross_entropy(sub, logits, y, name):
    got = sub.call(FILE, "softmax_cross_entropy", logits, y)
    sub.check(isinstance(got, (list, tuple)) and len(got) == 2,
              f"{name}: softmax_cross_entropy must return (loss, dlogits), got {type(got)}")
    loss, dlogits = got
    sub.check(isinstance(loss, (int, float, np.floating)) or
              (type(loss) is np.ndarray and loss.shape == ()),
              f"{name}: the loss must be a number (a Python float), got {type(loss).__name__}")
    ref_loss, ref_dlogits = reference_cross_entropy(sub, logits, y)
    sub.check_close([np.array(float(loss)), dlogits], [np.array(ref_loss), ref_dlogits],
                    name=f"{name}: [loss, dlogits]", rtol=1e-9, atol=1e-12)


def reference_optimizer(sub, kind, params, grad_steps, options):
    """The parameters after each step of edu_nn.optim.<kind> (torch's formulas), stacked."""
    tensors = [Parameter(as_tensor(sub, p)) for p in params]
    if kind == "SGD":
        optimizer = SGD(tensors, **options)
    else:
        optimizer = Adam(tensors, **options)
    history = [[] for _ in params]
    for grads in grad_steps:
        for t, g in zip(tensors, grads):
            t.grad = as_tensor(sub, g)
        optimizer.step()
        for record, t in zip(history, tensors):
            record.append(numpy_of(t))
    return [np.stack(record) for record in history]


def check_optimizer(sub, rng, kind, shapes, steps, options, name):
    params = [rng.standard_normal(s) for s in shapes]
    grad_steps = [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]
    got = sub.run("harness.py", "run_optimizer", kind, params, grad_steps, options)
    expected = reference_optimizer(sub, kind, params, grad_steps, options)
    sub.check_close(got, expected, name=f"{name}: parameters after each of {steps} steps",
                    rtol=1e-9, atol=1e-12)


def reference_mlp(sub, x, params, dlogits):
    """[logits, dw1, db1, dw2, db2] of linear -> relu -> linear, by edu_nn's autograd."""
    tx = as_tensor(sub, x)
    tw1, tb1, tw2, tb2 = (as_tensor(sub, p, requires_grad=True) for p in params)
    logits = F.linear(F.relu(F.linear(tx, tw1, tb1)), tw2, tb2)
    logits.backward(as_tensor(sub, dlogits))
    return [numpy_of(logits)] + [numpy_of(t.grad) for t in (tw1, tb1, tw2, tb2)]


def check_mlp(sub, rng, n, d, h, c):
    x = rng.standard_normal((n, d))
    params = [rng.standard_normal((h, d)) / np.sqrt(d), rng.standard_normal(h) * 0.1,
              rng.standard_normal((c, h)) / np.sqrt(h), rng.standard_normal(c) * 0.1]
    dlogits = rng.standard_normal((n, c))
    got = sub.run("harness.py", "mlp_forward_backward", x, params, dlogits)
    sub.check_close(got, reference_mlp(sub, x, params, dlogits),
                    name=f"TwoLayerMLP [logits, dw1, db1, dw2, db2] (N={n}, D={d}, H={h}, "
                         f"C={c})", rtol=1e-9, atol=1e-12)


def digits_split(seed, n_test=450):
    """sklearn's digits (offline), pixels scaled to [0, 1], split at random by ``seed``."""
    from sklearn.datasets import load_digits
    data = load_digits()
    x, y = data.data.astype(np.float64) / 16.0, data.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def check_training(sub, split_seed, train_seed, target):
    x_train, y_train, x_test, y_test = digits_split(split_seed)
    pred = sub.run("harness.py", "train_and_predict", x_train, y_train, x_test, train_seed)
    sub.check(type(pred) is np.ndarray and pred.shape == y_test.shape,
              f"predict must return an array of shape {y_test.shape}, got "
              f"{type(pred).__name__} {getattr(pred, 'shape', '')}")
    sub.check(np.issubdtype(pred.dtype, np.integer),
              f"predict must return integer class labels, got dtype {pred.dtype}")
    accuracy = float(np.mean(pred == y_test))
    sub.check(accuracy >= target, f"test accuracy {accuracy:.2%} on {len(y_test)} held-out "
                                  f"digits, below the target {target:.0%}")


# ------------------------------------------------------------------------------ tests
@graded(points=5)
def test_linear_forward(sub, rng):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((5, 3)), rng.standard_normal(5)
    got = sub.call(FILE, "linear_forward", x, w, b)
    expected = reference_linear(sub, x, w, b, np.zeros((4, 5)))[0]
    sub.check_close(got, expected, name="linear_forward", rtol=1e-12)


@graded(points=10)
def test_linear_backward(sub, rng):
    x, w, g = rng.standard_normal((6, 3)), rng.standard_normal((2, 3)), rng.standard_normal((6, 2))
    got = sub.call(FILE, "linear_backward", x, w, g)
    expected = reference_linear(sub, x, w, np.zeros(2), g)[1:]
    sub.check_close(got, expected, name="linear_backward (grad_x, grad_weight, grad_bias)",
                    rtol=1e-10)


@graded(points=6)
def test_relu_forward_backward(sub, rng):
    x, g = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    x.flat[::5] = 0.0                           # ReLU'(0) = 0
    got = sub.run("checks.py", "call_many", FILE, "relu_forward", [[x]])
    got += sub.run("checks.py", "call_many", FILE, "relu_backward", [[x, g]])
    t = as_tensor(sub, x, requires_grad=True)
    out = F.relu(t)
    out.backward(as_tensor(sub, g))
    sub.check_close(got, [numpy_of(out), numpy_of(t.grad)],
                    name="[relu_forward, relu_backward] (with zeros in x)", rtol=1e-12)


@graded(points=12)
def test_softmax_cross_entropy(sub, rng):
    logits = rng.standard_normal((8, 5)) * 2.0
    check_cross_entropy(sub, logits, rng.integers(0, 5, 8), "softmax_cross_entropy")


@graded(points=6)
def test_softmax_cross_entropy_stable(sub, rng):
    logits = rng.standard_normal((4, 3)) * 1000.0
    check_cross_entropy(sub, logits, rng.integers(0, 3, 4),
                        "softmax_cross_entropy with logits around +-1000")


@graded(points=10)
def test_sgd_momentum(sub, rng):
    check_optimizer(sub, rng, "SGD", [(3, 2), (2,)], 5, {"lr": 0.1, "momentum": 0.9}, "SGD")


@graded(points=12)
def test_adam(sub, rng):
    check_optimizer(sub, rng, "Adam", [(3, 2), (2,)], 5, {"lr": 0.01}, "Adam")


@graded(points=10)
def test_mlp_forward_backward(sub, rng):
    check_mlp(sub, rng, 6, 5, 7, 3)


@graded(points=15, timeout=90)
def test_train_digits(sub, rng):
    check_training(sub, split_seed=0, train_seed=0, target=0.95)


# BEGIN HIDDEN TESTS
@graded(points=4, visibility="after_due_date")
def test_linear_other_shapes(sub, rng):
    cases = [((1, 4), 3), ((9, 7), 2)]
    args = [[rng.standard_normal(xs), rng.standard_normal((out, xs[1])),
             rng.standard_normal((xs[0], out))] for xs, out in cases]
    biases = [rng.standard_normal(w.shape[0]) for _, w, _ in args]
    got = sub.run("checks.py", "call_many", FILE, "linear_forward",
                  [[x, w, b] for (x, w, _), b in zip(args, biases)])
    got += [a for r in sub.run("checks.py", "call_many", FILE, "linear_backward", args)
            for a in r]
    refs = [reference_linear(sub, x, w, b, g) for (x, w, g), b in zip(args, biases)]
    expected = [r[0] for r in refs] + [a for r in refs for a in r[1:]]
    sub.check_close(got, expected, name="linear_forward/backward with batch 1 and (9, 7)",
                    rtol=1e-10, atol=1e-12)


@graded(points=4, visibility="after_due_date")
def test_cross_entropy_other_shapes(sub, rng):
    check_cross_entropy(sub, rng.standard_normal((1, 7)), rng.integers(0, 7, 1),
                        "softmax_cross_entropy with N=1, C=7")
    check_cross_entropy(sub, rng.standard_normal((16, 2)) * 5000.0, rng.integers(0, 2, 16),
                        "softmax_cross_entropy with N=16, C=2, logits around +-5000")


@graded(points=4, visibility="after_due_date")
def test_sgd_weight_decay_and_plain(sub, rng):
    check_optimizer(sub, rng, "SGD", [(4,), (2, 3, 2)], 7,
                    {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1}, "SGD with weight_decay")
    check_optimizer(sub, rng, "SGD", [(3, 1)], 4, {"lr": 0.2}, "SGD without momentum")


@graded(points=4, visibility="after_due_date")
def test_adam_other_hyperparameters(sub, rng):
    check_optimizer(sub, rng, "Adam", [(5, 1), (3,)], 8,
                    {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05},
                    "Adam with betas (0.8, 0.99), eps 1e-6, weight_decay 0.05")


@graded(points=4, visibility="after_due_date")
def test_mlp_other_shapes(sub, rng):
    check_mlp(sub, rng, 1, 9, 4, 6)


@graded(points=6, visibility="after_due_date", timeout=90)
def test_train_digits_other_split(sub, rng):
    # a split drawn anew on every run from 63 secret bits: no submission can know or
    # enumerate which digits are held out
    check_training(sub, split_seed=sub.secret_seed(), train_seed=3, target=0.95)
# END HIDDEN TESTS
