"""Homework 3: convolutional networks from scratch in NumPy, trained on MNIST-1D.

Layouts follow PyTorch (NCHW): images x have shape (N, C, H, W); a convolution's weight has
shape (F, C, KH, KW) (F output channels) and its bias (F,). ``stride``, ``padding`` and
``kernel_size`` are an int (the same for height and width) or a pair (h, w).

Rules: return plain float64 ``np.ndarray`` objects with exactly the documented shapes; never
modify an argument in place; NumPy only (torch, jax, sklearn, edu_nn and mnist1d cannot be
imported when grading).
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pair(value):
    """An int or a pair of ints -> a tuple (h, w). (Given.)"""
    if isinstance(value, (tuple, list)):
        h, w = value
        return int(h), int(w)
    return int(value), int(value)


# ------------------------------------------------------------------------- convolution
def conv2d_forward(x, weight, bias, stride=1, padding=0):
    """2-d convolution (cross-correlation, as in torch.nn.functional.conv2d).

    Inputs:
    - x: array of shape (N, C, H, W)
    - weight: array of shape (F, C, KH, KW)
    - bias: array of shape (F,)
    - stride, padding: int or pair (sh, sw), (ph, pw); padding adds zeros on both sides.

    Returns out of shape (N, F, OH, OW), with OH = (H + 2 ph - KH) // sh + 1 (OW likewise):
        out[n, f, i, j] = bias[f]
                          + sum_{c, a, b} weight[f, c, a, b] * xpad[n, c, i sh + a, j sw + b]

    Hint: a loop over the KH * KW kernel offsets, each a matrix product over channels, is
    fast enough; so is im2col (np.lib.stride_tricks.sliding_window_view) with np.tensordot.
    Avoid Python loops over N, F, OH or OW: training would take hours.
    """
    # BEGIN SOLUTION
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    kh, kw = weight.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    out = np.tensordot(windows, weight, axes=([1, 4, 5], [1, 2, 3]))   # (N, OH, OW, F)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2)) + bias[None, :, None, None]
    # END SOLUTION


def conv2d_backward(x, weight, grad, stride=1, padding=0):
    """Gradients of conv2d_forward.

    Inputs: x (N, C, H, W), weight (F, C, KH, KW), grad = dL/dout (N, F, OH, OW), and the
    stride and padding of the forward call.

    Returns (grad_x, grad_weight, grad_bias) of shapes (N, C, H, W), (F, C, KH, KW), (F,).
    Hint: each output element is a sum of products; each product sends grad back to one
    input element and one weight. With stride > 1 some input rows may receive nothing.
    """
    # BEGIN SOLUTION
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    kh, kw = weight.shape[2:]
    h, w = x.shape[2:]
    oh, ow = grad.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    grad_weight = np.tensordot(grad, windows, axes=([0, 2, 3], [0, 2, 3]))  # (F, C, KH, KW)
    grad_bias = grad.sum(axis=(0, 2, 3))
    grad_xp = np.zeros_like(xp)
    for a in range(kh):
        for b in range(kw):
            contribution = np.tensordot(grad, weight[:, :, a, b], axes=([1], [0]))  # N OH OW C
            grad_xp[:, :, a:a + sh * oh:sh, b:b + sw * ow:sw] += contribution.transpose(0, 3, 1, 2)
    grad_x = grad_xp[:, :, ph:ph + h, pw:pw + w]
    return np.ascontiguousarray(grad_x), grad_weight, grad_bias
    # END SOLUTION


# ------------------------------------------------------------------------- max pooling
def max_pool2d_forward(x, kernel_size, stride=None):
    """Max pooling over windows of kernel_size (no padding), as torch's max_pool2d.

    Inputs: x (N, C, H, W); kernel_size, stride: int or pair; stride None means kernel_size.
    Returns out (N, C, OH, OW), OH = (H - KH) // sh + 1 (OW likewise).
    """
    # BEGIN SOLUTION
    (kh, kw) = pair(kernel_size)
    (sh, sw) = pair(kernel_size if stride is None else stride)
    windows = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    return windows.max(axis=(4, 5))
    # END SOLUTION


def max_pool2d_backward(x, grad, kernel_size, stride=None):
    """Gradient of max_pool2d_forward.

    Inputs: x (N, C, H, W), grad = dL/dout (N, C, OH, OW), kernel_size and stride as in the
    forward call.

    Returns grad_x (N, C, H, W): each window sends its gradient to ONE element, the position
    of its maximum; when several elements tie for the maximum, the FIRST in row-major order
    within the window (what np.argmax returns on the flattened window) gets it. Windows
    overlap when stride < kernel_size: an element that is the maximum of two windows
    receives the sum of both gradients.
    """
    # BEGIN SOLUTION
    (kh, kw) = pair(kernel_size)
    (sh, sw) = pair(kernel_size if stride is None else stride)
    n, c, h, w = x.shape
    oh, ow = grad.shape[2:]
    windows = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    first_max = windows.reshape(n, c, oh, ow, kh * kw).argmax(axis=-1)
    rows = np.arange(oh)[:, None] * sh + first_max // kw
    cols = np.arange(ow)[None, :] * sw + first_max % kw
    plane = np.arange(n * c).reshape(n, c, 1, 1) * (h * w)
    flat = (plane + rows * w + cols).ravel()
    grad_x = np.bincount(flat, weights=grad.ravel(), minlength=x.size)
    return grad_x.reshape(x.shape)
    # END SOLUTION


# ------------------------------------------------------------------------- batch norm
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1,
                      eps=1e-5):
    """Batch normalisation, as torch.nn.functional.batch_norm.

    Inputs:
    - x: (N, C) or (N, C, *spatial) (e.g. (N, C, H, W)); statistics are per channel (axis 1),
      over every other axis.
    - gamma, beta: (C,), the scale and shift.
    - running_mean, running_var: (C,), the running statistics (do not modify them in place).
    - training: True: normalise with the batch mean and the BIASED batch variance, and
      return updated running statistics:
          new_running_mean = (1 - momentum) * running_mean + momentum * batch_mean
          new_running_var  = (1 - momentum) * running_var + momentum * unbiased_batch_var
      (unbiased: divided by m - 1, m = values per channel); False: normalise with the running
      statistics, which are returned unchanged.
    - momentum, eps: floats.

    Returns (out, new_running_mean, new_running_var): out has x's shape,
    out = gamma * (x - mean) / sqrt(var + eps) + beta (gamma, beta broadcast along axis 1).
    """
    # BEGIN SOLUTION
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        m = x.size // x.shape[1]
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        new_mean = (1 - momentum) * running_mean + momentum * mean
        new_var = (1 - momentum) * running_var + momentum * var * m / (m - 1)
    else:
        mean, var = running_mean, running_var
        new_mean, new_var = running_mean.copy(), running_var.copy()
    xhat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * xhat + beta.reshape(shape), new_mean, new_var
    # END SOLUTION


def batchnorm_backward(x, gamma, grad, eps=1e-5):
    """Gradients of batchnorm_forward in training mode (batch statistics).

    Inputs: x (N, C, *spatial) or (N, C), gamma (C,), grad = dL/dout (x's shape), eps.
    Returns (grad_x, grad_gamma, grad_beta) of shapes x.shape, (C,), (C,).
    Hint: the batch mean and variance depend on every x in the channel: grad_x has three
    terms. Simplify on paper first; the result fits in a few lines.
    """
    # BEGIN SOLUTION
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    m = x.size // x.shape[1]
    mean = x.mean(axis=axes).reshape(shape)
    inv_std = 1.0 / np.sqrt(x.var(axis=axes).reshape(shape) + eps)
    xhat = (x - mean) * inv_std
    grad_beta = grad.sum(axis=axes)
    grad_gamma = (grad * xhat).sum(axis=axes)
    dxhat = grad * gamma.reshape(shape)
    grad_x = inv_std / m * (m * dxhat - dxhat.sum(axis=axes, keepdims=True)
                            - xhat * (dxhat * xhat).sum(axis=axes, keepdims=True))
    return grad_x, grad_gamma, grad_beta
    # END SOLUTION


# ----------------------------------------------------------------------------- dropout
def dropout_forward(x, p, mask):
    """Inverted dropout in training mode.

    Inputs: x (any shape); p, the probability of dropping an element (0 <= p < 1); mask, a
    float array of x's shape with 1.0 where the element is kept and 0.0 where it is dropped
    (draw it with (rng.random(x.shape) >= p).astype(float) when training).
    Returns x * mask scaled by 1 / (1 - p), so that the expected value is x (and no scaling
    is needed at test time, when dropout is the identity).
    """
    # BEGIN SOLUTION
    return x * mask / (1.0 - p)
    # END SOLUTION


def dropout_backward(grad, p, mask):
    """Gradient of dropout_forward with the same p and mask. grad: x's shape; returns it."""
    # BEGIN SOLUTION
    return grad * mask / (1.0 - p)
    # END SOLUTION


# ---------------------------------------------------------------------- early stopping
class EarlyStopping:
    """Stop training when a validation metric has not improved for ``patience`` epochs.

    Inputs: patience (int >= 1); min_delta (float >= 0): an epoch improves only when it
    beats the best value so far by MORE than min_delta; mode: "min" (a loss: lower is
    better) or "max" (an accuracy).

    Call ``step(value)`` once per epoch, with that epoch's metric; it returns True when
    training should stop: the last ``patience`` epochs in a row did not improve. Attributes
    kept up to date:
    - best: the best value so far (starts at +inf for "min", -inf for "max");
    - best_epoch: the index (0, 1, ...) of the step call that gave ``best`` (None before);
    - num_bad_epochs: epochs in a row without improvement.
    A nan value never improves.
    """

    def __init__(self, patience, min_delta=0.0, mode="min"):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.min_delta, self.mode = patience, min_delta, mode
        # The state: best, best_epoch, num_bad_epochs (and a count of the step calls).
        # BEGIN SOLUTION
        self.best = np.inf if mode == "min" else -np.inf
        self.best_epoch = None
        self.num_bad_epochs = 0
        self.epoch = 0
        # END SOLUTION

    def step(self, value):
        """Record one epoch's metric; return True when training should stop."""
        # BEGIN SOLUTION
        value = float(value)
        if self.mode == "min":
            improved = value < self.best - self.min_delta
        else:
            improved = value > self.best + self.min_delta
        if improved:
            self.best, self.best_epoch, self.num_bad_epochs = value, self.epoch, 0
        else:
            self.num_bad_epochs += 1
        self.epoch += 1
        return self.num_bad_epochs >= self.patience
        # END SOLUTION


# ------------------------------------------------------------- given: loss and optimizer
def softmax_cross_entropy(logits, y):
    """(mean loss, dloss/dlogits) for logits (N, C) and int labels y (N,). (Given, from
    Homework 2.)"""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(y)
    probs = np.exp(log_probs)
    probs[np.arange(n), y] -= 1.0
    return float(-log_probs[np.arange(n), y].mean()), probs / n


class Adam:
    """torch.optim.Adam on a list of arrays, updated in place. (Given, from Homework 2.)"""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = list(params), lr, betas, eps, 0
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]

    def step(self, grads):
        (b1, b2), self.t = self.betas, self.t + 1
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= self.lr / (1 - b1 ** self.t) * m / (np.sqrt(v / (1 - b2 ** self.t)) + self.eps)


