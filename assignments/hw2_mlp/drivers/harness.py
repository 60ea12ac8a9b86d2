"""Trusted harness for Homework 2: runs your classes the way the grader needs and returns
plain arrays. The grader calls these functions (each in a fresh process, next to your mlp.py)
and compares what they return with references computed separately; you can call them too.
"""
import numpy as np

import mlp


def run_optimizer(kind, params, grad_steps, options):
    """Run ``mlp.<kind>`` (kind: "SGD" or "Adam") for len(grad_steps) steps.

    Inputs:
    - params: list of arrays (the initial parameters; the optimizer updates them in place).
    - grad_steps: list over steps of lists of gradients (one per parameter).
    - options: dict of keyword arguments for the optimizer (lr, momentum, betas, ...).

    Returns one array per parameter, of shape (steps, *param.shape): the parameter after
    each step.
    """
    params = [np.array(p, dtype=np.float64) for p in params]
    optimizer = getattr(mlp, kind)(params, **options)
    history = [[] for _ in params]
    for grads in grad_steps:
        optimizer.step([np.array(g, dtype=np.float64) for g in grads])
        for record, p in zip(history, params):
            record.append(p.copy())
    return [np.stack(record) for record in history]


def mlp_forward_backward(x, params, dlogits):
    """[logits, dw1, db1, dw2, db2] of a TwoLayerMLP whose parameters are set to
    params = [w1, b1, w2, b2], on the batch x, with upstream gradient dlogits."""
    w1, b1, w2, b2 = (np.array(p, dtype=np.float64) for p in params)
    model = mlp.TwoLayerMLP(w1.shape[1], w1.shape[0], w2.shape[0])
    model.w1, model.b1, model.w2, model.b2 = w1, b1, w2, b2
    logits = model.forward(x)
    return [logits] + list(model.backward(dlogits))


def train_and_predict(x_train, y_train, x_test, seed):
    """Train with mlp.train_mlp(x_train, y_train, seed=seed); return the predicted classes
    of x_test (the grader keeps the test labels)."""
    model = mlp.train_mlp(x_train, y_train, seed=seed)
    return np.asarray(model.predict(x_test))
