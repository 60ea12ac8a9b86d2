"""Metrics for ``fit`` and ``evaluate``: plain functions of NumPy arrays.

A metric is ``fn(output, target) -> float``, the *mean over the batch's samples*:

    output: (N, C) logits or scores, (N,) / (N, 1) one logit per sample, or (N, ...) values
    target: (N,) integer class labels, or an array shaped like ``output`` (regression,
            one-hot or probability targets)

Because each value is a per-sample mean, ``fit`` averages them over an epoch weighting each
batch by its size, which gives exactly the metric of the whole epoch. Write your own the same
way and pass it (or ``{"name": fn}``) in ``metrics=``; it receives NumPy arrays.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

import numpy as np

__all__ = ["accuracy", "mse", "mae", "METRICS", "resolve_metrics", "infer_mode"]

Metric = Callable[[np.ndarray, np.ndarray], float]


def predicted_classes(output: np.ndarray) -> np.ndarray:
    """Class predictions (N,) from (N, C) scores (argmax), or from one logit per sample
    ((N,) or (N, 1): class 1 when the logit is > 0, the BCEWithLogitsLoss convention)."""
    output = np.asarray(output)
    if output.ndim == 2 and output.shape[1] > 1:
        return output.argmax(axis=1)
    return (output.reshape(len(output)) > 0).astype(np.int64)


def accuracy(output: np.ndarray, target: np.ndarray) -> float:
    """Fraction of samples whose predicted class equals the target class.

    output: (N, C) logits -> argmax; (N,) or (N, 1) logits -> ``logit > 0`` (binary; for a
    model that outputs probabilities use a custom metric with 0.5). target: (N,) labels, or
    (N, C) one-hot / probabilities (compared by argmax).
    """
    output, target = np.asarray(output), np.asarray(target)
    if target.ndim == 2 and target.shape[1] > 1:
        target = target.argmax(axis=1)
    target = target.reshape(len(target))
    if target.dtype.kind == "f" and not np.all(target == np.round(target)):
        raise ValueError("accuracy: the targets are not class labels (they have fractional "
                         "values, as in regression); pass fit(..., metrics=('mse',)) or "
                         "metrics=() for a regression model")
    predicted = predicted_classes(output)
    if predicted.shape != target.shape:
        raise ValueError(f"accuracy: {len(predicted)} predictions but {len(target)} targets "
                         f"(output shape {output.shape}, target shape {target.shape})")
    return float(np.mean(predicted == target))


def _matching(name: str, output: np.ndarray, target: np.ndarray):
    output, target = np.asarray(output, dtype=np.float64), np.asarray(target, np.float64)
    if output.shape != target.shape and output.size == target.size:
        target = target.reshape(output.shape)  # (N,) targets for (N, 1) outputs
    if output.shape != target.shape:
        raise ValueError(f"{name}: output shape {output.shape} and target shape "
                         f"{target.shape} differ; {name} is a regression metric (use "
                         f"'accuracy' for class labels)")
    return output, target


def mse(output: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error, averaged over every element."""
    output, target = _matching("mse", output, target)
    return float(np.mean((output - target) ** 2))


def mae(output: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute error, averaged over every element."""
    output, target = _matching("mae", output, target)
    return float(np.mean(np.abs(output - target)))


METRICS: dict[str, Metric] = {"accuracy": accuracy, "acc": accuracy, "mse": mse, "mae": mae}


def resolve_metrics(metrics) -> dict[str, Metric]:
    """``("accuracy", my_fn)`` or ``{"name": fn}`` -> ``{name: fn}`` (in order)."""
    if metrics is None:
        return {}
    if isinstance(metrics, (str,)) or callable(metrics):
        metrics = (metrics,)
    items: Iterable = metrics.items() if isinstance(metrics, Mapping) else (
        (None, m) for m in metrics)
    out: dict[str, Metric] = {}
    for name, metric in items:
        if isinstance(metric, str):
            if metric not in METRICS:
                raise ValueError(f"unknown metric {metric!r}; the built-in metrics are "
                                 f"{', '.join(sorted(METRICS))}, or pass a function "
                                 f"fn(output, target) -> float of NumPy arrays")
            name = name or ("accuracy" if metric == "acc" else metric)
            metric = METRICS[metric]
        elif callable(metric):
            name = name or getattr(metric, "__name__", None)
            if not name or name == "<lambda>":
                raise ValueError("a metric given as a lambda needs a name: pass "
                                 "metrics={'my_metric': fn}")
        else:
            raise TypeError(f"a metric must be a name ({', '.join(sorted(METRICS))}) or a "
                            f"function fn(output, target) -> float; got {metric!r}")
        if name in ("loss", "lr", "time", "epoch"):
            raise ValueError(f"a metric cannot be called {name!r}: fit uses that name")
        out[name] = metric
    return out


_LOWER_IS_BETTER = ("loss", "mse", "mae", "error", "err", "rmse", "nll", "perplexity")


def infer_mode(name: str) -> str:
    """"min" for losses and errors (names containing loss, mse, mae, error, ...), "max"
    for anything else (accuracy, f1, ...)."""
    lowered = name.lower()
    return "min" if any(word in lowered for word in _LOWER_IS_BETTER) else "max"