# ----------------------------------------------------------------------------- the model
class SmallCNN:
    """A CNN for MNIST-1D signals (length 40), seen as 1 x 40 images with one channel:

        x (N, 40) -> reshape (N, 1, 1, 40)
        -> conv 1->16, kernel (1, 5), padding (0, 2) -> ReLU -> max-pool (1, 2)  -> (N, 16, 1, 20)
        -> conv 16->32, kernel (1, 5), padding (0, 2) -> ReLU -> max-pool (1, 2) -> (N, 32, 1, 10)
        -> flatten (N, 320) -> linear 320->10 -> logits (N, 10)

    Parameters (attributes): w1 (16, 1, 1, 5), b1 (16,), w2 (32, 16, 1, 5), b2 (32,),
    w3 (10, 320) and b3 (10,) (torch's Linear layout: logits = h @ w3.T + b3).
    Keep this architecture and these names: the grader sets the parameters and checks
    forward and backward. To experiment (BatchNorm, Dropout, more channels), write another
    class; train_cnn may return any object with a ``predict(x)`` method.
    """

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        he = lambda shape, fan_in: rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)  # noqa
        self.w1, self.b1 = he((16, 1, 1, 5), 5), np.zeros(16)
        self.w2, self.b2 = he((32, 16, 1, 5), 80), np.zeros(32)
        self.w3, self.b3 = rng.standard_normal((10, 320)) * np.sqrt(1.0 / 320), np.zeros(10)

    def parameters(self):
        return [self.w1, self.b1, self.w2, self.b2, self.w3, self.b3]

    def forward(self, x):
        """x: (N, 40) -> logits (N, 10); keeps what backward needs."""
        # BEGIN SOLUTION
        x = x.reshape(len(x), 1, 1, -1)
        z1 = conv2d_forward(x, self.w1, self.b1, padding=(0, 2))
        r1 = np.maximum(z1, 0.0)
        p1 = max_pool2d_forward(r1, (1, 2))
        z2 = conv2d_forward(p1, self.w2, self.b2, padding=(0, 2))
        r2 = np.maximum(z2, 0.0)
        p2 = max_pool2d_forward(r2, (1, 2))
        flat = p2.reshape(len(x), -1)
        self.cache = (x, z1, r1, p1, z2, r2, p2.shape, flat)
        return flat @ self.w3.T + self.b3
        # END SOLUTION

    def backward(self, dlogits):
        """dlogits (N, 10) -> gradients in the order of parameters()."""
        # BEGIN SOLUTION
        x, z1, r1, p1, z2, r2, p2_shape, flat = self.cache
        dw3, db3 = dlogits.T @ flat, dlogits.sum(axis=0)
        dp2 = (dlogits @ self.w3).reshape(p2_shape)
        dz2 = max_pool2d_backward(r2, dp2, (1, 2)) * (z2 > 0)
        dp1, dw2, db2 = conv2d_backward(p1, self.w2, dz2, padding=(0, 2))
        dz1 = max_pool2d_backward(r1, dp1, (1, 2)) * (z1 > 0)
        _, dw1, db1 = conv2d_backward(x, self.w1, dz1, padding=(0, 2))
        return [dw1, db1, dw2, db2, dw3, db3]
        # END SOLUTION

    def predict(self, x):
        """Predicted classes (N,) int64 for signals x (N, 40), in batches."""
        return np.concatenate([np.argmax(self.forward(x[i:i + 500]), axis=1)
                               for i in range(0, len(x), 500)]).astype(np.int64)


def train_cnn(x_train, y_train, seed=0):
    """Train a SmallCNN on MNIST-1D and return it.

    Inputs: x_train (N, 40) float64 signals, y_train (N,) int64 labels 0..9, and a seed for
    the initialisation and shuffling.

    The grader trains on 4000 signals and measures ``predict``'s accuracy on 1000 held-out
    ones: reach the target in the README within the time limit (one CPU core). Suggestion:
    Adam (lr 1e-2 then lower), minibatches of 64, a few epochs; hold out part of x_train for
    validation and use your EarlyStopping on the validation loss if you train longer.
    """
    # BEGIN SOLUTION
    shuffler = np.random.default_rng(seed)
    model = SmallCNN(seed)
    optimizer = Adam(model.parameters(), lr=1e-2)
    n, batch = len(x_train), 64
    for epoch in range(12):
        optimizer.lr = 1e-2 if epoch < 6 else (3e-3 if epoch < 10 else 1e-3)
        order = shuffler.permutation(n)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            _, dlogits = softmax_cross_entropy(model.forward(x_train[idx]), y_train[idx])
            optimizer.step(model.backward(dlogits))
    return model
    # END SOLUTION
