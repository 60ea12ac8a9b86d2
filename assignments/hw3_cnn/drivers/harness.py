"""Trusted harness for Homework 3: runs your code the way the grader needs and returns
plain arrays. The grader calls these functions (each in a fresh process, next to your cnn.py)
and compares what they return with references computed separately; you can call them too.
"""
import numpy as np

import cnn


def early_stopping_trace(values, patience, min_delta, mode):
    """Feed ``values`` to one cnn.EarlyStopping, one step per value (even after it says
    stop). Returns an array (len(values), 4) of float64: per step
    [returned stop flag (1.0/0.0), best, best_epoch (-1 for None), num_bad_epochs]."""
    stopper = cnn.EarlyStopping(patience, min_delta=min_delta, mode=mode)
    rows = []
    for value in values:
        stop = stopper.step(value)
        if not isinstance(stop, (bool, np.bool_)):
            raise TypeError(f"EarlyStopping.step must return True or False, got {stop!r}")
        best_epoch = -1 if stopper.best_epoch is None else stopper.best_epoch
        rows.append([float(stop), float(stopper.best), float(best_epoch),
                     float(stopper.num_bad_epochs)])
    return np.array(rows, dtype=np.float64)


def small_cnn_forward_backward(x, params, dlogits):
    """[logits, *gradients] of a SmallCNN whose parameters are set to params
    = [w1, b1, w2, b2, w3, b3], on signals x (N, 40), with upstream gradient dlogits."""
    model = cnn.SmallCNN()
    (model.w1, model.b1, model.w2, model.b2, model.w3, model.b3) = (
        np.array(p, dtype=np.float64) for p in params)
    logits = model.forward(x)
    return [logits] + list(model.backward(dlogits))


def train_and_predict(x_train, y_train, x_test, seed):
    """Train with cnn.train_cnn(x_train, y_train, seed=seed); return the predicted classes of
    x_test (the grader keeps the test labels)."""
    model = cnn.train_cnn(x_train, y_train, seed=seed)
    return np.asarray(model.predict(x_test))
