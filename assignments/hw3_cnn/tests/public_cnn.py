"""Public tests of Homework 3 (cnn.py).

References are computed here, in float64, with edu_nn's conv2d, max_pool2d, batch_norm and
EarlyStopping (which follow PyTorch's definitions and edu_nn's documented conventions) on the
backend the grader was asked to use, with random upstream gradients.
"""
import numpy as np

import edu_nn
import edu_nn.nn.functional as F
from edu_nn.grading import graded
from edu_nn.train.callbacks import EarlyStopping as ReferenceEarlyStopping

FILE = "cnn.py"


def as_tensor(sub, x, requires_grad=False):
    if sub.backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    return edu_nn.tensor(np.array(x), dtype=edu_nn.float64, requires_grad=requires_grad,
                         backend=sub.backend)


def numpy_of(t):
    return np.array(edu_nn.to_numpy(t), dtype=np.float64)


def vjp(sub, fn, inputs, grad):
    """[fn(*inputs), gradient of sum(fn(*inputs) * grad) for each input] by edu_nn."""
    leaves = [as_tensor(sub, x, requires_grad=True) for x in inputs]
    out = fn(*leaves)
    out.backward(as_tensor(sub, grad))
    return [numpy_of(out)] + [numpy_of(t.grad) for t in leaves]


def check_conv(sub, rng, x_shape, w_shape, stride, padding, name, forward=True):
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(
        w_shape[0])
    conv = lambda tx, tw, tb: F.conv2d(tx, tw, tb, stride=stride, padding=padding)  # noqa
    out_shape = F.conv2d(as_tensor(sub, x), as_tensor(sub, w), None, stride=stride,
                         padding=padding).shape
    g = rng.standard_normal(tuple(out_shape))
    ref_out, ref_dx, ref_dw, ref_db = vjp(sub, conv, [x, w, b], g)
    got, expected = [], []
    if forward:
        got.append(sub.call(FILE, "conv2d_forward", x, w, b, stride, padding))
        expected.append(ref_out)
    got += list(sub.call(FILE, "conv2d_backward", x, w, g, stride, padding))
    expected += [ref_dx, ref_dw, ref_db]
    what = "[out, grad_x, grad_weight, grad_bias]" if forward else \
        "[grad_x, grad_weight, grad_bias]"
    sub.check_close(got, expected, name=f"{name} {what}", rtol=1e-9, atol=1e-11)


def check_pool(sub, rng, x, kernel_size, stride, name):
    pool = lambda t: F.max_pool2d(t, kernel_size, stride=stride)  # noqa: E731
    out_shape = tuple(pool(as_tensor(sub, x)).shape)
    g = rng.standard_normal(out_shape)
    ref_out, ref_dx = vjp(sub, pool, [x], g)
    got = [sub.call(FILE, "max_pool2d_forward", x, kernel_size, stride),
           sub.call(FILE, "max_pool2d_backward", x, g, kernel_size, stride)]
    sub.check_close(got, [ref_out, ref_dx], name=f"{name} [out, grad_x]", rtol=1e-12)


def reference_batchnorm(sub, x, gamma, beta, mean, var, training, momentum, eps, grad):
    """[out, new_running_mean, new_running_var, grad_x, grad_gamma, grad_beta] by edu_nn."""
    tx, tg, tb = (as_tensor(sub, a, requires_grad=True) for a in (x, gamma, beta))
    rm, rv = as_tensor(sub, mean), as_tensor(sub, var)
    out = F.batch_norm(tx, rm, rv, tg, tb, training=training, momentum=momentum, eps=eps)
    out.backward(as_tensor(sub, grad))
    return [numpy_of(out), numpy_of(rm), numpy_of(rv)] + [numpy_of(t.grad) for t in (tx, tg, tb)]


def check_batchnorm(sub, rng, shape, momentum, eps, name, training=True):
    c = shape[1]
    x = rng.standard_normal(shape) * 2.0 + 0.5
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    mean, var = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    g = rng.standard_normal(shape)
    ref = reference_batchnorm(sub, x, gamma, beta, mean, var, training, momentum, eps, g)
    got = list(sub.call(FILE, "batchnorm_forward", x, gamma, beta, mean, var, training,
                        momentum, eps))
    expected = ref[:3]
    what = "[out, new_running_mean, new_running_var"
    if training:
        got += list(sub.call(FILE, "batchnorm_backward", x, gamma, g, eps))
        expected += ref[3:]
        what += ", grad_x, grad_gamma, grad_beta"
    sub.check_close(got, expected, name=f"{name} {what}]", rtol=1e-9, atol=1e-11)


