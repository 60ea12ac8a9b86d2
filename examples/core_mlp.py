"""An MLP written with nothing but edu_nn's core ops: the main job until `edu-nn train` exists.

    logits = linear(relu(linear(x, W1, b1)), W2, b2)    x: (N, D), W1: (H, D), W2: (C, H)
    loss   = cross_entropy(logits, y)  = mean over the batch of -log_softmax(logits)[y]

``linear(x, W, b) = x @ W.T + b`` uses torch's weight layout (out_features, in_features).
The update is plain SGD: p <- p - lr * dL/dp. Weights are drawn in NumPy (uniform
+-1/sqrt(fan_in), torch's nn.Linear default) and then converted, so every backend starts
from identical weights.
"""
from __future__ import annotations

import numpy as np

import edu_nn
import edu_nn.nn.functional as F


def init_mlp(sizes, seed=0, dtype="float32", backend=None, device=None):
    """[W1, b1, W2, b2, ...] for layer sizes like (64, 64, 10); W: (fan_out, fan_in),
    on ``device`` (e.g. "cuda" with the torch backend; default: the CPU)."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        for shape in ((fan_out, fan_in), (fan_out,)):
            params.append(edu_nn.tensor(rng.uniform(-bound, bound, size=shape), dtype=dtype,
                                        requires_grad=True, backend=backend, device=device))
    return params


def mlp_forward(params, x):
    """x: (N, D) -> logits (N, C); ReLU between layers."""
    h = x
    for i in range(0, len(params), 2):
        h = F.linear(h, params[i], params[i + 1])
        if i + 2 < len(params):
            h = edu_nn.relu(h)
    return h


def sgd_step(params, lr):
    """p <- p - lr * p.grad for every parameter, then clear the gradients.

    The update is not part of the model, so it works on the arrays directly (no graph, no
    per-op dispatch); tensors are immutable, so each parameter is rebound to a new array.
    """
    for p in params:
        p.array = p.backend.add_scaled(p.array, p.grad.array, -lr)
        p.grad = None


def accuracy(params, x, y) -> float:
    with edu_nn.no_grad():
        pred = mlp_forward(params, x).argmax(dim=1).numpy()
    return float((pred == y).mean())


def load_digits_split(seed=0, test_fraction=0.2):
    """sklearn's 8x8 digits (shipped with scikit-learn, no download): x in [0, 1], 64 features."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    data = load_digits()
    x = (data.data / 16.0).astype(np.float64)
    return train_test_split(x, data.target, test_size=test_fraction, random_state=seed,
                            stratify=data.target)


def train_digits(epochs=30, batch_size=32, lr=0.1, hidden=64, seed=0, dtype="float32",
                 backend=None, log=None):
    """Train a 64-hidden-10 MLP on digits with minibatch SGD; returns (params, test accuracy)."""
    x_train, x_test, y_train, y_test = load_digits_split(seed)
    params = init_mlp((64, hidden, 10), seed=seed, dtype=dtype, backend=backend)
    to = lambda a: edu_nn.tensor(a, dtype=dtype, backend=backend)  # noqa: E731
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        order = rng.permutation(len(x_train))
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            target = edu_nn.tensor(y_train[idx], backend=backend)
            loss = F.cross_entropy(mlp_forward(params, to(x_train[idx])), target)
            loss.backward()
            sgd_step(params, lr)
            total += loss.item() * len(idx)
        if log:
            log(f"epoch {epoch + 1:3d}  train loss {total / len(order):.4f}")
    return params, accuracy(params, to(x_test), y_test)