def check_dropout(sub, rng, shape, p, name):
    x, g = rng.standard_normal(shape), rng.standard_normal(shape)
    mask = (rng.random(shape) >= p).astype(np.float64)
    got = [sub.call(FILE, "dropout_forward", x, p, mask),
           sub.call(FILE, "dropout_backward", g, p, mask)]
    # out = x * mask / (1 - p) is linear in x, so d out / dx = mask / (1 - p)
    scale = lambda t: t * as_tensor(sub, mask / (1.0 - p))  # noqa: E731
    ref_out, ref_dx = vjp(sub, scale, [x], g)
    sub.check_close(got, [ref_out, ref_dx], name=f"{name} [forward, backward]", rtol=1e-12)


class _State:
    """What edu_nn's EarlyStopping callback needs of a training loop."""
    model = None
    stopped = False

    def stop(self, reason):
        self.stopped = True


def reference_early_stopping(values, patience, min_delta, mode):
    ref = ReferenceEarlyStopping(monitor="metric", patience=patience, min_delta=min_delta,
                                 mode=mode, restore_best_weights=False)
    rows = []
    for epoch, value in enumerate(values):
        state = _State()
        ref.on_epoch_end(epoch, {"metric": value}, state)
        rows.append([float(state.stopped), ref.best,
                     -1.0 if ref.best_epoch is None else float(ref.best_epoch), float(ref.wait)])
    return np.array(rows, dtype=np.float64)


def check_early_stopping(sub, values, patience, min_delta, mode):
    got = sub.run("harness.py", "early_stopping_trace", np.array(values, dtype=np.float64),
                  patience, min_delta, mode)
    expected = reference_early_stopping(values, patience, min_delta, mode)
    sub.check_close(got, expected, name=f"EarlyStopping(patience={patience}, min_delta="
                    f"{min_delta}, mode={mode!r}) on {list(values)}: per step [stop, best, "
                    f"best_epoch, num_bad_epochs]", rtol=1e-12)


def reference_small_cnn(sub, x, params, dlogits):
    tx = as_tensor(sub, x.reshape(len(x), 1, 1, -1))
    w1, b1, w2, b2, w3, b3 = (as_tensor(sub, p, requires_grad=True) for p in params)
    h = F.max_pool2d(F.relu(F.conv2d(tx, w1, b1, padding=(0, 2))), (1, 2))
    h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding=(0, 2))), (1, 2))
    logits = F.linear(edu_nn.reshape(h, (len(x), -1)), w3, b3)
    logits.backward(as_tensor(sub, dlogits))
    return [numpy_of(logits)] + [numpy_of(t.grad) for t in (w1, b1, w2, b2, w3, b3)]


def check_small_cnn(sub, rng, n):
    x = rng.standard_normal((n, 40))
    shapes = [(16, 1, 1, 5), (16,), (32, 16, 1, 5), (32,), (10, 320), (10,)]
    params = [rng.standard_normal(s) * (0.3 if len(s) > 1 else 0.1) for s in shapes]
    dlogits = rng.standard_normal((n, 10))
    got = sub.run("harness.py", "small_cnn_forward_backward", x, params, dlogits)
    sub.check_close(got, reference_small_cnn(sub, x, params, dlogits),
                    name=f"SmallCNN [logits, dw1, db1, dw2, db2, dw3, db3] (N={n})",
                    rtol=1e-9, atol=1e-11)


def check_training(sub, data_seed, train_seed, target):
    from edu_nn.data.datasets import make_mnist1d
    data = make_mnist1d(seed=data_seed)
    pred = sub.run("harness.py", "train_and_predict", data["x"], data["y"], data["x_test"],
                   train_seed)
    y_test = data["y_test"]
    sub.check(type(pred) is np.ndarray and pred.shape == y_test.shape,
              f"predict must return an array of shape {y_test.shape}, got "
              f"{type(pred).__name__} {getattr(pred, 'shape', '')}")
    sub.check(np.issubdtype(pred.dtype, np.integer),
              f"predict must return integer class labels, got dtype {pred.dtype}")
    accuracy = float(np.mean(pred == y_test))
    sub.check(accuracy >= target, f"test accuracy {accuracy:.2%} on {len(y_test)} held-out "
                                  f"MNIST-1D signals, below the target {target:.0%}")


# ------------------------------------------------------------------------------ tests
@graded(points=6)
def test_conv2d_forward(sub, rng):
    x, w, b = rng.standard_normal((2, 3, 5, 6)), rng.standard_normal((4, 3, 3, 2)), \
        rng.standard_normal(4)
    got = sub.call(FILE, "conv2d_forward", x, w, b, 1, 1)
    expected = numpy_of(F.conv2d(as_tensor(sub, x), as_tensor(sub, w), as_tensor(sub, b),
                                 padding=1))
    sub.check_close(got, expected, name="conv2d_forward (stride 1, padding 1)", rtol=1e-10,
                    atol=1e-12)


@graded(points=12)
def test_conv2d_backward(sub, rng):
    check_conv(sub, rng, (2, 3, 5, 6), (4, 3, 3, 2), 1, 1, "conv2d (stride 1, padding 1)",
               forward=False)


@graded(points=6)
def test_conv2d_stride_padding(sub, rng):
    check_conv(sub, rng, (2, 2, 7, 6), (3, 2, 3, 3), 2, (1, 0),
               "conv2d (stride 2, padding (1, 0))")


@graded(points=8)
def test_max_pool(sub, rng):
    check_pool(sub, rng, rng.standard_normal((2, 3, 4, 6)), 2, None, "max_pool2d (kernel 2)")


@graded(points=4)
def test_max_pool_ties(sub, rng):
    x = rng.integers(0, 3, (1, 2, 4, 4)).astype(np.float64)    # many ties within windows
    check_pool(sub, rng, x, 2, None, "max_pool2d with ties (the first maximum gets it)")


@graded(points=8)
def test_batchnorm_forward_train(sub, rng):
    check_batchnorm(sub, rng, (6, 4), 0.1, 1e-5, "batchnorm (N, C) = (6, 4), training",
                    training=True)


@graded(points=3)
def test_batchnorm_forward_eval(sub, rng):
    check_batchnorm(sub, rng, (5, 3), 0.1, 1e-5, "batchnorm eval mode", training=False)


@graded(points=12)
def test_batchnorm_backward_4d(sub, rng):
    check_batchnorm(sub, rng, (4, 3, 2, 2), 0.1, 1e-5, "batchnorm (N, C, H, W) = (4, 3, 2, 2)")


@graded(points=5)
def test_dropout(sub, rng):
    check_dropout(sub, rng, (4, 6), 0.5, "dropout p=0.5")


@graded(points=8)
def test_early_stopping(sub, rng):
    check_early_stopping(sub, [1.0, 0.8, 0.85, 0.9, 0.7, 0.75, 0.71, 0.72, 0.6], 3, 0.0, "min")
    check_early_stopping(sub, [0.5, 0.6, 0.605, 0.61, 0.7, 0.69], 2, 0.01, "max")


@graded(points=8)
def test_small_cnn_gradients(sub, rng):
    check_small_cnn(sub, rng, 3)


@graded(points=15, timeout=120)
def test_train_mnist1d(sub, rng):
    check_training(sub, data_seed=42, train_seed=0, target=0.85)


# BEGIN HIDDEN TESTS
@graded(points=5, visibility="after_due_date")
def test_conv2d_other_shapes(sub, rng):
    check_conv(sub, rng, (1, 1, 3, 9), (2, 1, 1, 5), (2, 1), (0, 2),
               "conv2d (N=1, C=1, kernel (1, 5), stride (2, 1), padding (0, 2))")
    check_conv(sub, rng, (3, 4, 2, 3), (5, 4, 1, 1), 1, 0, "conv2d (1x1 kernel)")


@graded(points=4, visibility="after_due_date")
def test_max_pool_overlapping_windows(sub, rng):
    x = rng.integers(0, 4, (2, 1, 5, 5)).astype(np.float64)
    check_pool(sub, rng, x, 3, 1, "max_pool2d (kernel 3, stride 1: overlapping, with ties)")
    check_pool(sub, rng, rng.standard_normal((1, 3, 1, 7)), (1, 2), (1, 2),
               "max_pool2d (kernel (1, 2), odd width 7)")


@graded(points=5, visibility="after_due_date")
def test_batchnorm_other_shapes(sub, rng):
    check_batchnorm(sub, rng, (3, 5, 4), 0.3, 1e-3, "batchnorm (N, C, L) = (3, 5, 4), "
                    "momentum 0.3, eps 1e-3")
    check_batchnorm(sub, rng, (2, 3), 0.1, 1e-5, "batchnorm with N = 2")


@graded(points=2, visibility="after_due_date")
def test_dropout_other_shapes(sub, rng):
    check_dropout(sub, rng, (2, 3, 5), 0.8, "dropout p=0.8 on (2, 3, 5)")


@graded(points=3, visibility="after_due_date")
def test_early_stopping_edge_cases(sub, rng):
    check_early_stopping(sub, [2.0, float("nan"), 2.0, 1.5, 1.5, 3.0], 1, 0.0, "min")
    check_early_stopping(sub, [0.1, 0.3, 0.35, 0.5, 0.52, 0.53, 0.9], 3, 0.05, "max")


@graded(points=6, visibility="after_due_date", timeout=120)
def test_train_mnist1d_other_data(sub, rng):
    # a new MNIST-1D draw on every run, from 63 secret bits (RandomState takes them as two
    # 32-bit words): no submission can regenerate it by trying seeds
    seed = sub.secret_seed()
    check_training(sub, data_seed=[seed >> 32, seed & 0xFFFFFFFF], train_seed=4, target=0.85)
# END HIDDEN TESTS
